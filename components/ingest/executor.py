"""The executor every folder ExampleGen shares: `<root>/<class>/<file>` -> TFRecords of
tf.Examples + an ingest report. A task subclasses it and sets TASK (an IngestTask).

Output layout:
  {examples.uri}/Split-<split>/data_tfrecord-*[.gz] tf.Example {<task features>, label,
                                                    label_name, sha256}; uncompressed by
                                                    default, GZIP with compression="gzip"
  {examples.uri}/labels.json                        ["class_a", "class_b", ...] (label id = index)
  {ingest_report.uri}/ingest_report.{json,md}       see components/ingest/report.py
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
from components.ingest import report as ingest_report
from components.ingest import transforms, walk as ingest_walk
from components.ingest.task import IngestTask

INPUT_BASE_KEY = "input_base"
INGEST_CONFIG_KEY = "ingest_config"
TASK_CONFIG_KEY = "task_config"
INPUT_FINGERPRINT_KEY = "input_fingerprint"
EXAMPLES_KEY = "examples"
INGEST_REPORT_KEY = "ingest_report"
LABELS_FILE = "labels.json"


def read_label_names(examples_uri: str) -> List[str]:
  """The label vocabulary written beside the examples (label id = list index)."""
  with tf.io.gfile.GFile(os.path.join(examples_uri, LABELS_FILE)) as f:
    return json.load(f)


_COMPRESSION = {"none": beam.io.filesystem.CompressionTypes.UNCOMPRESSED,
                "gzip": beam.io.filesystem.CompressionTypes.GZIP}


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads <input_base>/<class>/<file>, writes Examples and an IngestReport."""
  TASK: IngestTask = None

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    root = exec_properties[INPUT_BASE_KEY]
    options = pipeline_config.from_dict(
        pipeline_config.IngestConfig, json.loads(exec_properties[INGEST_CONFIG_KEY]))
    options.validate()
    task = self.TASK
    task_config = exec_properties.get(TASK_CONFIG_KEY)
    task_options = task.parse_options(options, json.loads(task_config) if task_config else None)
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    report_artifact = artifact_utils.get_single_instance(output_dict[INGEST_REPORT_KEY])

    walk = ingest_walk.check_data_root(root, task.task, task.record_type)
    labels = {name: i for i, name in enumerate(walk.class_names)}
    splits = list(options.split_percentages.items())
    split_names = [name for name, _ in splits]
    examples.split_names = artifact_utils.encode_split_names(split_names)
    logging.info("%s: %d candidate files in %d classes under %s",
                 task.name, len(walk.candidates), len(labels), root)
    print(f"[{task.name}] reading {len(walk.candidates)} files in {len(labels)} classes "
          f"under {root}", flush=True)

    compression = _COMPRESSION[options.compression]
    suffix = ".gz" if options.compression == "gzip" else ""
    with self._make_beam_pipeline() as p:
      records = (
          p
          | "ListFiles" >> beam.Create(walk.candidates, reshuffle=False)
          | "KeyFiles" >> beam.Map(transforms.key_file, task, task_options)
          | "KeyByContent" >> beam.Map(transforms.content_key)
          | "GroupByContent" >> beam.GroupByKey()
          | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=64)
          | "DecideOncePerContent" >> beam.ParDo(transforms.DecideContent(
              task, task_options, labels, splits, options.decode_threads or os.cpu_count())))
      by_split = records | "Partition" >> beam.Partition(
          transforms.split_index, len(split_names) + 1, split_names)
      for index, split in enumerate(split_names):
        _ = (
            by_split[index]
            | f"ToExample[{split}]" >> beam.Map(transforms.to_example, task)
            | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                os.path.join(examples.uri, f"Split-{split}", "data_tfrecord"),
                file_name_suffix=suffix, compression_type=compression))
      _ = (
          records
          | "ReportRows" >> beam.Map(transforms.report_row)
          | "CollectRows" >> beam.combiners.ToList()
          | "WriteReport" >> beam.Map(
              transforms.write_report, [s.report_row() for s in walk.skipped],
              walk.class_names, report_artifact.uri, task))

    with tf.io.gfile.GFile(os.path.join(examples.uri, LABELS_FILE), "w") as f:
      json.dump(walk.class_names, f, ensure_ascii=False)
    report = ingest_report.read_report(report_artifact.uri)
    totals = report["totals"]
    for key in ("found", "ingested", "normalised", "rejected", "skipped"):
      report_artifact.set_int_custom_property(key, totals[key])
    examples.set_string_custom_property("label_names", json.dumps(walk.class_names))
    logging.info("%s: %s", task.name, totals)
    print(f"[{task.name}] found {totals['found']} files: {totals['ingested']} ingested, "
          f"{totals['normalised']} normalised, {totals['rejected']} rejected, "
          f"{totals['skipped']} skipped; per split {report['per_split']}", flush=True)
