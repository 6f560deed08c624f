"""Text checks: every bad case decided with its reason, content normalised before keys."""

import dataclasses
import hashlib
import os
import unicodedata

import pytest

import pipeline_config
from components.text_example_gen import text_checks
from tests import text_factory

OPTIONS = text_checks.TextIngest().parse_options(
    pipeline_config.IngestConfig(), {"max_chars": 1000})


def inspect(path, options=OPTIONS):
  record = text_checks.TextRecord(path=os.path.basename(path), source=path)
  return text_checks.inspect_file(record, options)


@pytest.mark.parametrize("name", sorted(text_factory.CASES))
def test_every_case_gets_its_outcome_and_reason(tmp_path, name):
  text_factory.write_cases(str(tmp_path))
  data, outcome, reason = text_factory.CASES[name]
  record = inspect(str(tmp_path / name))
  assert record.outcome == outcome, record.reason
  assert record.reason.startswith(reason) if outcome == "rejected" else reason in record.reason
  if outcome in ("ingested", "normalised"):
    text = record.encoded.decode("utf-8")
    assert unicodedata.is_normalized("NFC", text)
    assert record.sha256 == hashlib.sha256(record.encoded).hexdigest()
    assert record.chars == len(text) and record.tokens == len(text.split())
  if outcome == "ingested":
    assert record.encoded == data


def test_fallback_encoding_decodes_legacy_files(tmp_path):
  text_factory.write_cases(str(tmp_path))
  options = OPTIONS._replace(fallback_encoding="cp1252")
  record = inspect(str(tmp_path / "latin1.txt"), options)
  assert record.outcome == "normalised" and "decoded as cp1252" in record.reason
  assert record.encoded.decode("utf-8") == "Price \u00a3100 for the caf\u00e9 dinner."
  assert record.encoding == "cp1252"


def test_undecodable_in_the_fallback_too_is_rejected(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"caf\xe9 \x81")           # 0x81 is undefined in cp1252
  record = inspect(str(path), OPTIONS._replace(fallback_encoding="cp1252"))
  assert record.outcome == "rejected" and "not cp1252 either" in record.reason


def test_too_long_can_be_rejected_instead(tmp_path):
  text_factory.write_cases(str(tmp_path))
  record = inspect(str(tmp_path / "long.txt"), OPTIONS._replace(on_too_long="reject"))
  assert record.outcome == "rejected" and record.reason.startswith("too_long: 2000")


def test_same_text_in_other_encodings_has_one_key(tmp_path):
  text = "Same words, other bytes: café."
  (tmp_path / "a.txt").write_bytes(text.encode("utf-8"))
  (tmp_path / "b.txt").write_bytes(text.encode("utf-16"))   # with BOM
  (tmp_path / "c.txt").write_bytes(
      unicodedata.normalize("NFD", text).encode("utf-8"))
  keys = {inspect(str(tmp_path / n)).sha256 for n in ("a.txt", "b.txt", "c.txt")}
  assert len(keys) == 1


def test_config_is_validated():
  with pytest.raises(pipeline_config.ToolkitError, match="Unknown fallback_encoding"):
    pipeline_config.TextIngestConfig(fallback_encoding="no-such-codec").validate()
  with pytest.raises(pipeline_config.ToolkitError, match="on_too_long"):
    dataclasses.replace(pipeline_config.TextIngestConfig(), on_too_long="cut").validate()


def test_fallback_must_be_a_text_encoding():
  with pytest.raises(pipeline_config.ToolkitError, match="text encoding"):
    pipeline_config.TextIngestConfig(fallback_encoding="hex").validate()


def test_truncation_that_leaves_only_whitespace_is_empty_text(tmp_path):
  path = tmp_path / "indented.txt"
  path.write_text(" " * 20 + "hello world", encoding="utf-8")
  record = inspect(str(path), OPTIONS._replace(max_chars=10))
  assert record.outcome == "rejected" and record.reason.startswith("empty_text")
