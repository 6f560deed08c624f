"""Time-series data drops (issue 22): `span-<N>/<series>.csv` files of one name are one series
in time order, each span is parsed once, a newer span's rows win where timestamps repeat, and
a newest span that reads like a broken sensor or another unit stops the run at the DataGate."""

import glob
import json
import os

import numpy as np
import pytest

import pipeline_config
from components.data_gate import gates
from components.ingest import executor as ingest_executor
from schemas import contracts
from tests import timeseries_factory as factory
from tests.test_timeseries_ingest import ROW_SPEC, read, run_executor

OPTIONS = pipeline_config.TimeseriesConfig(target_column="temp", lookback=24, delay=6)
SPAN_HOURS = 240


def write_span(root, span, stations=("A", "B"), first=None, hours=SPAN_HOURS, temp=None,
               header=factory.HEADER):
  """`span-<span>/<station>.csv`: hours [first, first + hours) of each station's series;
  `temp(value) -> text` rewrites the temperature column (another unit, a stuck sensor)."""
  first = (span - 1) * SPAN_HOURS if first is None else first
  for station in stations:
    seed = ord(station) - ord("A")
    path = os.path.join(root, f"span-{span}", f"{station}.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
      f.write(",".join(header) + "\n")
      for h in range(first, first + hours):
        cells = factory.row(h, seed)
        if temp is not None:
          cells[1] = temp(float(cells[1]))
        f.write(",".join(cells[:len(header)]) + "\n")


def report_of(artifacts):
  with open(os.path.join(artifacts[ingest_executor.INGEST_REPORT_KEY].uri,
                         "ingest_report.json")) as f:
    return json.load(f)


def ingest(root, out, cache, window=None, options=OPTIONS):
  """The executor as the pipeline runs it: with the span cache and --window."""
  return run_executor(root, out, options, pipeline_config.IngestConfig(window=window),
                      span_cache=cache)


def hours_of(artifacts, split):
  rows = read(artifacts[ingest_executor.EXAMPLES_KEY].uri, split, ROW_SPEC)
  start = factory.START.timestamp()
  return {(r["series"].decode(), int((r["timestamp"] - start) // 3600)) for r in rows}


def test_spans_are_one_series_in_time_order_each_parsed_once(tmp_path):
  root, cache = str(tmp_path / "data"), str(tmp_path / "cache")
  for span in (1, 2, 3):
    write_span(root, span)
  first = ingest(root, str(tmp_path / "run1"), cache)
  report = report_of(first)
  assert report["spans"] == {"available": [1, 2, 3], "window": [1, 2, 3], "newest": 3,
                             "ingested": [1, 2, 3]}
  rows = {r["path"]: r for r in report["files"]}
  # One series per station name, built from its file in every span, oldest first.
  assert sorted(rows) == ["A.csv", "B.csv"]
  assert [f["path"] for f in rows["A.csv"]["files"]] == [
      "span-1/A.csv", "span-2/A.csv", "span-3/A.csv"]
  assert rows["A.csv"]["kept_rows"] == 3 * SPAN_HOURS and rows["A.csv"]["segments"] == 1
  # Splits by time over the whole window: train oldest, eval at the newest end (span 3).
  train, evals = hours_of(first, "train"), hours_of(first, "eval")
  assert max(h for _, h in train) < min(h for _, h in evals)
  assert min(h for _, h in evals) >= 2 * SPAN_HOURS
  assert {s for s, _ in evals} == {"A.csv", "B.csv"}

  # A new span: only it is parsed; the older ones come from the span cache.
  write_span(root, 4)
  second = ingest(root, str(tmp_path / "run2"), cache)
  assert report_of(second)["spans"]["ingested"] == [4]
  assert {f["path"] for f in {r["path"]: r for r in report_of(second)["files"]}[
      "A.csv"]["files"]} == {f"span-{n}/A.csv" for n in (1, 2, 3, 4)}
  # --window 2: the newest two spans only, still split by time.
  windowed = ingest(root, str(tmp_path / "run3"), cache, window=2)
  assert report_of(windowed)["spans"]["window"] == [3, 4]
  assert report_of(windowed)["spans"]["ingested"] == []
  every = set().union(*(hours_of(windowed, s) for s in pipeline_config.SPLITS))
  assert {h for _, h in every} == set(range(2 * SPAN_HOURS, 4 * SPAN_HOURS))
  # A changed file makes its span be parsed again.
  write_span(root, 4, stations=("A",), hours=SPAN_HOURS - 10)
  again = ingest(root, str(tmp_path / "run4"), cache)
  assert report_of(again)["spans"]["ingested"] == [4]


def test_a_newer_span_repeating_timestamps_wins_and_is_reported(tmp_path):
  root = str(tmp_path / "data")
  write_span(root, 1)
  # Span 2 starts 24 hours early, with readings 1 degree higher: the correction wins.
  write_span(root, 2, first=SPAN_HOURS - 24, hours=SPAN_HOURS + 24,
             temp=lambda t: f"{t + 1:.3f}")
  artifacts = ingest(root, str(tmp_path / "out"), str(tmp_path / "cache"))
  row = {r["path"]: r for r in report_of(artifacts)["files"]}["A.csv"]
  assert [(f["path"], f["rows"], f["replaced"]) for f in row["files"]] == [
      ("span-1/A.csv", SPAN_HOURS - 24, 24), ("span-2/A.csv", SPAN_HOURS + 24, 0)]
  assert row["findings"]["replaced_by_newer_span"]["count"] == 24
  assert "span-2/A.csv" in row["findings"]["replaced_by_newer_span"]["examples"][0]
  assert row["kept_rows"] == 2 * SPAN_HOURS
  rows = read(artifacts[ingest_executor.EXAMPLES_KEY].uri, "train", ROW_SPEC)
  hour = SPAN_HOURS - 10
  stamp = factory.START.timestamp() + hour * 3600
  value = next(r["values"][0] for r in rows if r["series"] == b"A.csv" and
               r["timestamp"] == stamp)
  assert value == pytest.approx(factory.values(hour, 0)[0] + 1, abs=1e-3)


@pytest.mark.parametrize("fault, temp", [
    ("unit change", lambda t: f"{t * 9 / 5 + 32:.3f}"),         # °F where the others are °C
    ("stuck sensor", lambda t: "21.5"),
])
def test_a_newest_span_with_a_broken_sensor_is_stopped_naming_column_and_span(
    tmp_path, fault, temp):
  root = str(tmp_path / "data")
  write_span(root, 1)
  write_span(root, 2)
  write_span(root, 3, stations=("A",), temp=temp)
  write_span(root, 3, stations=("B",))
  artifacts = ingest(root, str(tmp_path / "out"), str(tmp_path / "cache"))
  report = report_of(artifacts)
  results = {r.name: r for r in gates.evaluate(report, {}, pipeline_config.GateConfig(),
                                               None, families=("series",))}
  gate = results["sensor_faults"]
  assert not gate.passed and gate.relax == "check_sensors=false"
  assert list(gate.figures["faults"]) == ["A.csv"]
  assert "temp" in gate.message and "span 3" in gate.message and "A.csv" in gate.message
  assert ("unit change" if fault == "unit change" else "stuck sensor") in gate.message
  relaxed = gates.evaluate(report, {}, pipeline_config.GateConfig(check_sensors=False),
                           None, families=("series",))
  assert {r.name: r for r in relaxed}["sensor_faults"].passed


def test_normal_spans_raise_no_sensor_fault_and_a_flat_root_is_unchanged(tmp_path):
  root = str(tmp_path / "data")
  for span in (1, 2, 3):
    write_span(root, span)
  report = report_of(ingest(root, str(tmp_path / "out"), str(tmp_path / "cache")))
  assert all("sensor_fault" not in (r["findings"] or {}) for r in report["files"])
  flat = str(tmp_path / "flat")
  factory.write_series(os.path.join(flat, "A.csv"), 3 * SPAN_HOURS)
  flat_report = report_of(ingest(flat, str(tmp_path / "flat_out"), str(tmp_path / "c2")))
  assert "spans" not in flat_report
  assert [r["path"] for r in flat_report["files"]] == ["A.csv"]
  assert flat_report["files"][0]["files"] is None
  assert glob.glob(str(tmp_path / "c2" / "*")) == []      # a flat root keeps no span cache


def test_a_series_missing_from_the_newest_span_and_a_non_csv_file_are_reported(tmp_path):
  root = str(tmp_path / "data")
  write_span(root, 1)
  write_span(root, 2, stations=("A",))
  with open(os.path.join(root, "span-2", "notes.txt"), "w") as f:
    f.write("not a series")
  report = report_of(ingest(root, str(tmp_path / "out"), str(tmp_path / "cache")))
  rows = {r["path"]: r for r in report["files"]}
  assert rows["span-2/notes.txt"]["outcome"] == "skipped"
  assert [f["path"] for f in rows["B.csv"]["files"]] == ["span-1/B.csv"]
  assert [f["path"] for f in rows["A.csv"]["files"]] == ["span-1/A.csv", "span-2/A.csv"]


def test_a_span_with_its_columns_in_another_order_is_read_by_name(tmp_path):
  """A drop exported with the columns in another order: the same rows as in the usual
  order (cells are matched by column name, never by position)."""
  usual, shuffled = str(tmp_path / "usual"), str(tmp_path / "shuffled")
  for root in (usual, shuffled):
    write_span(root, 1)
  write_span(usual, 2)
  order = [3, 5, 2, 0, 1, 4]                      # station, hour, humid, timestamp, temp, const
  for station in ("A", "B"):
    source = os.path.join(usual, "span-2", f"{station}.csv")
    target = os.path.join(shuffled, "span-2", f"{station}.csv")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source) as f, open(target, "w") as out:
      for line in f:
        cells = line.rstrip("\n").split(",")
        out.write(",".join(cells[i] for i in order) + "\n")
  runs = [ingest(root, str(tmp_path / f"out-{name}"), str(tmp_path / f"cache-{name}"))
          for name, root in (("usual", usual), ("shuffled", shuffled))]
  # Without a served model the newest span's header orders the features (features.json
  # says so, and serving matches columns by name); each value is its column's.
  names = [contracts.read_features(run[ingest_executor.EXAMPLES_KEY].uri)["features"]
           for run in runs]
  assert sorted(names[0]) == sorted(names[1]) == ["humid", "temp"]
  for split in pipeline_config.SPLITS:
    rows = [sorted((r["series"], int(r["timestamp"]),
                    tuple(sorted(zip(features, np.round(r["values"], 4).tolist()))),
                    round(float(r["target"]), 4))
                   for r in read(run[ingest_executor.EXAMPLES_KEY].uri, split, ROW_SPEC))
            for run, features in zip(runs, names)]
    assert rows[0] == rows[1] and rows[0]


def test_a_series_new_in_the_newest_span_and_an_empty_span_folder(tmp_path):
  """A station that first reports in span 3 is a series of its own (its rows only); an empty
  span-4/ folder is a span with no files: the report says so and nothing is lost."""
  root = str(tmp_path / "data")
  write_span(root, 1, stations=("A",))
  write_span(root, 2, stations=("A",))
  write_span(root, 3, stations=("A", "B"))
  report = report_of(ingest(root, str(tmp_path / "out"), str(tmp_path / "cache")))
  rows = {r["path"]: r for r in report["files"]}
  assert [f["path"] for f in rows["A.csv"]["files"]] == [
      "span-1/A.csv", "span-2/A.csv", "span-3/A.csv"]
  assert [f["path"] for f in rows["B.csv"]["files"]] == ["span-3/B.csv"]
  assert rows["B.csv"]["kept_rows"] == SPAN_HOURS
  os.makedirs(os.path.join(root, "span-4"))
  with pytest.raises(pipeline_config.ToolkitError, match="span-4 has no files to read"):
    ingest(root, str(tmp_path / "out2"), str(tmp_path / "cache"))
