"""Batched ingestion for tasks whose content key is the file's raw sha256 (images).

The content fingerprint (components/ingest/walk.py) has hashed every file before Beam runs,
so files with the same bytes are grouped there, in the driver, and the groups are written to
small batch files under the span's folder. Beam only moves the batch files' paths: no file
list in the job graph (a Dataflow job's graph has a size limit), no per-file element, no
shuffle of file contents. A worker reads one batch file, reads the first file of every group
itself (checking its hash against the fingerprint's), decides the groups on `threads`
threads (decoders, reads and hashing release the GIL, as in tf.data's parallel map),
resolves each group's duplicates, and writes its own TFRecord shard per split and its report
rows. A second worker, thread or process, adds decoding rather than messaging.

Under <span_dir>:
  _batches/<batch>.json                        [[path, source, class, sha256 | null], ...]
                                               per group, the groups of one batch; every
                                               file is read and hashed again by its worker
  _rows/<batch>.json                           the batch's report rows
  Split-<split>/data_tfrecord-<batch>-of-<n>   its examples, one shard per split (empty
                                               when the batch has none for it)
A retried bundle rewrites the same names. Kept free of TensorFlow and TFX imports (workers).
"""

import json
import math
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import filesystems

from components.ingest import records, report, transforms
from schemas import patches

SHARD_PREFIX = "data_tfrecord"
BATCHES_DIR, ROWS_DIR = "_batches", "_rows"
# Groups per batch: enough batches for every worker to get several, few enough that each
# shard holds hundreds of examples.
MIN_BATCH, MAX_BATCH, TARGET_BATCHES = 16, 500, 8
GROUPS_PER_TASK = 16         # groups a decoding thread takes at a time
# Outcomes that say something about the file rather than its content (its bytes were not
# hashed, or are not the listed ones): such a record does not decide its group.
_FILE_FAULTS = ("unreadable", "empty_file", "file_too_large", records.CHANGED)


def content_groups(candidates: Sequence[records.FileRecord],
                   hashes: Dict[str, Optional[str]]) -> List[List[records.FileRecord]]:
  """Candidates grouped by the fingerprint's sha256 of their bytes, in path order; a file
  whose hash is unknown (it could not be read) is a group of its own."""
  groups: Dict[str, List[records.FileRecord]] = {}
  for record in sorted(candidates, key=lambda r: r.path):
    sha = hashes.get(record.path)
    groups.setdefault(sha or "unread:" + record.path, []).append(record)
  return list(groups.values())


def write_batches(groups: List[List[records.FileRecord]], hashes: Dict[str, Optional[str]],
                  span_dir: str) -> List[Tuple[int, str]]:
  """Writes the groups as batch files under span_dir; returns (index, path) pairs: Beam's
  input, grouped by index so that a runner spreads the batches over its workers (a
  GroupByKey ends a fused stage; it costs less than Reshuffle's random keys)."""
  size = min(MAX_BATCH, max(MIN_BATCH, math.ceil(len(groups) / TARGET_BATCHES)))
  chunks = [groups[i:i + size] for i in range(0, len(groups), size)] or [[]]
  paths = []
  for index, chunk in enumerate(chunks):
    path = filesystems.FileSystems.join(span_dir, BATCHES_DIR,
                                        f"{index:05d}-of-{len(chunks):05d}.json")
    entries = [[[r.path, r.source, r.class_name, hashes.get(r.path)] for r in group]
               for group in chunk]
    _write_json(path, entries)
    paths.append((index, path))
  return paths


def read_rows(span_dir: str) -> List[dict]:
  """Every batch's report rows, in batch order."""
  pattern = filesystems.FileSystems.join(span_dir, ROWS_DIR, "*.json")
  found = sorted(m.path for r in filesystems.FileSystems.match([pattern]) for m in r.metadata_list)
  rows = []
  for path in found:
    with filesystems.FileSystems.open(path) as f:
      rows += json.loads(f.read().decode("utf-8"))
  return rows


def _write_json(path: str, value) -> None:
  with filesystems.FileSystems.create(path) as f:
    f.write(json.dumps(value, ensure_ascii=False).encode("utf-8"))


class IngestBatch(transforms.ThreadedDecisions):
  """Reads one batch file: decides its groups, writes their examples and report rows."""

  def __init__(self, task, options, labels: Dict[str, int], splits: List[Tuple[str, int]],
               threads: int, span_dir: str, compression, suffix: str):
    super().__init__(task, options, labels, splits, threads)
    self._span_dir, self._compression, self._suffix = span_dir, compression, suffix
    self._files = beam.metrics.Metrics.counter(task.name, "files")

  def process(self, keyed_batch: Tuple[int, Iterable[str]]):
    for batch_path in keyed_batch[1]:
      yield self._ingest(batch_path)

  def _ingest(self, batch_path: str) -> int:
    name = batch_path.rsplit("/", 1)[-1]
    index, count = (int(n) for n in name[:-len(".json")].split("-of-"))
    with filesystems.FileSystems.open(batch_path) as f:
      groups = json.loads(f.read().decode("utf-8"))
    writers, rows = {}, []
    try:
      # Every split's shard is opened (empty ones too): a retried bundle then replaces all
      # of what an earlier attempt wrote.
      for split, _ in self._splits:
        writers[split] = self._open_shard(split, index, count)
      # map() yields in order while later groups are still being decided; the threads also
      # encode, so this thread only writes. A few groups per task: a future per group
      # would cost a GIL hand-off each.
      chunks = [groups[i:i + GROUPS_PER_TASK] for i in range(0, len(groups), GROUPS_PER_TASK)]
      decided = (pair for chunk in self._pool.map(self._decide_groups, chunks)
                 for pair in chunk)
      for record, example in decided:
        if example is not None:
          _write_record(writers[record.split], example)
        rows.append(record.report_row())
    finally:
      for writer in writers.values():
        writer.close()
    _write_json(filesystems.FileSystems.join(self._span_dir, ROWS_DIR, name), rows)
    self._files.inc(len(rows))
    return len(rows)

  def _open_shard(self, split: str, index: int, count: int):
    path = filesystems.FileSystems.join(
        self._span_dir, f"Split-{split}",
        f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}{self._suffix}")
    return filesystems.FileSystems.create(path, compression_type=self._compression)

  def _decide_groups(self, groups: list) -> List[Tuple[records.FileRecord, Optional[list]]]:
    return [pair for entries in groups for pair in self._decide_group(entries)]

  def _decide_group(self, entries: list) -> List[Tuple[records.FileRecord, Optional[list]]]:
    sha = entries[0][3]
    split = records.split_for(sha, self._splits) if sha else None
    members, decided = [], None
    for path, source, class_name, _ in entries:
      record = self._task.record_type(path=path, source=source, class_name=class_name,
                                      label=self._labels[class_name], sha256=sha, split=split)
      members.append(record)
      if decided is not None:
        # A duplicate is read and hashed too: its bytes may have changed since the listing
        # (or the manifest trusted a stale mtime); only then does it share the decision.
        self._task.key_file(record, self._options)
        if record.outcome:
          continue                                  # unreadable, empty, too large
        if record.sha256 != sha:
          records.changed_since_listing(record)
        else:
          record.take_decision(decided)
        continue
      self._task.decide(record, self._options)     # reads, checks the hash, decides
      self._decided.inc()
      if not (record.outcome == records.REJECTED and record.reason.startswith(_FILE_FAULTS)):
        decided = record
    report.resolve_duplicates(members)
    return [(r, transforms.to_example_parts(r, self._task) if r.outcome in records.KEPT
             else None) for r in members]


def _write_record(f, parts: List[bytes]) -> None:
  """One TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data. The
  data comes in parts (example_encoding.example_parts), checksummed and written in turn."""
  if _crc32c_extend is None:
    parts = [b"".join(parts)]
  length = struct.pack("<Q", sum(len(p) for p in parts))
  f.write(length + struct.pack("<I", _mask(_crc32c(length))))
  crc = 0
  for part in parts:
    crc = _crc32c_extend(crc, part) if _crc32c_extend else _crc32c(part)
    f.write(part)
  f.write(struct.pack("<I", _mask(crc)))


def _mask(crc: int) -> int:
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc32c_functions():
  """(crc32c, extend) from google-crc32c's C implementation (in the lock), else Beam's own
  choice and no extend (the parts are joined first)."""
  try:
    import google_crc32c  # pylint: disable=import-outside-toplevel
    if google_crc32c.implementation == "c":
      return google_crc32c.value, google_crc32c.extend
  except ImportError:
    pass
  return patches.beam_crc32c(), None


_crc32c, _crc32c_extend = _crc32c_functions()
