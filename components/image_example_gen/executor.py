"""ImageExampleGen executor: image folders -> GZIP TFRecords of tf.Examples + ingest report.

Output layout:
  {examples.uri}/Split-<split>/data_tfrecord-*.gz   tf.Example {image, label, label_name,
                                                    height, width, sha256}
  {examples.uri}/labels.json                        ["class_a", "class_b", ...] (label id = index)
  {ingest_report.uri}/ingest_report.{json,md}       see ingest_report.py
"""

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import pipeline_config
from components.image_example_gen import image_checks
from components.image_example_gen import ingest_report

INPUT_BASE_KEY = "input_base"
INGEST_CONFIG_KEY = "ingest_config"
INPUT_FINGERPRINT_KEY = "input_fingerprint"
EXAMPLES_KEY = "examples"
INGEST_REPORT_KEY = "ingest_report"
LABELS_FILE = "labels.json"


def read_label_names(examples_uri: str) -> List[str]:
  """The label vocabulary written beside the examples (label id = list index)."""
  with tf.io.gfile.GFile(os.path.join(examples_uri, LABELS_FILE)) as f:
    return json.load(f)


def _to_example(record: image_checks.FileRecord) -> bytes:
  def _bytes(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

  def _int(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

  return tf.train.Example(features=tf.train.Features(feature={
      "image": _bytes(record.encoded),
      "label": _int(record.label),
      "label_name": _bytes(record.class_name.encode("utf-8")),
      "height": _int(record.height),
      "width": _int(record.width),
      "sha256": _bytes(record.sha256.encode("ascii")),
  })).SerializeToString()


class _Inspect(beam.DoFn):
  """Decodes one candidate and assigns its label and split."""

  def __init__(self, options, labels, splits):
    self._options, self._labels, self._splits = options, labels, splits
    self._counter = beam.metrics.Metrics.counter("ImageExampleGen", "files_inspected")

  def process(self, record):
    record = image_checks.inspect_file(record, self._options)
    record.label = self._labels[record.class_name]
    if record.sha256:
      record.split = image_checks.split_for(record.sha256, self._splits)
    self._counter.inc()
    yield record


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads <input_base>/<class>/<file>, writes Examples and an IngestReport."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    root = exec_properties[INPUT_BASE_KEY]
    options = pipeline_config.from_dict(
        pipeline_config.IngestConfig, json.loads(exec_properties[INGEST_CONFIG_KEY]))
    options.validate()
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    report_artifact = artifact_utils.get_single_instance(output_dict[INGEST_REPORT_KEY])

    walk = image_checks.check_data_root(root)
    labels = {name: i for i, name in enumerate(walk.class_names)}
    splits = list(options.split_percentages.items())
    examples.split_names = artifact_utils.encode_split_names([name for name, _ in splits])
    logging.info("ImageExampleGen: %d candidate files in %d classes under %s",
                 len(walk.candidates), len(labels), root)

    with self._make_beam_pipeline() as p:
      inspected = (
          p
          | "ListFiles" >> beam.Create(walk.candidates, reshuffle=True)
          | "Decode" >> beam.ParDo(_Inspect(options, labels, splits)))
      by_content = (
          inspected
          | "KeyBySha" >> beam.Map(lambda r: (r.sha256 or "no-sha:" + r.path, r))
          | "GroupBySha" >> beam.GroupByKey()
          | "ResolveDuplicates" >> beam.FlatMap(
              lambda kv: ingest_report.resolve_duplicates(list(kv[1]))))
      for split, _ in splits:
        _ = (
            by_content
            | f"Select[{split}]" >> beam.Filter(
                lambda r, s=split: r.split == s and r.outcome in (
                    image_checks.INGESTED, image_checks.NORMALISED))
            | f"ToExample[{split}]" >> beam.Map(_to_example)
            | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                os.path.join(examples.uri, f"Split-{split}", "data_tfrecord"),
                file_name_suffix=".gz",
                compression_type=beam.io.filesystem.CompressionTypes.GZIP))
      _ = (
          by_content
          | "ReportRows" >> beam.Map(lambda r: r.report_row())
          | "CollectRows" >> beam.combiners.ToList()
          | "WriteReport" >> beam.Map(
              lambda rows: ingest_report.write_report(
                  ingest_report.build_report(
                      rows + [s.report_row() for s in walk.skipped], walk.class_names),
                  report_artifact.uri)))

    with tf.io.gfile.GFile(os.path.join(examples.uri, LABELS_FILE), "w") as f:
      json.dump(walk.class_names, f, ensure_ascii=False)
    report = ingest_report.read_report(report_artifact.uri)
    totals = report["totals"]
    for key in ("found", "ingested", "normalised", "rejected", "skipped"):
      report_artifact.set_int_custom_property(key, totals[key])
    examples.set_string_custom_property("label_names", json.dumps(walk.class_names))
    logging.info("ImageExampleGen: %s", totals)
    print(f"[ImageExampleGen] found {totals['found']} files: {totals['ingested']} ingested, "
          f"{totals['normalised']} normalised, {totals['rejected']} rejected, "
          f"{totals['skipped']} skipped; per split {report['per_split']}", flush=True)
