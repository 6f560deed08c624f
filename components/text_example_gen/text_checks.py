"""What TextExampleGen does with each file the shared walk (components/ingest) finds: decode
it to Unicode text, normalise it, and decide ingested, normalised or rejected.

  ingested    valid UTF-8 (no BOM), already NFC, within max_chars: stored byte for byte;
  normalised  decoded from UTF-8 with a BOM, UTF-16/32 with a BOM, or the configured
              fallback encoding; NFC-normalised; or truncated to max_chars (reason says which);
  rejected    not_utf8 (and no fallback applies), corrupt_encoding (a BOM followed by bytes
              that are not valid in its encoding), binary (NUL bytes, mostly control
              characters), empty_text (empty or whitespace only), too_long (with
              on_too_long="reject"), file_too_large, unreadable;
  skipped     never opened (components/ingest/walk.py) or duplicate content.

Duplicates and label conflicts are decided on the normalised text: the content key
(`sha256`) is the hash of the stored UTF-8 bytes, so a UTF-16 copy of a UTF-8 document is a
duplicate.
"""

import codecs
import dataclasses
import hashlib
import re
import unicodedata
from typing import List, NamedTuple, Optional

import pipeline_config
from components.ingest import records, report
from components.ingest.records import INGESTED, NORMALISED, reject
from components.ingest.task import IngestTask

# Longest first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
# Unicode category Cc (U+0000-U+001F, U+007F-U+009F) less the ones ordinary text has
# (tab, newline, vertical tab, form feed, carriage return).
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


@dataclasses.dataclass
class TextRecord(records.FileRecord):
  """A file found under a text data root: how it was decoded and how long it is."""
  encoding: Optional[str] = None
  chars: Optional[int] = None
  tokens: Optional[int] = None


class TextOptions(NamedTuple):
  max_file_bytes: int
  fallback_encoding: Optional[str]
  max_chars: int
  on_too_long: str
  max_control_fraction: float


def decode_text(record: TextRecord, data: bytes, options: TextOptions) -> TextRecord:
  """Decides `record` from its bytes; a kept record gets `encoded` (UTF-8, NFC) and a
  `sha256` of those bytes. Never raises for a bad file: the reason is recorded."""
  notes = []
  bom = next(((b, name) for b, name in _BOMS if data.startswith(b)), None)
  if bom is not None:
    encoding = bom[1]
    try:
      text = data[len(bom[0]):].decode(encoding)
    except UnicodeDecodeError as e:
      return reject(record, f"corrupt_encoding: {encoding} BOM but invalid {encoding} at "
                    f"byte {e.start + len(bom[0])}")
    notes.append(f"{encoding} with BOM decoded")
  else:
    if b"\0" in data:
      return reject(record, "binary: contains NUL bytes")
    try:
      text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
      bad = data[e.start:e.start + 1].hex()
      if not options.fallback_encoding:
        return reject(record, f"not_utf8: invalid byte 0x{bad} at offset {e.start}; if the "
                      "corpus is in a legacy encoding, set --fallback-encoding (e.g. cp1252)")
      try:
        text, encoding = data.decode(options.fallback_encoding), options.fallback_encoding
      except UnicodeDecodeError as e2:
        return reject(record, f"not_utf8: invalid byte 0x{bad} at offset {e.start}, and not "
                      f"{options.fallback_encoding} either (byte {e2.start})")
      notes.append(f"decoded as {encoding} (not UTF-8)")
  record.encoding = encoding
  if "\0" in text:
    return reject(record, "binary: contains NUL characters")
  controls = len(_CONTROLS.findall(text))
  if text and controls / len(text) > options.max_control_fraction:
    return reject(record, f"binary: {controls} of {len(text)} characters are control "
                  f"characters (limit {options.max_control_fraction:.0%})")
  if not text.strip():
    return reject(record, "empty_text: only whitespace" if text else "empty_text")
  normal = unicodedata.normalize("NFC", text)
  if normal != text:
    notes.append("NFC normalised")
  if len(normal) > options.max_chars:
    if options.on_too_long == "reject":
      return reject(record, f"too_long: {len(normal)} characters > max_chars="
                    f"{options.max_chars}")
    notes.append(f"truncated to {options.max_chars} of {len(normal)} characters")
    normal = normal[:options.max_chars]
    if not normal.strip():
      return reject(record, f"empty_text: only whitespace in the first {options.max_chars} "
                    "characters (max_chars)")
  record.encoded = normal.encode("utf-8")
  record.sha256 = hashlib.sha256(record.encoded).hexdigest()
  record.chars, record.tokens = len(normal), len(normal.split())
  record.outcome, record.reason = (NORMALISED, "; ".join(notes)) if notes else (INGESTED, "")
  return record


def inspect_file(record: TextRecord, options: TextOptions) -> TextRecord:
  """Reads `record.source` and decides it (for tests and tools)."""
  data = records.read_file(record, options.max_file_bytes)
  if data is None:
    if record.reason == "empty_file":
      record.reason = "empty_text: the file is empty"
    return record
  return decode_text(record, data, options)


class TextIngest(IngestTask):
  """The text half of ingestion: every file is decoded where it is read (text is cheap to
  decode and small to carry), so the content key is the normalised text's hash."""
  name = "TextExampleGen"
  record_type = TextRecord
  task = "text"
  raw_content_key = False

  def parse_options(self, ingest, task_config):
    text = pipeline_config.from_dict(pipeline_config.TextIngestConfig, task_config or {})
    text.validate()
    return TextOptions(ingest.max_file_bytes, text.fallback_encoding, text.max_chars,
                       text.on_too_long, text.max_control_fraction)

  def key_file(self, record: TextRecord, options: TextOptions) -> TextRecord:
    return inspect_file(record, options)

  def decide(self, record: TextRecord, options: TextOptions) -> TextRecord:
    return record            # key_file decided every readable file already

  def example_features(self, record: TextRecord) -> dict:
    return {"text": record.encoded}

  def profile(self, kept_rows: List[dict]) -> dict:
    """Encoding mix and median length of the kept documents."""
    return {"distributions": {"encoding": report.distribution(r["encoding"] for r in kept_rows)},
            "medians": {"chars": report.median(kept_rows, "chars"),
                        "tokens": report.median(kept_rows, "tokens")}}
