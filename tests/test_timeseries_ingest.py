"""TimeseriesExampleGen: the checks as functions, and the real executor (Beam) on a folder of
CSV series with every finding, a file with another header and a duplicate file."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

import pipeline_config
from components.data_gate import gates
from components.ingest import executor as ingest_executor, records, report as ingest_report
from components.ingest.component import IngestReport
from components.timeseries_example_gen import executor, series
from schemas import windows
from tests import timeseries_factory as factory

OPTIONS = pipeline_config.TimeseriesConfig(target_column="temp", lookback=24, delay=6)


def run_executor(root, out, options=OPTIONS, ingest=None, served_models=None, span_cache=None):
  """The executor as the pipeline runs it; `span_cache` as the pipeline passes it for drops."""
  artifacts = {}
  for key, cls in ((ingest_executor.EXAMPLES_KEY, standard_artifacts.Examples),
                   (executor.WINDOWS_KEY, standard_artifacts.Examples),
                   (ingest_executor.INGEST_REPORT_KEY, IngestReport)):
    artifacts[key] = cls()
    artifacts[key].uri = os.path.join(out, key)
  executor.Executor().Do({}, {k: [a] for k, a in artifacts.items()}, {
      ingest_executor.INPUT_BASE_KEY: root,
      ingest_executor.INGEST_CONFIG_KEY: pipeline_config.to_json(
          ingest or pipeline_config.IngestConfig()),
      ingest_executor.TASK_CONFIG_KEY: pipeline_config.to_json(options),
      **({executor.SERVED_MODELS_KEY: served_models} if served_models else {}),
      **({ingest_executor.SPAN_CACHE_KEY: span_cache} if span_cache else {})})
  return artifacts


def read(uri, split, spec):
  files = glob.glob(os.path.join(uri, f"Split-{split}", "data_tfrecord-*"))
  rows = []
  for batch in tf.data.TFRecordDataset(files).batch(4096):
    parsed = {k: v.numpy() for k, v in tf.io.parse_example(batch, spec).items()}
    rows += [{k: v[i] for k, v in parsed.items()} for i in range(len(batch))]
  return rows


ROW_SPEC = {"series": tf.io.FixedLenFeature([], tf.string),
            "timestamp": tf.io.FixedLenFeature([], tf.int64),
            "time_index": tf.io.FixedLenFeature([], tf.int64),
            "segment": tf.io.FixedLenFeature([], tf.int64),
            "filled": tf.io.FixedLenFeature([], tf.int64),
            "values": tf.io.FixedLenFeature([2], tf.float32),
            "target": tf.io.FixedLenFeature([], tf.float32)}


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("messy")
  root = str(tmp / "data")
  expect = factory.write_messy(os.path.join(root, "messy.csv"))
  factory.write_series(os.path.join(root, "clean", "b.csv"), 600, seed=1)
  shutil.copy(os.path.join(root, "clean", "b.csv"), os.path.join(root, "copy_of_b.csv"))
  # A long gap inside the eval period: a segment break there.
  factory.write_series(os.path.join(root, "gappy.csv"), 600, seed=2, gap=range(540, 550))
  # Another header, first in path order (the others' header and column order still win).
  with open(os.path.join(root, "a_other.csv"), "w") as f:
    f.write("timestamp,temp,pressure\n2024-01-01T00:00:00Z,1,1000\n")
  with open(os.path.join(root, "README.md"), "w") as f:
    f.write("# notes about the data\n")
  with open(os.path.join(root, ".hidden.csv"), "w") as f:
    f.write("never read")
  artifacts = run_executor(root, str(tmp / "out"))
  report = ingest_report.read_report(artifacts[ingest_executor.INGEST_REPORT_KEY].uri)
  return root, expect, artifacts, report


def test_every_finding_is_in_the_report_with_its_line_numbers(messy_run):
  _, expect, _, report = messy_run
  files = {r["path"]: r for r in report["files"]}
  assert report["totals"]["found"] == 7 == len(report["files"])
  assert report["totals"]["found"] == sum(report["totals"][o] for o in records.OUTCOMES)
  messy = files["messy.csv"]
  assert messy["outcome"] == "normalised"
  findings = messy["findings"]
  for kind in ("unparseable_row", "unparseable_value", "duplicate_timestamp", "sorted"):
    listed = " ".join(findings[kind]["examples"])
    for line in expect[kind]:
      assert f"line {line}" in listed, (kind, line, findings[kind])
  assert findings["unparseable_row"]["count"] == 2
  assert "does not match iso8601" in " ".join(findings["unparseable_row"]["examples"])
  assert "temp 'warm' is not a number" in findings["unparseable_value"]["examples"][0]
  assert findings["interpolated"]["count"] == messy["interpolated"] == expect["interpolated"]
  assert findings["missing_rows"]["count"] == expect["missing_rows"]
  assert messy["segments"] == 2 and findings["segments"]["count"] == 2
  assert messy["frequency"] == "1h"
  assert files["clean/b.csv"]["outcome"] == "ingested" and not files["clean/b.csv"]["findings"]
  assert files["copy_of_b.csv"]["reason"] == "duplicate_of: clean/b.csv"
  assert files["a_other.csv"]["outcome"] == "rejected"
  assert files["a_other.csv"]["reason"].startswith("header_mismatch")
  assert "pressure" in files["a_other.csv"]["reason"]
  assert files["README.md"]["outcome"] == "skipped"
  assert files["README.md"]["reason"].startswith("not_csv")
  assert files["gappy.csv"]["segments"] == 2
  assert files[".hidden.csv"]["reason"] == "hidden_file"
  columns = report["columns"]
  assert columns["features"] == ["temp", "humid"]
  assert columns["left_out"]["station"].startswith("non_numeric")
  assert columns["left_out"]["const"].startswith("constant")
  assert columns["left_out"]["hour"].startswith("time_derived")
  markdown = open(os.path.join(messy_run[2][ingest_executor.INGEST_REPORT_KEY].uri,
                               ingest_report.REPORT_MARKDOWN)).read()
  assert f"line {expect['unparseable_row'][0]}" in markdown and "## Columns" in markdown


def test_rows_are_split_by_time_and_windows_never_cross_a_boundary(messy_run):
  _, _, artifacts, report = messy_run
  uri = artifacts[ingest_executor.EXAMPLES_KEY].uri
  rows = {s: read(uri, s, ROW_SPEC) for s in pipeline_config.SPLITS}
  assert {s: len(r) for s, r in rows.items()} == report["per_split"]
  for name in (b"messy.csv", b"clean/b.csv"):
    stamps = {s: sorted(int(r["timestamp"]) for r in rows[s] if r["series"] == name)
              for s in pipeline_config.SPLITS}
    assert stamps["train"][-1] < stamps["validation"][0]
    assert stamps["validation"][-1] < stamps["eval"][0]
    total = sum(len(v) for v in stamps.values())
    assert abs(len(stamps["train"]) / total - 0.7) < 0.03
  assert all(np.isfinite(r["values"]).all() for s in rows.values() for r in s)
  # The long gap never became rows; the short ones were filled (and say so).
  messy = sorted((r for s in rows.values() for r in s if r["series"] == b"messy.csv"),
                 key=lambda r: int(r["time_index"]))
  assert {int(r["segment"]) for r in messy} == {0, 1}
  messy_row = next(r for r in report["files"] if r["path"] == "messy.csv")
  assert sum(int(r["filled"]) for r in messy) == messy_row["interpolated"] == 4
  hours = [(int(r["timestamp"]) - int(messy[0]["timestamp"])) // 3600 for r in messy]
  assert 305 not in hours and 403 in hours and 200 in hours

  window_spec = {"window": tf.io.FixedLenFeature([OPTIONS.lookback * 2], tf.float32),
                 "target": tf.io.FixedLenFeature([], tf.float32),
                 "persistence": tf.io.FixedLenFeature([], tf.float32),
                 "seasonal_naive": tf.io.FixedLenFeature([], tf.float32),
                 "series": tf.io.FixedLenFeature([], tf.string),
                 "timestamp": tf.io.FixedLenFeature([], tf.int64),
                 "window_end": tf.io.FixedLenFeature([], tf.int64)}
  eval_windows = read(artifacts[executor.WINDOWS_KEY].uri, "eval", window_spec)
  assert len(eval_windows) == report["windows_per_split"]["eval"] > 0
  by_time = {(r["series"], int(r["timestamp"])): r for r in rows["eval"]}
  gappy_windows = 0
  for w in eval_windows:
    end = int(w["window_end"])
    # Off-by-one check: the target is the row `delay` steps after the window's last row.
    assert int(w["timestamp"]) == end + OPTIONS.delay * 3600
    assert w["target"] == by_time[(w["series"], int(w["timestamp"]))]["target"]
    window = w["window"].reshape(OPTIONS.lookback, 2)
    assert window[-1, 0] == w["persistence"] == by_time[(w["series"], end)]["target"]
    # Seasonal naive: the same hour one day before the target.
    assert w["seasonal_naive"] == by_time[(w["series"], int(w["timestamp"]) - 24 * 3600)][
        "target"]
    # Every row the window reads, and its target, is an eval row of its series and segment.
    touched = [by_time.get((w["series"], end + k * 3600))
               for k in range(-OPTIONS.lookback + 1, OPTIONS.delay + 1)]
    assert all(r is not None for r in touched)
    assert len({int(r["segment"]) for r in touched}) == 1
    for k, r in enumerate(touched[:OPTIONS.lookback]):
      np.testing.assert_array_equal(window[k], r["values"])
    gappy_windows += w["series"] == b"gappy.csv"
  # gappy.csv: eval is steps 480-599 with 540-549 missing: 60 and 50 steps, each with
  # room for 60 - 24 - 6 + 1 = 31 and 50 - 29 = 21 windows.
  assert gappy_windows == 31 + 21
  described = executor.read_features(artifacts[ingest_executor.EXAMPLES_KEY].uri)
  assert described["features"] == ["temp", "humid"] and described["seasonal_period"] == 24


def test_gates_judge_missing_values_segments_and_short_series(messy_run):
  _, _, _, report = messy_run
  config = pipeline_config.GateConfig(max_rejected_fraction=0.5)
  results = {r.name: r for r in gates.evaluate(report, {}, config, None, ("series",))}
  assert results["max_missing_fraction"].passed
  assert results["max_segments_per_series"].passed
  assert results["min_windows_per_split"].passed
  assert "min_images_per_class" not in results
  strict = pipeline_config.GateConfig(max_rejected_fraction=0.5, max_segments_per_series=1,
                                      max_missing_fraction=0.001, min_windows_per_split=500)
  results = {r.name: r for r in gates.evaluate(report, {}, strict, None, ("series",))}
  assert not results["max_segments_per_series"].passed
  assert results["max_segments_per_series"].relax == "max_segments_per_series=2"
  assert not results["max_missing_fraction"].passed
  assert not results["min_windows_per_split"].passed
  assert "messy.csv" in results["min_windows_per_split"].message


def test_feature_drift_is_judged_against_the_last_accepted_drop(messy_run):
  profile = messy_run[3]["profile"]
  same = gates.evaluate(messy_run[3], {}, pipeline_config.GateConfig(
      max_rejected_fraction=0.5), profile)
  assert {r.name: r.passed for r in same}["max_feature_drift"]
  shifted = json.loads(json.dumps(profile))
  shifted["quantiles"]["temp"] = [q + 8.0 for q in shifted["quantiles"]["temp"]]
  results = {r.name: r for r in gates.evaluate(messy_run[3], {}, pipeline_config.GateConfig(
      max_rejected_fraction=0.5), shifted)}
  drift = results["max_feature_drift"]
  assert not drift.passed and "temp" in drift.message and "humid" not in drift.message


def test_jensen_shannon_is_zero_for_the_same_distribution_and_grows_with_a_shift():
  q = list(np.quantile(np.random.default_rng(0).normal(size=5000), series.QUANTILES))
  assert gates.jensen_shannon(q, q) == pytest.approx(0.0, abs=1e-9)
  # A column of mostly zeros (rain): its percentiles repeat, and it still does not drift
  # against itself, but does when the rain doubles.
  rain = np.concatenate([np.zeros(900), np.random.default_rng(1).exponential(2, 100)])
  dry = list(np.quantile(rain, series.QUANTILES))
  assert gates.jensen_shannon(dry, dry) == pytest.approx(0.0, abs=1e-9)
  wet = list(np.quantile(np.concatenate([np.zeros(800), rain[800:], rain[900:]]),
                         series.QUANTILES))
  assert gates.jensen_shannon(dry, wet) > 0.01
  small = gates.jensen_shannon(q, [v + 0.1 for v in q])
  large = gates.jensen_shannon(q, [v + 2.0 for v in q])
  assert 0 < small < 0.05 < large <= 1.0


@pytest.mark.parametrize("values,fmt", [
    (["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"], "iso8601"),
    (["2024-01-01 00:00:00", "2024-01-01 01:00:00"], "iso8601"),
    (["01.01.2009 00:10:00", "13.01.2009 00:20:00"], "%d.%m.%Y %H:%M:%S"),    # Jena climate
    (["01/02/2024 00:00", "01/13/2024 00:00"], "%m/%d/%Y %H:%M"),
    (["01/02/2024 00:00", "13/01/2024 00:00"], "%d/%m/%Y %H:%M"),
    (["1704067200", "1704070800"], "epoch_seconds"),
])
def test_time_formats(values, fmt):
  assert series.detect_time_format(values) == fmt


def test_day_first_dates_are_read_day_first_from_a_sample_across_the_column():
  hours = [f"{d:02d}/01/2024 {h:02d}:00" for d in range(1, 31) for h in range(24)]
  assert series.detect_time_format(hours) == "%d/%m/%Y %H:%M"


def test_time_derived_columns_include_local_hours_with_daylight_saving():
  times = np.arange(0, 365 * 24) * 3600.0 + 1356998400       # 2013, hourly, UTC
  fields = series._calendar_fields(times, -5)                 # New York winter time
  summer = series._calendar_fields(times, -4)["hour"]
  local = np.where((times > 1363000000) & (times < 1383500000), summer, fields["hour"])
  assert series.time_derived(times, local.astype(float)) == "the timestamp's hour"
  assert series.time_derived(times, fields["month"].astype(float)) == "the timestamp's month"
  assert series.time_derived(times, np.arange(len(times), dtype=float)) == "a row counter"
  weather = 10 + 5 * np.sin(times / 86400 * 2 * np.pi)
  assert series.time_derived(times, np.round(weather)) is None


def test_unusable_target_or_features_stop_with_a_message(tmp_path):
  root = str(tmp_path)
  factory.write_series(os.path.join(root, "a.csv"), 100)
  record = series.SeriesRecord(path="a.csv", source=os.path.join(root, "a.csv"))
  parsed = series.parse_file(record, OPTIONS, 10 ** 9)
  summary = [series.column_summary(parsed)]
  with pytest.raises(pipeline_config.ToolkitError, match="station.*non_numeric"):
    series.decide_columns(summary, pipeline_config.TimeseriesConfig(target_column="station"))
  with pytest.raises(pipeline_config.ToolkitError, match="wind: not in the header"):
    series.decide_columns(summary, pipeline_config.TimeseriesConfig(
        target_column="temp", features=("humid", "wind")))
  kept = series.decide_columns(summary, pipeline_config.TimeseriesConfig(
      target_column="temp", features=("humid", "hour")))
  assert kept["features"] == ["temp", "humid", "hour"]      # asked for: kept, target first
  missing = series.parse_file(series.SeriesRecord(path="a.csv", source=record.source),
                              pipeline_config.TimeseriesConfig(target_column="wind"), 10 ** 9)
  assert missing.record.outcome == "rejected"
  assert missing.record.reason.startswith("no_target_column")


def test_window_positions_and_seasonal_lag():
  assert list(windows.window_ends(10, 20, lookback=4, delay=2)) == [13, 14, 15, 16, 17]
  assert windows.count_windows(10, 4, 2) == 5
  assert len(windows.window_ends(0, 5, lookback=4, delay=2)) == 0
  assert list(windows.sampled_rows(6, 2)) == [1, 3, 5]          # ends at the last row
  assert windows.seasonal_lag(delay=24, period=24, lookback=120) == 0
  assert windows.seasonal_lag(delay=6, period=24, lookback=24) == 18
  assert windows.seasonal_lag(delay=6, period=168, lookback=24) is None
  assert windows.default_seasonal_period(3600) == 24
  assert windows.default_seasonal_period(600) == 144
  assert windows.default_seasonal_period(86400) == 7


def test_an_unusable_target_stops_the_executor_after_writing_the_report(tmp_path):
  root = str(tmp_path / "data")
  factory.write_series(os.path.join(root, "a.csv"), 100)
  options = pipeline_config.TimeseriesConfig(target_column="const")
  with pytest.raises(pipeline_config.ToolkitError, match="'const' cannot be forecast: "
                     "constant: every value is 5"):
    run_executor(root, str(tmp_path / "out"), options)
  report = ingest_report.read_report(str(tmp_path / "out" / "ingest_report"))
  assert report["files"][0]["outcome"] == "rejected"
  assert report["files"][0]["reason"].startswith("not_ingested: The target column 'const'")
