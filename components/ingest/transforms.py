"""The per-file Beam steps every task's ingestion shares.

Kept free of TensorFlow and TFX imports so that Beam workers (multi-processing mode) start
in about a second. A task plugs in through an IngestTask (components/ingest/task.py).
"""

import concurrent.futures
import json
from typing import Dict, List, Tuple

import apache_beam as beam

from components.ingest import records, report
from components.ingest.example_encoding import example_parts
from schemas import patches


# Beam's TFRecord CRC, about 30x faster (here: Beam workers import this module).
patches.fast_tfrecord_checksums()


def key_file(record: records.FileRecord, task, options) -> records.FileRecord:
  """The task reads the candidate and sets its content key (`sha256`)."""
  return task.key_file(record, options)


def content_key(record: records.FileRecord) -> Tuple[str, records.FileRecord]:
  return (record.sha256 or "unread:" + record.path, record)


class ThreadedDecisions(beam.DoFn):
  """A DoFn that decides a task's files on `threads` threads of its own (decoders, file reads
  and hashing release the GIL), like tf.data's parallel map inside one Beam worker."""

  def __init__(self, task, options, labels: Dict[str, int],
               splits: List[Tuple[str, int]], threads: int):
    self._task, self._options, self._labels, self._splits = task, options, labels, splits
    self._threads = max(1, threads)
    self._pool = None
    self._decided = beam.metrics.Metrics.counter(task.name, "contents_decided")

  def setup(self):
    self._pool = concurrent.futures.ThreadPoolExecutor(self._threads)

  def teardown(self):
    if self._pool:
      self._pool.shutdown()


class DecideContent(ThreadedDecisions):
  """Decides each distinct content once and every file that carries it.

  Files with identical content have identical outcomes, so one decision (for images, one
  decode) serves the group; the duplicate and label-conflict rules of
  report.resolve_duplicates then apply. Input elements are batches of (sha256, records)
  groups, decided on the threads.
  """

  def process(self, batch):
    for group in self._pool.map(self._decide_group, batch):
      yield from group

  def _decide_group(self, keyed) -> List[records.FileRecord]:
    members = sorted(keyed[1], key=lambda r: r.path)
    for record in members:
      record.label = self._labels[record.class_name]
    first = members[0]
    if first.sha256 is None:          # rejected while reading; never grouped with others
      return members
    if not first.outcome:
      self._task.decide(first, self._options)
      self._decided.inc()
    split = records.split_for(first.sha256, self._splits)
    for record in members:
      record.split = split
      if not record.outcome:
        record.take_decision(first)
    return report.resolve_duplicates(members)


def split_index(record: records.FileRecord, num_partitions: int,
                split_names: List[str]) -> int:
  """Partition function: a kept file goes to its split; everything else to the last slot."""
  if record.outcome in records.KEPT:
    return split_names.index(record.split)
  return num_partitions - 1


def to_example(record: records.FileRecord, task) -> bytes:
  """The serialized tf.Example: the task's features plus label, label_name and sha256."""
  return b"".join(to_example_parts(record, task))


def to_example_parts(record: records.FileRecord, task) -> List[bytes]:
  """to_example's bytes as consecutive parts (example_encoding.example_parts)."""
  return example_parts({
      **task.example_features(record),
      "label": record.label,
      "label_name": record.class_name.encode("utf-8"),
      "sha256": record.sha256.encode("ascii"),
  })


def report_row(record: records.FileRecord) -> dict:
  return record.report_row()


def write_rows(rows: List[dict], skipped_rows: List[dict], path: str) -> None:
  """One span's report rows (the executor builds the report over the window's spans)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(rows + skipped_rows, ensure_ascii=False))   # one write, not one per token
