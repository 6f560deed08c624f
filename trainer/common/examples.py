"""Reading what an ExampleGen wrote: TFRecord files of a split, label counts, the labels."""

import posixpath
from typing import List

import numpy as np
import tensorflow as tf

from schemas.contracts import read_label_names  # pylint: disable=unused-import

LABEL_KEY = "label"


def record_files(file_patterns: List[str]) -> List[str]:
  files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
  if not files:
    raise ValueError(f"No TFRecord files match {file_patterns}.")
  return files


def records(files: List[str]) -> tf.data.Dataset:
  # ExampleGens name GZIP files *.gz (TFX readers detect compression the same way).
  return tf.data.TFRecordDataset(files, compression_type="GZIP" if files[0].endswith(".gz")
                                 else "")


def label_counts(file_patterns: List[str], num_classes: int) -> np.ndarray:
  """Examples per label id, parsing only the label."""
  spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
  labels = records(record_files(file_patterns)).batch(1024).map(
      lambda batch: tf.io.parse_example(batch, spec)[LABEL_KEY])
  counts = np.zeros(num_classes, dtype=np.int64)
  for batch in labels:
    counts += np.bincount(batch.numpy(), minlength=num_classes)
  return counts


def examples_uri(train_files: List[str]) -> str:
  """The Examples artifact's URI from the Trainer's '{uri}/Split-train/*' patterns."""
  return posixpath.dirname(posixpath.dirname(train_files[0]))
