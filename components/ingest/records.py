"""One record per file found under a data root, and the decisions every task shares.

Outcomes (the ingest report's contract, for every task):
  ingested    the content is stored as it was found;
  normalised  the content was decoded and stored in a canonical form (the reason says how);
  rejected    the file cannot be used; `reason` says why;
  skipped     the file was never opened (hidden, system file, symlink leaving the data root,
              not a regular file) or its content is already kept (duplicate).

A task's checks subclass FileRecord with the fields they measure (an image's size and
format, a document's encoding and length); those fields go into the report row too.
"""

import dataclasses
import functools
import hashlib
import importlib
import os
from typing import List, Optional, Sequence, Tuple


class _Lazy:
  """`tensorflow`, imported on first use: the CLI checks a local data root before anything
  imports TensorFlow (seconds, and native log lines before the toolkit's message)."""

  def __getattr__(self, name):
    return getattr(importlib.import_module("tensorflow"), name)


tf = _Lazy()


def is_uri(path: str) -> bool:
  """True for a path that only tf.io.gfile can read (gs://, ram://, ...)."""
  return "://" in path

INGESTED = "ingested"
NORMALISED = "normalised"
REJECTED = "rejected"
SKIPPED = "skipped"
OUTCOMES = (INGESTED, NORMALISED, REJECTED, SKIPPED)
KEPT = (INGESTED, NORMALISED)


@dataclasses.dataclass
class FileRecord:
  """One file found under the data root, and what became of it."""
  path: str                     # relative to the data root, '/'-separated
  outcome: str = ""
  reason: str = ""
  class_name: Optional[str] = None
  split: Optional[str] = None
  sha256: Optional[str] = None
  label: Optional[int] = None
  # Absolute path or URI to read (a symlink inside the root is resolved); never in the report.
  source: Optional[str] = None
  # What is stored in the example (image bytes, UTF-8 text); never in the report.
  encoded: Optional[bytes] = None

  def report_row(self) -> dict:
    # Fields are plain values: no dataclasses.asdict (a deep copy, 0.1 ms a row).
    row = {name: getattr(self, name) for name in _row_fields(type(self))}
    row["class"] = row.pop("class_name")
    return row

  def take_decision(self, first: "FileRecord") -> None:
    """Copies the outcome of `first`, which has the same content, onto this record."""
    self.outcome, self.reason = first.outcome, first.reason
    for name in _task_fields(type(self)):
      setattr(self, name, getattr(first, name))


@functools.lru_cache(maxsize=None)
def _row_fields(cls) -> Tuple[str, ...]:
  return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("source", "encoded"))


def _task_fields(cls) -> List[str]:
  base = {f.name for f in dataclasses.fields(FileRecord)}
  return [f.name for f in dataclasses.fields(cls) if f.name not in base]


def reject(record: FileRecord, reason: str) -> FileRecord:
  record.outcome, record.reason = REJECTED, reason
  return record


def read_file(record: FileRecord, max_bytes: int) -> Optional[bytes]:
  """The file's bytes with `record.sha256` set, or None with the record rejected. The source
  may be a local path or a URI (read through tf.io.gfile)."""
  uri = is_uri(record.source)
  try:
    size = tf.io.gfile.stat(record.source).length if uri else os.stat(record.source).st_size
    if size == 0:
      reject(record, "empty_file")
      return None
    if size > max_bytes:
      reject(record, f"file_too_large: {size} bytes > {max_bytes}")
      return None
    with (tf.io.gfile.GFile(record.source, "rb") if uri else open(record.source, "rb")) as f:
      data = f.read()
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, OSError) and not (uri and isinstance(e, tf.errors.OpError)):
      raise
    reject(record, f"unreadable: {error_text(e)}")
    return None
  record.sha256 = hashlib.sha256(data).hexdigest()
  return data


CHANGED = "changed_during_ingest"


def changed_since_listing(record: FileRecord) -> FileRecord:
  """Rejects a file whose bytes are not those hashed when the data root was listed."""
  return reject(record, f"{CHANGED}: content differs from when it was listed; rerun the "
                "pipeline")


def error_text(error: Exception) -> str:
  """What went wrong, without the path: an OSError's strerror, or the text of a tf.io.gfile
  error (which reads "<path>; <what>" for a local file)."""
  if not isinstance(error, OSError):                  # a tf.errors.OpError
    return error.message.rsplit("; ", 1)[-1]
  return error.strerror or str(error)


def split_for(sha256: str, split_percentages: Sequence[Tuple[str, int]]) -> str:
  """The split a content lands in, decided by its hash alone (stable across runs)."""
  bucket = int(sha256[:8], 16) % 100
  upper = 0
  for name, percent in split_percentages:
    upper += percent
    if bucket < upper:
      return name
  return split_percentages[-1][0]
