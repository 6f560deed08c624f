"""A real series nobody here made, as monthly drops (issue 22): half-hourly sea surface
temperature in degrees C at NERACOOS buoy B01 (Western Maine Shelf), 2016, as the
bokeh-sampledata wheel bundles it (in the lock). Its columns are `time (UTC)` and
`temperature (celsius)`, names with spaces and brackets; one series, no other feature.

March, April and May arrive as span-1..3. Each is parsed once; April and May are trained warm
from the previous month's model; the served model, sent raw windows of the newest weeks in a
TensorFlow-only process, scores the MAE the Trainer reported; June in degrees F is stopped."""

import csv
import gzip
import importlib.util
import json
import os

import pytest

import pipeline_config
from components.data_gate import gates
from components.ingest import executor as ingest_executor
from schemas import contracts
from tests.serving_client import serve_windows_in_a_plain_tensorflow_process
from tests.test_timeseries_drops import report_of
from tests.test_timeseries_ingest import run_executor

pytestmark = pytest.mark.slow
TIME, TEMP = "time (UTC)", "temperature (celsius)"
MONTHS = ("2016-03", "2016-04", "2016-05", "2016-06")
# A day of half-hourly rows, six hours ahead.
OPTIONS = pipeline_config.TimeseriesConfig(time_column=TIME, target_column=TEMP, lookback=48,
                                           delay=12)


def write_months(root, spans, convert=None):
  """`root/span-<n>/B01.csv`: the buoy's rows of MONTHS[n - 1], as the file has them;
  `convert(celsius) -> value` rewrites the temperature column."""
  package = list(importlib.util.find_spec("bokeh_sampledata").submodule_search_locations)[0]
  with gzip.open(os.path.join(package, "_data", "sea_surface_temperature.csv.gz"), "rt",
                 newline="") as f:
    header, *rows = list(csv.reader(f))
  assert header == [TIME, TEMP]
  for span in spans:
    month = MONTHS[span - 1]
    os.makedirs(os.path.join(root, f"span-{span}"), exist_ok=True)
    with open(os.path.join(root, f"span-{span}", "B01.csv"), "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(header)
      for when, value in rows:
        if when.startswith(month):
          writer.writerow([when, f"{convert(float(value)):.3f}" if convert else value])


def train(out, model_dir, base_model=None):
  from trainer.timeseries import timeseries_trainer  # pylint: disable=import-outside-toplevel
  examples = os.path.join(out, ingest_executor.EXAMPLES_KEY)

  def split(name):
    return [os.path.join(examples, f"Split-{name}", "*")]

  serving = os.path.join(model_dir, "serving")
  timeseries_trainer.train(pipeline_config.TimeseriesTrainerConfig(epochs=10), split("train"),
                           split("validation"), split("eval"), contracts.read_features(examples),
                           serving, os.path.join(model_dir, "run"), base_model=base_model)
  with open(os.path.join(model_dir, "run", "baselines.json")) as f:
    return serving, json.load(f)


def test_a_real_outside_series_as_monthly_drops(tmp_path):
  root, cache = str(tmp_path / "data"), str(tmp_path / "cache")
  served, scores = None, []
  for span in (1, 2, 3):
    write_months(root, [span])
    out = str(tmp_path / f"out{span}")
    report = report_of(run_executor(root, out, OPTIONS, pipeline_config.IngestConfig(),
                                    span_cache=cache))
    assert report["spans"]["ingested"] == [span] and report["spans"]["window"] == list(
        range(1, span + 1))
    row, = report["files"]
    assert row["path"] == "B01.csv" and row["outcome"] in ("ingested", "normalised")
    assert [f["path"] for f in row["files"]] == [f"span-{n}/B01.csv" for n in
                                                 range(1, span + 1)]
    model_dir = str(tmp_path / f"model{span}")
    served, figures = train(out, model_dir, base_model=served)
    scores.append(figures)
    warm = os.path.join(model_dir, "run", "warm_start.json")
    assert os.path.isfile(warm) == (span > 1)
  with open(os.path.join(served, "assets", "features.json")) as f:
    assert json.load(f)["features"] == [TEMP]
  newest = scores[-1]
  # Never worse than persistence on the newest eval windows (the residual head's floor keeps
  # the starting forecast where training does not beat it on validation).
  assert newest["model_eval_mae"] <= 1.05 * newest["persistence_mae"], newest

  # A client's raw windows of the newest weeks (the three months as one file): the MAE the
  # Trainer reported on its eval windows.
  joined = str(tmp_path / "B01.csv")
  with open(joined, "w", newline="") as out_file:
    for k, span in enumerate((1, 2, 3)):
      with open(os.path.join(root, f"span-{span}", "B01.csv")) as f:
        lines = f.readlines()
      out_file.writelines(lines if k == 0 else lines[1:])
  client = serve_windows_in_a_plain_tensorflow_process(served, [joined], TIME)
  assert abs(client["mae"] - newest["model_eval_mae"]) <= 0.1 * newest["model_eval_mae"], (
      client, newest)

  # June arrives in degrees F: the sensor gate stops it, naming the column and the span.
  write_months(root, [4], convert=lambda c: c * 9 / 5 + 32)
  report = report_of(run_executor(root, str(tmp_path / "out4"), OPTIONS,
                                  pipeline_config.IngestConfig(), span_cache=cache))
  assert report["spans"]["ingested"] == [4]
  gate = {r.name: r for r in gates.evaluate(report, {}, pipeline_config.GateConfig(), None,
                                            families=("series",))}["sensor_faults"]
  assert not gate.passed and TEMP in gate.message and "span 4" in gate.message, gate.message
