"""The tf.distribute strategy a Trainer builds, compiles and fits its model under.

  auto          MirroredStrategy when more than one GPU is visible, else the default strategy
  none          the default strategy (one device)
  mirrored      MirroredStrategy over every visible GPU (the logical CPU devices when there
                is none)
  multi_worker  MultiWorkerMirroredStrategy; the cluster sets TF_CONFIG (Vertex AI training
                does for every replica of a worker pool)

`batch_size` stays the global batch: each replica gets batch_size / replicas. What was used
is printed and written to `<model_run_dir>/distribution.json`.
"""

import json
import os

import tensorflow as tf

import pipeline_config

RECORD_FILE = "distribution.json"


def strategy_for(name: str) -> tf.distribute.Strategy:
  if name not in pipeline_config.DISTRIBUTIONS:
    raise pipeline_config.ToolkitError(
        f"distribution must be one of {', '.join(pipeline_config.DISTRIBUTIONS)}. "
        f"Received: {name!r}")
  if name == "auto":
    name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    # Without a GPU: every logical CPU device (one, unless the process split the CPU).
    return tf.distribute.MirroredStrategy(
        devices=[d.name for d in gpus or tf.config.list_logical_devices("CPU")])
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      print("[Trainer] distribution multi_worker without TF_CONFIG: one worker", flush=True)
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy, requested: str) -> dict:
  try:
    devices = list(strategy.extended.worker_devices)
  except (RuntimeError, AttributeError):          # the default strategy: one device
    devices = []
  return {"requested": requested, "strategy": type(strategy).__name__,
          "replicas": int(strategy.num_replicas_in_sync), "devices": devices}


def start(name: str, model_run_dir: str) -> tf.distribute.Strategy:
  """The strategy for `name`, announced and recorded in the model run folder."""
  strategy = strategy_for(name)
  record = describe(strategy, name)
  print(f"[Trainer] distribution: {record['strategy']} with {record['replicas']} "
        f"replica(s) ({name})", flush=True)
  tf.io.gfile.makedirs(model_run_dir)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, RECORD_FILE), "w") as f:
    json.dump(record, f, indent=1)
  return strategy


def _pad_batch(batch_size: int):
  """Pads a (x, y[, sample_weight]) batch to `batch_size` rows by repeating its first row;
  the padding rows weigh 0."""

  def pad(x, y, weight=None):
    rows = tf.shape(tf.nest.flatten(y)[0])[0]
    if weight is None:
      weight = tf.ones([rows], tf.float32)
    extra = tf.maximum(batch_size - rows, 0)

    def grow(t):
      return tf.concat([t, tf.repeat(t[:1], extra, axis=0)], axis=0)

    return (tf.nest.map_structure(grow, x), tf.nest.map_structure(grow, y),
            tf.concat([tf.cast(weight, tf.float32), tf.zeros([extra], tf.float32)], axis=0))

  return pad


def full_batches(data, batch_size: int, y=None, shuffle: bool = False, seed: int = 0):
  """Under a strategy of several replicas, `data` with every batch padded to the global
  `batch_size` with rows of weight 0; otherwise `data` as it is.

  tf.distribute splits a batch into per-replica slices in order, so a short last batch (a
  validation split of a few images, or any split that does not divide evenly) leaves a
  replica with no rows at all, and TensorFlow's fused Conv2D+ReLU returns a wrongly shaped
  tensor for an empty batch ("input depth must be evenly divisible by filter depth: 3 vs
  64"). Padded rows weigh 0, so gradients and weighted metrics (hygiene.compile_classifier)
  are those of the real rows. Keras divides a batch's summed loss by its rows, padding
  included, so a reported epoch loss is the real one times real rows / padded rows: a constant
  factor for an unshuffled validation split, so EarlyStopping, ReduceLROnPlateau and the best
  checkpoint choose the same epochs as on one device. `data` is a batched tf.data.Dataset
  of (x, y[, weight]), or an array (then `y` holds the labels and batches are made here).
  """
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  if replicas <= 1:
    return data
  if not isinstance(data, tf.data.Dataset):
    dataset = tf.data.Dataset.from_tensor_slices((data, y))
    if shuffle:
      dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    data = dataset.batch(batch_size)
  return data.map(_pad_batch(batch_size))
