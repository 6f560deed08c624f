"""Reading the text Examples (features `text`, `label`, `sha256`) of one split."""

from typing import List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from trainer.common import examples

TEXT_KEY = "text"
LABEL_KEY = "label"
SHA_KEY = "sha256"
_SPEC = {TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
         LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
         SHA_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")}


class Documents(NamedTuple):
  """A whole split in memory: texts (str), label ids, sha256 hex digests (str)."""
  texts: List[str]
  labels: np.ndarray
  sha256: List[str]


def text_dataset(file_patterns: List[str], batch_size: int, shuffle: bool = False,
                 seed: Optional[int] = None) -> tf.data.Dataset:
  """Batches of (text [batch] tf.string, label [batch] int64)."""
  dataset = examples.records(examples.record_files(file_patterns))
  if shuffle:
    dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
  return dataset.batch(batch_size).map(_parse, num_parallel_calls=tf.data.AUTOTUNE)


def read_documents(file_patterns: List[str]) -> Documents:
  """Every document of the split, in file order."""
  texts, labels, digests = [], [], []
  for batch in examples.records(examples.record_files(file_patterns)).batch(1024):
    features = tf.io.parse_example(batch, _SPEC)
    texts += [t.decode("utf-8") for t in features[TEXT_KEY].numpy()]
    labels.append(features[LABEL_KEY].numpy())
    digests += [d.decode("ascii", "replace") for d in features[SHA_KEY].numpy()]
  return Documents(texts, np.concatenate(labels) if labels else np.zeros(0, np.int64), digests)


def _parse(serialized):
  features = tf.io.parse_example(serialized, _SPEC)
  return features[TEXT_KEY], features[LABEL_KEY]
