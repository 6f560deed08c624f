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
