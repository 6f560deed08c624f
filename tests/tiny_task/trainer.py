"""The bytes task's Trainer module: a softmax regression on the byte histogram, exported
with the shared classifier signatures (raw file bytes in, as a client sends them)."""

import posixpath

import tensorflow as tf
from tensorflow import keras

import pipeline_config
from schemas import contracts
from trainer.common import examples, export
from tests.tiny_task import sections

INPUT = "content"


def histogram(raw: tf.Tensor) -> tf.Tensor:
  """[batch] byte strings -> [batch, 256] share of each byte value."""
  values = tf.strings.unicode_decode(raw, "UTF-8", errors="replace", replacement_char=0)
  values = tf.minimum(values, 255)
  counts = tf.math.unsorted_segment_sum(tf.one_hot(values.flat_values, 256),
                                        values.value_rowids(), values.nrows())
  return counts / tf.maximum(tf.reduce_sum(counts, axis=-1, keepdims=True), 1.0)


def _dataset(patterns, batch_size):
  spec = {INPUT: tf.io.FixedLenFeature([], tf.string),
          examples.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
  return examples.records(examples.record_files(patterns)).batch(batch_size).map(
      lambda batch: (lambda f: (histogram(f[INPUT]), f[examples.LABEL_KEY]))(
          tf.io.parse_example(batch, spec)))


def run_fn(fn_args) -> None:
  config = pipeline_config.from_dict(sections.BytesTrainerConfig,
                                     fn_args.custom_config["bytes_trainer"])
  uri = examples.examples_uri(fn_args.train_files)
  labels = contracts.read_label_names(uri)
  keras.utils.set_random_seed(config.seed)
  model = keras.Sequential([keras.layers.Input((256,)),
                            keras.layers.Dense(len(labels), activation="softmax")])
  model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
  model.fit(_dataset(fn_args.train_files, config.batch_size),
            validation_data=_dataset(fn_args.eval_files, config.batch_size),
            epochs=config.epochs, verbose=0)
  export.export_classifier(model, labels, fn_args.serving_model_dir, INPUT, INPUT, histogram)
  # What the label-agreement gate of a later drop compares with (schemas/contracts.py).
  eval_files = [posixpath.join(uri, "Split-eval", "*")]
  _, accuracy = model.evaluate(_dataset(eval_files, 256), verbose=0)
  contracts.write_eval_figures(fn_args.serving_model_dir, accuracy,
                               int(examples.label_counts(eval_files, len(labels)).sum()))
