"""TextExampleGen: the real executor on a folder mixing good documents with every bad case."""

import os
import shutil

import pipeline_config
from components.ingest import report as ingest_report
from components.ingest import records
from components.text_example_gen import executor as text_executor
from tests import text_factory
from tests.example_gen_helpers import read_examples, run_executor

TEXT = pipeline_config.TextIngestConfig(max_chars=1000)


def ingest(root, out, text=TEXT):
  return run_executor(root, out, executor_class=text_executor.Executor, task_config=text)


def test_bad_cases_reconcile_and_good_documents_are_examples(tmp_path):
  root = str(tmp_path / "data")
  text_factory.class_folder_corpus(root, per_class=10)
  text_factory.write_cases(os.path.join(root, "tech", "cases"))
  # A hidden file, an exact copy and a copy filed under another class.
  with open(os.path.join(root, "sport", ".hidden.txt"), "w") as f:
    f.write("never read")
  shutil.copy(os.path.join(root, "food", "000.txt"), os.path.join(root, "food", "copy.txt"))
  shutil.copy(os.path.join(root, "food", "001.txt"), os.path.join(root, "sport", "moved.txt"))
  examples, report_artifact = ingest(root, str(tmp_path / "out"))

  report = ingest_report.read_report(report_artifact.uri)
  files = {r["path"]: r for r in report["files"]}
  for name, (_, outcome, reason) in text_factory.CASES.items():
    row = files[f"tech/cases/{name}"]
    assert row["outcome"] == outcome, (name, row)
    assert reason in row["reason"], (name, row)
  assert files["sport/.hidden.txt"]["reason"] == "hidden_file"
  assert files["food/copy.txt"]["reason"] == "duplicate_of: food/000.txt"
  assert files["sport/moved.txt"]["reason"].startswith("label_conflict")
  assert files["food/001.txt"]["reason"].startswith("label_conflict")

  totals = report["totals"]
  assert totals["found"] == 30 + len(text_factory.CASES) + 3 == len(report["files"])
  assert totals["found"] == sum(totals[o] for o in records.OUTCOMES)
  kept = totals["ingested"] + totals["normalised"]
  rows = [r for s in pipeline_config.SPLITS for r in read_examples(examples.uri, s)]
  assert len(rows) == kept == sum(report["per_split"].values())
  for row in rows:
    assert set(row) == {"text", "label", "label_name", "sha256"}
    assert ["food", "sport", "tech"][row["label"]] == row["label_name"].decode()
    row["text"].decode("utf-8")                   # stored as UTF-8
  texts = {r["text"].decode() for r in rows}
  assert "Little endian sixteen." in texts and "Caf\u00e9 menu: soup bread cheese." in texts
  assert report["profile"]["distributions"]["encoding"]["utf-16-le"] > 0
  assert report["profile"]["medians"]["tokens"] > 0


def test_fallback_encoding_reaches_the_executor(tmp_path):
  root = str(tmp_path / "data")
  text_factory.class_folder_corpus(root, per_class=3)
  text_factory.write_cases(os.path.join(root, "tech", "cases"))
  _, report_artifact = ingest(root, str(tmp_path / "out"),
                              pipeline_config.TextIngestConfig(fallback_encoding="cp1252"))
  files = {r["path"]: r for r in ingest_report.read_report(report_artifact.uri)["files"]}
  assert files["tech/cases/latin1.txt"]["outcome"] == "normalised"
  assert files["tech/cases/latin1.txt"]["encoding"] == "cp1252"
