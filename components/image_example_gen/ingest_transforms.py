"""The per-file Beam steps of ImageExampleGen.

Kept free of TensorFlow and TFX imports so that Beam workers (multi-processing mode) start
in about a second.
"""

import concurrent.futures
from typing import Dict, List, Tuple

import apache_beam as beam

from components.image_example_gen import image_checks, ingest_report
from components.image_example_gen.example_encoding import encode_example

KEPT = (image_checks.INGESTED, image_checks.NORMALISED)


def hash_file(record: image_checks.FileRecord, options) -> image_checks.FileRecord:
  """Reads and hashes a candidate (size limits apply); the bytes are not kept."""
  image_checks.read_file(record, options)
  return record


def content_key(record: image_checks.FileRecord) -> Tuple[str, image_checks.FileRecord]:
  return (record.sha256 or "unread:" + record.path, record)


class DecodeContent(beam.DoFn):
  """Decodes each distinct content once and decides every file that carries it.

  Files with identical bytes have identical outcomes, so one decode serves the group; the
  duplicate and label-conflict rules of ingest_report.resolve_duplicates then apply. Only
  light records cross the shuffle before this step; the image bytes are read here. Input
  elements are batches of (sha256, records) groups, decoded on `threads` threads (Pillow and
  file reads release the GIL), like tf.data's parallel map inside one Beam worker.
  """

  def __init__(self, options, labels: Dict[str, int], splits: List[Tuple[str, int]],
               threads: int):
    self._options, self._labels, self._splits = options, labels, splits
    self._threads = max(1, threads)
    self._pool = None
    self._decoded = beam.metrics.Metrics.counter("ImageExampleGen", "contents_decoded")

  def setup(self):
    self._pool = concurrent.futures.ThreadPoolExecutor(self._threads)

  def teardown(self):
    if self._pool:
      self._pool.shutdown()

  def process(self, batch):
    for records in self._pool.map(self._decide_group, batch):
      yield from records

  def _decide_group(self, keyed) -> List[image_checks.FileRecord]:
    members = sorted(keyed[1], key=lambda r: r.path)
    for record in members:
      record.label = self._labels[record.class_name]
    first = members[0]
    if first.sha256 is None:          # rejected while reading; never grouped with others
      return members
    expected = first.sha256
    data = image_checks.read_file(first, self._options)
    if data is not None and first.sha256 != expected:
      image_checks.reject(first, "changed_during_ingest: content differs from when it was "
                          "listed; rerun the pipeline")
    elif data is not None:
      image_checks.decode_file(first, data, self._options)
      self._decoded.inc()
    split = image_checks.split_for(expected, self._splits)
    for record in members:
      record.split = split
      if record is not first:
        record.outcome, record.reason = first.outcome, first.reason
        record.format, record.mode = first.format, first.mode
        record.height, record.width = first.height, first.width
    return ingest_report.resolve_duplicates(members)


def split_index(record: image_checks.FileRecord, num_partitions: int,
                split_names: List[str]) -> int:
  """Partition function: a kept image goes to its split; everything else to the last slot."""
  if record.outcome in KEPT:
    return split_names.index(record.split)
  return num_partitions - 1


def to_example(record: image_checks.FileRecord) -> bytes:
  """The serialized tf.Example {image, label, label_name, height, width, sha256}."""
  return encode_example({
      "image": record.encoded,
      "label": record.label,
      "label_name": record.class_name.encode("utf-8"),
      "height": record.height,
      "width": record.width,
      "sha256": record.sha256.encode("ascii"),
  })


def report_row(record: image_checks.FileRecord) -> dict:
  return record.report_row()


def write_report(rows: List[dict], skipped_rows: List[dict], class_names: List[str],
                 uri: str) -> None:
  ingest_report.write_report(ingest_report.build_report(rows + skipped_rows, class_names), uri)
