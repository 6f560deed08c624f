"""The forecasting Trainer: rows back in time order, windows gathered per batch, train-only
normalisation inside the model, baselines on the same eval windows, and the export."""

import glob
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components.ingest import executor as ingest_executor
from components.ingest.example_encoding import encode_example
from components.timeseries_example_gen import executor
from tests import timeseries_factory as factory
from tests.test_timeseries_ingest import run_executor
from trainer.timeseries import timeseries_trainer
from trainer.common import export, hygiene
from trainer.timeseries import data, models

OPTIONS = pipeline_config.TimeseriesConfig(target_column="temp", lookback=24, delay=6)


def test_windows_are_the_rows_a_client_would_cut():
  values = np.arange(40, dtype=np.float32).reshape(20, 2)
  rows = data.SplitRows(values, np.arange(20), [(0, 12, "a"), (12, 20, "b")])
  ends = data.window_ends(rows, lookback=4, delay=2)
  assert list(ends) == [3, 4, 5, 6, 7, 8, 9, 15, 16, 17]
  batches = list(data.window_dataset(values, ends, 4, 2, target_index=1, batch_size=4))
  windows = np.concatenate([w.numpy() for w, _ in batches])
  targets = np.concatenate([t.numpy() for _, t in batches])
  for k, t in enumerate(ends):
    np.testing.assert_array_equal(windows[k], values[t - 3:t + 1])
    assert targets[k] == values[t + 2, 1]
  shuffled = data.window_dataset(values, ends, 4, 2, 1, batch_size=32, shuffle=True, seed=1)
  first, second = (next(iter(shuffled))[1].numpy().tolist() for _ in range(2))
  assert sorted(first) == sorted(second) == sorted(targets.tolist())
  assert first != second                        # a new order every epoch
  again = data.window_dataset(values, ends, 4, 2, 1, batch_size=32, shuffle=True, seed=1)
  assert next(iter(again))[1].numpy().tolist() == first      # and the same for a seed


def test_rows_are_read_back_in_time_order_and_cut_at_gaps(tmp_path):
  rows = []
  for series, steps in ((b"a.csv", [0, 1, 2, 3, 7, 8, 9]), (b"b.csv", [0, 1, 2])):
    for i in steps:
      rows.append(encode_example({"series": series, "timestamp": 3600 * i, "time_index": i,
                                  "segment": 0 if i < 5 else 1, "values": [i, -i],
                                  "target": float(i), "filled": 0}))
  random.Random(0).shuffle(rows)               # file order means nothing
  path = str(tmp_path / "rows.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for r in rows:
      writer.write(r)
  read = data.read_rows([path], num_features=2)
  assert [(b - a, s) for a, b, s in read.chunks] == [(4, "a.csv"), (3, "a.csv"),
                                                      (3, "b.csv")]
  assert read.values[:, 0].tolist() == [0, 1, 2, 3, 7, 8, 9, 0, 1, 2]


@pytest.mark.parametrize("model", pipeline_config.TIMESERIES_MODELS)
def test_every_model_maps_a_raw_window_to_one_forecast(model):
  config = pipeline_config.TimeseriesTrainerConfig(model=model, units=4, dense_units=4)
  mean, variance = np.array([10.0, 50.0]), np.array([4.0, 25.0])
  forecaster = models.build_forecaster(config, 12, np.arange(1, 12, 2), mean, variance, 0)
  window = np.random.default_rng(0).normal(10, 2, (3, 12, 2)).astype(np.float32)
  forecast = forecaster(window).numpy()
  assert forecast.shape == (3,)
  # Residual heads start from persistence (the change layer is zero-initialised).
  np.testing.assert_allclose(forecast, window[:, -1, 0], rtol=1e-6)


@pytest.mark.parametrize("worse", [True, False])
def test_training_that_ends_worse_than_its_start_keeps_the_start(tmp_path, worse):
  # A residual forecaster starts as persistence; weights that forecast worse on the
  # validation windows are replaced by the start's, weights that forecast better stay.
  config = pipeline_config.TimeseriesTrainerConfig(units=4, dense_units=4)
  mean, variance = np.array([10.0, 50.0]), np.array([4.0, 25.0])
  model = models.build_forecaster(config, 12, np.arange(1, 12, 2), mean, variance, 0)
  model.compile(loss=timeseries_trainer.absolute_errors)
  rng = np.random.default_rng(1)
  windows = rng.normal(10, 2, (64, 12, 2)).astype(np.float32)
  targets = windows[:, -1, 0] + (0.0 if worse else 1.0)     # persistence exact, or 1 off
  validation = tf.data.Dataset.from_tensor_slices((windows, targets)).batch(16)
  start = {"weights": model.get_weights(),
           "val_loss": hygiene.evaluate_phase(model, validation, config)["val_loss"]}
  trained = [w.copy() for w in start["weights"]]
  trained[-1] = trained[-1] + (3.0 if worse else 0.25)   # the change's bias
  model.set_weights(trained)
  timeseries_trainer.keep_the_start_if_better(model, start, validation, config,
                                              str(tmp_path), "persistence")
  with open(tmp_path / timeseries_trainer.KEPT_FILE) as f:
    kept = json.load(f)
  assert kept["kept"] == ("start" if worse else "trained")
  assert kept["start_validation_mae"] == pytest.approx(0.0 if worse else 1.0, abs=1e-4)
  final = model.get_weights()[-1]
  np.testing.assert_allclose(final, (start["weights"] if worse else trained)[-1])
  forecast = model(windows, training=False).numpy()
  if worse:
    np.testing.assert_allclose(forecast, windows[:, -1, 0], rtol=1e-6)
  else:
    assert kept["trained_validation_mae"] < kept["start_validation_mae"]


def test_a_warm_started_phase_is_judged_from_its_first_epoch():
  config = pipeline_config.TimeseriesTrainerConfig(epochs=40)
  assert hygiene.patience_for(config, 40)["start_from_epoch"] == 10
  warm = hygiene.warm_started(config)
  assert hygiene.patience_for(warm, 40)["start_from_epoch"] == 0
  assert warm.epochs == config.epochs and config.min_epochs_fraction == 0.25


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("ts_trainer")
  root = str(tmp / "data")
  for k in range(3):
    factory.write_series(os.path.join(root, f"s{k}.csv"), 1500, seed=k)
  artifacts = run_executor(root, str(tmp / "ingest"), OPTIONS)
  uri = artifacts[ingest_executor.EXAMPLES_KEY].uri
  config = pipeline_config.TimeseriesTrainerConfig(epochs=8, seed=3)
  serving, run = str(tmp / "serving"), str(tmp / "run")
  model = timeseries_trainer.train(
      config, [f"{uri}/Split-train/*"], [f"{uri}/Split-validation/*"],
      [f"{uri}/Split-eval/*"], executor.read_features(uri), serving, run)
  return artifacts, model, serving, run


def test_normalisation_uses_the_train_split_only(trained):
  artifacts, model, _, _ = trained
  uri = artifacts[ingest_executor.EXAMPLES_KEY].uri
  train = data.read_rows(glob.glob(f"{uri}/Split-train/*"), 2).values
  everything = np.concatenate([data.read_rows(glob.glob(f"{uri}/Split-{s}/*"), 2).values
                               for s in pipeline_config.SPLITS])
  layer = model.get_layer("train_normalisation")
  np.testing.assert_allclose(layer.mean.numpy().reshape(-1), train.mean(axis=0), rtol=1e-5)
  assert not np.allclose(layer.mean.numpy().reshape(-1), everything.mean(axis=0), rtol=1e-3)


def test_the_model_beats_the_baselines_and_serves_raw_windows(trained):
  artifacts, _, serving, run = trained
  with open(os.path.join(run, "baselines.json")) as f:
    scores = json.load(f)
  assert scores["model_eval_mae"] < min(scores["persistence_mae"],
                                        scores["seasonal_naive_mae"])
  for name in ("training_curves", "forecast_vs_actual", "mae_vs_baselines", "model"):
    assert os.path.isfile(os.path.join(run, "reports", f"{name}.png"))

  loaded = tf.saved_model.load(serving)
  with open(os.path.join(serving, "assets", "features.json")) as f:
    assets = json.load(f)
  assert assets["features"] == ["temp", "humid"] and assets["lookback"] == 24
  files = glob.glob(os.path.join(artifacts[executor.WINDOWS_KEY].uri, "Split-eval", "*"))
  serialized = next(iter(tf.data.TFRecordDataset(files).batch(64)))
  parsed = tf.io.parse_example(serialized, {
      "window": tf.io.FixedLenFeature([48], tf.float32),
      "target": tf.io.FixedLenFeature([], tf.float32)})
  raw = tf.reshape(parsed["window"], [-1, 24, 2])
  from_window = loaded.signatures[export.SERVING_SIGNATURE](window=raw)["forecast"].numpy()
  from_examples = loaded.signatures[export.EXAMPLES_SIGNATURE](
      examples=serialized)["forecast"].numpy()
  np.testing.assert_allclose(from_window, from_examples, rtol=1e-5)
  assert from_window.shape == (64,)
  mae = np.mean(np.abs(from_window - parsed["target"].numpy()))
  assert mae < 2 * scores["model_eval_mae"] + 0.5


def test_a_split_without_a_whole_window_stops_with_a_message(trained, tmp_path):
  artifacts = trained[0]
  uri = artifacts[ingest_executor.EXAMPLES_KEY].uri
  described = {**executor.read_features(uri), "lookback": 500}
  with pytest.raises(pipeline_config.ToolkitError, match="validation split has no whole"):
    timeseries_trainer.train(
        pipeline_config.TimeseriesTrainerConfig(epochs=1), [f"{uri}/Split-train/*"],
        [f"{uri}/Split-validation/*"], [f"{uri}/Split-eval/*"], described,
        str(tmp_path / "s"), str(tmp_path / "r"))


def test_missing_values_in_a_served_window_are_filled_as_ingestion_fills_them():
  nan = np.nan
  window = np.array([
      [[1, 10, nan], [nan, 20, nan], [3, nan, 5], [nan, nan, nan], [9, 50, 7]],
      [[nan, 1, nan], [2, nan, nan], [4, 3, nan], [nan, 4, nan], [nan, 5, nan]],
  ], np.float32)
  filled = models.fill_gaps(tf.constant(window)).numpy()
  np.testing.assert_allclose(filled[0, :, 0], [1, 2, 3, 6, 9])
  np.testing.assert_allclose(filled[0, :, 1], [10, 20, 30, 40, 50])
  np.testing.assert_allclose(filled[0, :, 2], [5, 5, 5, 6, 7])          # before the first
  np.testing.assert_allclose(filled[1, :, 0], [2, 2, 4, 4, 4])          # after the last
  np.testing.assert_allclose(filled[1, :, 1], [1, 2, 3, 4, 5])
  assert np.isnan(filled[1, :, 2]).all()                               # nothing to fill from
  config = pipeline_config.TimeseriesTrainerConfig(units=4, dense_units=4)
  forecaster = models.build_forecaster(config, 5, np.arange(5), np.zeros(3), np.ones(3), 0)
  np.testing.assert_allclose(forecaster(window[:1]).numpy(), forecaster(filled[:1]).numpy())


@pytest.mark.parametrize("rows, features, message", [
    (500, 2, "exactly lookback=24 rows"), (10, 2, "exactly lookback=24 rows"),
    (24, 3, "2 feature columns, in this order: temp, humid"),
    (0, 2, "exactly lookback=24 rows")])
def test_serving_refuses_a_window_of_another_shape_naming_both(trained, rows, features,
                                                                message):
  """A 500-row window used to forecast from the wrong rows; a short one failed with an
  internal gather error."""
  _, _, serving, _ = trained
  serve = tf.saved_model.load(serving).signatures[export.SERVING_SIGNATURE]
  window = tf.random.normal([2, rows, features])
  with pytest.raises(tf.errors.InvalidArgumentError, match=message) as error:
    serve(window=window)
  if rows != 24:
    assert f"{rows}" in str(error.value)      # the length received is named beside lookback
  empty = tf.zeros([0, 24, 2])
  with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
    serve(window=empty)
  nan = np.full([1, 24, 2], 10.0, np.float32)
  nan[0, 5, 1] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
    serve(window=tf.constant(nan))


def _rewrite_columns(src_root, dst_root, order, extra=None):
  """The same series with the columns in `order` (and an `extra` column name -> values)."""
  import csv  # pylint: disable=import-outside-toplevel
  for name in sorted(os.listdir(src_root)):
    with open(os.path.join(src_root, name)) as f:
      rows = list(csv.DictReader(f))
    os.makedirs(dst_root, exist_ok=True)
    with open(os.path.join(dst_root, name), "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(order + ([extra[0]] if extra else []))
      for i, r in enumerate(rows):
        writer.writerow([r[c] for c in order] + ([extra[1](i)] if extra else []))


def _served_mae(serving_root, windows_uri):
  folder = os.path.join(serving_root, sorted(os.listdir(serving_root))[-1])
  serve = tf.saved_model.load(folder).signatures[export.EXAMPLES_SIGNATURE]
  files = glob.glob(os.path.join(windows_uri, "Split-eval", "*"))
  errors = []
  for batch in tf.data.TFRecordDataset(files).batch(256):
    target = tf.io.parse_example(batch, {"target": tf.io.FixedLenFeature([], tf.float32)})
    errors.append(np.abs(serve(examples=batch)["forecast"].numpy()
                         - target["target"].numpy()))
  return float(np.concatenate(errors).mean())


def test_columns_are_matched_to_the_served_model_by_name(trained, tmp_path):
  """Issue 20, case 1: the same rows with the columns reordered were fed to the served
  model in the new order (MAE 16.47 against 4.32), so a worse model was blessed."""
  import shutil  # pylint: disable=import-outside-toplevel
  artifacts, _, serving, _ = trained
  served = str(tmp_path / "serving")
  shutil.copytree(serving, os.path.join(served, "1700000000"))
  original = _served_mae(served, artifacts[executor.WINDOWS_KEY].uri)
  src = os.path.dirname(glob.glob(os.path.join(
      os.path.dirname(os.path.dirname(artifacts[executor.WINDOWS_KEY].uri)), "data", "*.csv"))[0])
  order = ["timestamp", "hour", "humid", "station", "temp", "const"]
  _rewrite_columns(src, str(tmp_path / "reordered"), order)

  blind = run_executor(str(tmp_path / "reordered"), str(tmp_path / "blind"), OPTIONS)
  assert executor.read_features(blind[ingest_executor.EXAMPLES_KEY].uri)["features"] == [
      "humid", "temp"]                         # file order, without the contract
  assert _served_mae(served, blind[executor.WINDOWS_KEY].uri) > 3 * original + 1

  matched = run_executor(str(tmp_path / "reordered"), str(tmp_path / "matched"), OPTIONS,
                         served_models=served)
  assert executor.read_features(matched[ingest_executor.EXAMPLES_KEY].uri)["features"] == [
      "temp", "humid"]
  assert abs(_served_mae(served, matched[executor.WINDOWS_KEY].uri) - original) < 1e-4
  report = json.load(open(os.path.join(matched[ingest_executor.INGEST_REPORT_KEY].uri,
                                       "ingest_report.json")))
  assert report["columns"]["contract"]["reordered"] is True


def test_a_new_column_is_a_gate_breach_naming_it_and_the_flags(trained, tmp_path):
  """Issue 20, case 2: a new numeric column ended in a Beam traceback from the Evaluator
  (`Values size: 120 but output shape: [96]`) on this run and every later one."""
  import shutil  # pylint: disable=import-outside-toplevel
  artifacts, _, serving, _ = trained
  served = str(tmp_path / "serving")
  shutil.copytree(serving, os.path.join(served, "1700000000"))
  src = os.path.dirname(glob.glob(os.path.join(
      os.path.dirname(os.path.dirname(artifacts[executor.WINDOWS_KEY].uri)), "data", "*.csv"))[0])
  _rewrite_columns(src, str(tmp_path / "wider"), factory.HEADER,
                   extra=("wind", lambda i: f"{(i * 7919) % 13 + 0.5}"))
  with pytest.raises(pipeline_config.ToolkitError) as error:
    run_executor(str(tmp_path / "wider"), str(tmp_path / "out"), OPTIONS,
                 served_models=served)
  message = str(error.value)
  assert "Feature contract breached" in message and "new columns: wind" in message
  assert "--features temp,humid" in message and "--on-feature-change accept" in message

  pinned = run_executor(str(tmp_path / "wider"), str(tmp_path / "pinned"),
                        pipeline_config.TimeseriesConfig(
                            target_column="temp", lookback=24, delay=6,
                            features=("humid", "temp")), served_models=served)
  assert executor.read_features(pinned[ingest_executor.EXAMPLES_KEY].uri)["features"] == [
      "temp", "humid"]
  accepted = run_executor(str(tmp_path / "wider"), str(tmp_path / "accepted"),
                          pipeline_config.TimeseriesConfig(
                              target_column="temp", lookback=24, delay=6,
                              on_feature_change="accept"), served_models=served)
  assert "wind" in executor.read_features(accepted[ingest_executor.EXAMPLES_KEY].uri)["features"]
