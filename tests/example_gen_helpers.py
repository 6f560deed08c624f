"""Runs a real folder ExampleGen executor (image by default) and reads back what it wrote."""

import glob
import os

import tensorflow as tf
from tfx.types import standard_artifacts

import pipeline_config
from tests import image_factory
from components.image_example_gen import executor
from components.ingest.component import IngestReport


def run_executor(root, out, ingest=None, executor_class=executor.Executor, task_config=None,
                 extra_properties=None):
  """`task_config`: the task's config section (e.g. a TextIngestConfig), or None;
  `extra_properties`: more execution properties (the span cache, the vocabulary)."""
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(out, "examples")
  report = IngestReport()
  report.uri = os.path.join(out, "report")
  properties = {executor.INPUT_BASE_KEY: root,
                executor.INGEST_CONFIG_KEY: pipeline_config.to_json(
                    ingest or pipeline_config.IngestConfig())}
  if task_config is not None:
    properties[executor.TASK_CONFIG_KEY] = pipeline_config.to_json(task_config)
  properties.update(extra_properties or {})
  executor_class().Do(
      {}, {executor.EXAMPLES_KEY: [examples], executor.INGEST_REPORT_KEY: [report]},
      properties)
  return examples, report


def read_examples(examples_uri, split):
  files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "data_tfrecord-*"))
  compression = "GZIP" if files and files[0].endswith(".gz") else ""
  out = []
  for record in tf.data.TFRecordDataset(files, compression_type=compression):
    example = tf.train.Example.FromString(record.numpy())
    out.append({k: (v.bytes_list.value or v.int64_list.value)[0]
                for k, v in example.features.feature.items()})
  return out


def ingest_tiny_folder(tmp, classes, per_class):
  """Writes `tmp/data/<class>/<n>.png` and ingests it; returns (examples artifact, data root)."""
  root = os.path.join(str(tmp), "data")
  image_factory.class_folder_dataset(root, classes=classes, per_class=per_class)
  examples, _ = run_executor(root, os.path.join(str(tmp), "out"))
  return examples, root


def train_small_convnet(examples_uri, export_dir, run_dir):
  """Chollet's small convnet at 24 px, 3 epochs, on the train split (validation: train and
  validation), exported as the Trainer exports it: a real served image model in seconds."""
  from trainer.image import image_trainer  # pylint: disable=import-outside-toplevel
  config = pipeline_config.TrainerConfig(
      backbone="small_convnet", weights="none", image_size=24, batch_size=8, head_epochs=3,
      dense_units=16, feature_cache_dir="")
  files = [os.path.join(examples_uri, f"Split-{s}", "*") for s in ("train", "validation")]
  return image_trainer.train(config, files[:1], files, executor.read_label_names(examples_uri),
                             export_dir, run_dir)
