"""--distribution: the Trainers build, compile and fit under a tf.distribute strategy; with
the CPU split into two logical devices, MirroredStrategy runs two replicas, and the feature
cache, the reports and the export work under it."""

import json
import os
import subprocess
import sys

import pytest

import pipeline_config
from trainer.common import distribution

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_strategy_per_setting_and_a_clear_error_for_others(tmp_path):
  assert distribution.strategy_for("none").num_replicas_in_sync == 1
  # auto: MirroredStrategy only with more than one GPU; this machine has none.
  assert type(distribution.strategy_for("auto")).__name__ == type(
      distribution.strategy_for("none")).__name__
  distribution.start("none", str(tmp_path))
  with open(tmp_path / distribution.RECORD_FILE) as f:
    assert json.load(f)["replicas"] == 1
  with pytest.raises(pipeline_config.ToolkitError, match="distribution must be one of"):
    distribution.strategy_for("tpu")
  with pytest.raises(pipeline_config.ToolkitError, match="distribution must be one of"):
    pipeline_config.TrainerConfig(distribution="gpus").validate()


PROBE = r'''
import json, os, sys
import tensorflow as tf
cpu, = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, os.environ["REPO"])
import pipeline_config
from components.ingest import executor as ingest_executor
from components.timeseries_example_gen import executor as ts_executor
from tests import timeseries_factory
from tests.example_gen_helpers import ingest_tiny_folder
from tests.test_timeseries_ingest import OPTIONS, run_executor
from trainer.image import image_trainer
from trainer.timeseries import timeseries_trainer
tmp, part = sys.argv[1], sys.argv[2]
found = {}
if part == "timeseries":
  examples = None
else:
  examples, _ = ingest_tiny_folder(tmp, ("circle", "square"), 12)
if part == "image":
  uri = examples.uri
  config = pipeline_config.TrainerConfig(
      backbone="vgg16", weights="none", image_size=32, batch_size=8, head_epochs=2,
      fine_tune_epochs=1, dense_units=8, feature_cache_dir=os.path.join(tmp, "cache"),
      distribution="mirrored")
  for run in ("1", "2"):
    image_trainer.train(config, [f"{uri}/Split-train/*"], [f"{uri}/Split-validation/*"],
                        ingest_executor.read_label_names(uri), os.path.join(tmp, "s" + run),
                        os.path.join(tmp, "r" + run))
    with open(os.path.join(tmp, "r" + run, "distribution.json")) as f:
      found["image_distribution_" + run] = json.load(f)
    with open(os.path.join(tmp, "r" + run, image_trainer.FEATURE_CACHE_STATS)) as f:
      found["image_cache_" + run] = json.load(f)
  loaded = tf.saved_model.load(os.path.join(tmp, "s2"))
  png = open(sorted(__import__("glob").glob(os.path.join(tmp, "data", "circle", "*")))[0], "rb").read()
  probabilities = loaded.signatures["serving_default"](tf.constant([png]))["probabilities"]
  found["image_probability_sum"] = float(tf.reduce_sum(probabilities))
  found["image_reports"] = sorted(os.listdir(os.path.join(tmp, "r2")))
if part == "timeseries":
  root = os.path.join(tmp, "series")
  for k in range(2):
    timeseries_factory.write_series(os.path.join(root, f"s{k}.csv"), 800, seed=k)
  ts_uri = run_executor(root, os.path.join(tmp, "ts"), OPTIONS)[ingest_executor.EXAMPLES_KEY].uri
  timeseries_trainer.train(
      pipeline_config.TimeseriesTrainerConfig(epochs=2, distribution="mirrored"),
      [f"{ts_uri}/Split-train/*"], [f"{ts_uri}/Split-validation/*"], [f"{ts_uri}/Split-eval/*"],
      ts_executor.read_features(ts_uri), os.path.join(tmp, "ts_serving"), os.path.join(tmp, "ts_run"))
  with open(os.path.join(tmp, "ts_run", "distribution.json")) as f:
    found["timeseries_distribution"] = json.load(f)
  found["timeseries_exported"] = os.path.exists(os.path.join(tmp, "ts_serving", "saved_model.pb"))
print("RESULT " + json.dumps(found))
'''


def _probe(tmp_path, part: str) -> dict:
  """One process per part, as a Trainer runs: here a time-series fit after two image fits in
  one process failed its first all-reduce (CPU collectives of another model's program)."""
  done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), part],
                        capture_output=True, text=True, timeout=1200, cwd=REPO,
                        env={**os.environ, "REPO": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert done.returncode == 0, done.stderr[-4000:]
  return json.loads(done.stdout.rsplit("RESULT ", 1)[1])


@pytest.mark.slow
def test_mirrored_training_on_two_replicas_with_the_feature_cache(tmp_path):
  found = {**_probe(tmp_path, "image"), **_probe(tmp_path, "timeseries")}
  for run in ("1", "2"):
    record = found["image_distribution_" + run]
    assert record["strategy"] == "MirroredStrategy" and record["replicas"] == 2
    assert len(record["devices"]) == 2
  assert found["image_cache_1"]["misses"] > 0 and found["image_cache_1"]["hits"] == 0
  assert found["image_cache_2"]["hits"] == found["image_cache_1"]["misses"]
  assert found["image_probability_sum"] == pytest.approx(1.0, abs=1e-4)
  assert "history.json" in found["image_reports"]
  assert found["timeseries_distribution"]["replicas"] == 2
  assert found["timeseries_exported"]


SHORT_BATCH_PROBE = r'''
import json, os, sys
import numpy as np
import tensorflow as tf
from tensorflow import keras
cpu, = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, os.environ["REPO"])
import pipeline_config
from trainer.common import distribution, hygiene
x = np.random.RandomState(0).uniform(0, 1, (11, 16, 16, 3)).astype("float32")
y = np.arange(11) % 2
def build():
  inputs = keras.Input((16, 16, 3))
  h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
  h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
  outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
  return keras.Model(inputs, outputs)
found = {}
keras.utils.set_random_seed(0)
single = build()
weights = single.get_weights()
hygiene.compile_classifier(single, keras.optimizers.SGD(0.0))
found["single"] = single.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["accuracy"]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  model = build()
  model.set_weights(weights)
  hygiene.compile_classifier(model, keras.optimizers.SGD(0.0))
  # 11 validation images in batches of 8: the last batch of 3 gives the second replica none.
  validation = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
  config = pipeline_config.TrainerConfig(batch_size=8, early_stopping_patience=1)
  history = hygiene.fit_phase(model, config, sys.argv[1], "probe", x, validation, 1, y=y,
                              batch_size=8)
found["mirrored"] = history["val_accuracy"][0]
found["replicas"] = strategy.num_replicas_in_sync
print("RESULT " + json.dumps(found))
'''


def test_a_short_last_batch_leaves_no_replica_empty_and_metrics_count_real_rows(tmp_path):
  """tf.distribute hands a replica an empty slice of a short batch, where TensorFlow's fused
  Conv2D+ReLU fails ('input depth must be evenly divisible by filter depth'); padded batches
  weigh their padding 0, so the validation accuracy is the single-device one."""
  done = subprocess.run([sys.executable, "-c", SHORT_BATCH_PROBE, str(tmp_path)],
                        capture_output=True, text=True, timeout=600, cwd=REPO,
                        env={**os.environ, "REPO": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert done.returncode == 0, done.stderr[-4000:]
  found = json.loads(done.stdout.rsplit("RESULT ", 1)[1])
  assert found["replicas"] == 2
  assert found["mirrored"] == pytest.approx(found["single"], abs=1e-6)


def test_full_batches_pads_with_rows_of_weight_zero():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  pad = distribution._pad_batch(4)  # pylint: disable=protected-access
  x, y, weight = pad({"text": tf.constant(["a", "b", "c"])}, tf.constant([1, 2, 3]))
  assert x["text"].numpy().tolist() == [b"a", b"b", b"c", b"a"]
  assert y.numpy().tolist() == [1, 2, 3, 1]
  assert weight.numpy().tolist() == [1.0, 1.0, 1.0, 0.0]
  _, _, weight = pad(tf.zeros([4, 2]), tf.zeros([4]), tf.constant([0.5, 1, 1, 1]))
  assert weight.numpy().tolist() == [0.5, 1.0, 1.0, 1.0]
