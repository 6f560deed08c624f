"""TimeseriesExampleGen executor: `<root>/**/*.csv` (one series per file) -> rows split by
time, the eval windows, and an ingest report with the same contract as the other tasks.

Output layout:
  {examples.uri}/Split-<split>/data_tfrecord-*  one tf.Example per kept time step:
      {series (the file's path), timestamp (epoch s), time_index (step on the series' grid),
       segment, values [features] (raw, in features.json order), target, filled (values
       interpolated in this step)}
  {examples.uri}/features.json   {"features", "target", "time_column", "lookback", "step",
                                  "delay", "seasonal_period", "frequency_seconds"}
  {windows.uri}/Split-eval/data_tfrecord-*   one tf.Example per eval window (what the
      Evaluator judges): {window [lookback * features] raw, row-major, target, persistence,
      seasonal_naive (when the season's row is inside the window), series, timestamp (of the
      target), window_end (of the last row)}
  {ingest_report.uri}/ingest_report.{json,md}   one record per file (components/ingest/
      report.py) with row-level findings, plus "columns" (kept, left out and why)
"""

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import pipeline_config
from components.ingest import executor as ingest_executor
from components.ingest import records, report as ingest_report, walk as ingest_walk
from components.ingest.example_encoding import encode_example
from components.timeseries_example_gen import series as ts
from schemas import contracts, windows as windowing

WINDOWS_KEY = "windows"
SERVED_MODELS_KEY = "served_models"
SERVED_FEATURES_ASSET = os.path.join("assets", "features.json")
FEATURES_FILE = contracts.FEATURES_FILE
EVAL_SPLIT = "eval"
NAME = "TimeseriesExampleGen"


read_features = contracts.read_features


SERIES_SUFFIX = ".csv"


def seasonal_period(options: pipeline_config.TimeseriesConfig, frequency_seconds) -> int:
  return options.seasonal_period or windowing.default_seasonal_period(frequency_seconds)


def _drop_duplicate_files(keyed) -> List[ts.ParsedSeries]:
  """Identical files are one series: the first path is read, the others are skipped."""
  group = sorted(keyed[1], key=lambda p: p.record.path)
  first = group[0]
  for other in group[1:]:
    if first.record.outcome == records.REJECTED:
      other.record.outcome, other.record.reason = first.record.outcome, first.record.reason
    else:
      other.record.outcome = records.SKIPPED
      other.record.reason = f"duplicate_of: {first.record.path}"
    other.cells = None
  return group


def row_examples(done: ts.FinishedSeries, split: str, columns: dict) -> List[bytes]:
  if done.values is None or columns.get("error"):
    return []
  target = columns["features"].index(columns["target"])
  series = done.record.path.encode("utf-8")
  return [encode_example({
      "series": series, "timestamp": int(round(done.times[i])),
      "time_index": int(done.time_index[i]), "segment": int(done.segment[i]),
      "values": done.values[i], "target": float(done.values[i, target]),
      "filled": int(done.filled[i]),
  }) for i in np.flatnonzero(done.split == split)]


def eval_window_examples(done: ts.FinishedSeries, columns: dict,
                         options: pipeline_config.TimeseriesConfig) -> List[bytes]:
  """The windows of the eval split, with both common-sense forecasts for the same target."""
  if done.values is None or columns.get("error"):
    return []
  target = columns["features"].index(columns["target"])
  lag = windowing.seasonal_lag(options.delay, seasonal_period(
      options, columns["frequency_seconds"]), options.lookback)
  series = done.record.path.encode("utf-8")
  out = []
  for chunk in ts.chunks(done):
    if chunk.split != EVAL_SPLIT:
      continue
    for t in windowing.window_ends(chunk.start, chunk.end, options.lookback, options.delay):
      features = {
          "window": done.values[t - options.lookback + 1:t + 1].reshape(-1),
          "target": float(done.values[t + options.delay, target]),
          "persistence": float(done.values[t, target]),
          "series": series,
          "timestamp": int(round(done.times[t + options.delay])),
          "window_end": int(round(done.times[t])),
      }
      if lag is not None:
        features["seasonal_naive"] = float(done.values[t - lag, target])
      out.append(encode_example(features))
  return out


def merged_quantiles(rows: List[dict]) -> Dict[str, List[float]]:
  """Per feature, the quantiles of all kept series together: the mixture of each series'
  quantile function, weighted by its kept rows (the drift gate's profile)."""
  per_feature: Dict[str, list] = {}
  for row in rows:
    for name, quantiles in (row.get("quantiles") or {}).items():
      per_feature.setdefault(name, []).append((row["kept_rows"], np.asarray(quantiles)))
  merged = {}
  for name, parts in per_feature.items():
    lo = min(q[0] for _, q in parts)
    hi = max(q[-1] for _, q in parts)
    grid = np.linspace(lo, hi, 512)
    total = sum(w for w, _ in parts)
    cdf = sum(w * np.interp(grid, q, ts.QUANTILES) for w, q in parts) / total
    merged[name] = [round(float(v), 6) for v in np.interp(ts.QUANTILES, cdf, grid)]
  return merged


def series_profile(kept_rows: List[dict]) -> dict:
  return {"distributions": {}, "medians": {}, "quantiles": merged_quantiles(kept_rows)}


def write_report(rows: List[dict], skipped_rows: List[dict], columns: dict,
                 options: pipeline_config.TimeseriesConfig, uri: str) -> None:
  report = ingest_report.build_report(rows + skipped_rows, [], series_profile)
  kept = [r for r in report["files"] if r["outcome"] in records.KEPT]
  for key in ("rows_per_split", "windows_per_split"):
    totals: Dict[str, int] = {}
    for r in kept:
      for split, n in (r.get(key) or {}).items():
        totals[split] = totals.get(split, 0) + n
    report["per_split" if key == "rows_per_split" else key] = totals
  frequency = columns.get("frequency_seconds")
  report["columns"] = {
      "time": options.time_column, "target": options.target_column,
      "features": columns.get("features", []), "left_out": columns.get("left_out", {}),
      "error": columns.get("error"), "contract": columns.get("contract")}
  report["windows"] = {
      "lookback": options.lookback, "step": options.step, "delay": options.delay,
      "seasonal_period": seasonal_period(options, frequency),
      "frequency_seconds": frequency}
  ingest_report.write_report(report, uri)


def served_contract(served_models: "str | None") -> "dict | None":
  """The newest served model's inputs: {"served_model", "features"} from its
  assets/features.json, or None when nothing was pushed yet."""
  if not served_models:
    return None
  from components.pushed_model.executor import latest_pushed  # pylint: disable=import-outside-toplevel
  folder = latest_pushed(served_models)
  if folder is None:
    return None
  path = os.path.join(folder, SERVED_FEATURES_ASSET)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return {"served_model": folder, "features": list(json.load(f)["features"])}


def apply_contract(columns: dict, contract: "dict | None",
                   options: pipeline_config.TimeseriesConfig) -> dict:
  """Matches the columns found to the served model's inputs by name, never by position: the
  same set in another order is put in the contract's order; new or missing columns are an
  error naming them and the flags that decide (unless on_feature_change="accept")."""
  if contract is None or columns.get("error"):
    return columns
  found, served = list(columns["features"]), contract["features"]
  added = [c for c in found if c not in served]
  missing = [c for c in served if c not in found]
  record = {"served_model": contract["served_model"], "served_features": served,
            "added": added, "missing": missing, "reordered": False, "accepted": False}
  if not added and not missing:
    record["reordered"] = found != served
    return {**columns, "features": list(served), "contract": record}
  if options.on_feature_change == "accept":
    record["accepted"] = True
    return {**columns, "contract": record}
  usable = set(columns.get("usable", found)) | set(found)
  fixes = []
  if not [c for c in missing if c not in usable]:
    fixes.append(f"to keep the served inputs (new columns left out), pass --features "
                 f"{','.join(served)}")
  fixes.append("to train a model on the columns found, pass --on-feature-change accept (that "
               "run is judged on its own thresholds, not against the served model, and "
               "clients must then send the new columns)")
  return {**columns, "contract": record, "error": (
      "Feature contract breached: the data root's model inputs differ from the served "
      f"model's ({os.path.join(contract['served_model'], SERVED_FEATURES_ASSET)}: "
      f"{', '.join(served)})"
      + (f"; new columns: {', '.join(added)}" if added else "")
      + (f"; missing columns: {', '.join(missing)}" if missing else "")
      + ". Nothing was trained or pushed; " + "; or ".join(fixes) + ".")}


def _decide(summaries, options, contract=None):
  try:
    columns = ts.decide_columns(summaries, options)
  except pipeline_config.ToolkitError as e:     # raised after the report is written
    return {"header": None, "features": [], "target": options.target_column, "left_out": {},
            "error": str(e)}
  return apply_contract(columns, contract, options)


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads CSV series under input_base; writes rows, eval windows and an IngestReport."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    root = exec_properties[ingest_executor.INPUT_BASE_KEY]
    ingest = pipeline_config.from_dict(pipeline_config.IngestConfig, json.loads(
        exec_properties[ingest_executor.INGEST_CONFIG_KEY]))
    ingest.validate()
    options = pipeline_config.from_dict(pipeline_config.TimeseriesConfig, json.loads(
        exec_properties.get(ingest_executor.TASK_CONFIG_KEY) or "{}"))
    options.validate()
    examples = artifact_utils.get_single_instance(output_dict[ingest_executor.EXAMPLES_KEY])
    windows = artifact_utils.get_single_instance(output_dict[WINDOWS_KEY])
    report_artifact = artifact_utils.get_single_instance(
        output_dict[ingest_executor.INGEST_REPORT_KEY])

    walk = ingest_walk.check_data_root(root, "timeseries", ts.SeriesRecord, classes=False)
    series_files = [r for r in walk.candidates if r.path.lower().endswith(SERIES_SUFFIX)]
    for record in walk.candidates:
      if not record.path.lower().endswith(SERIES_SUFFIX):
        record.outcome, record.reason = records.SKIPPED, "not_csv: only *.csv files are series"
        walk.skipped.append(record)
    if not series_files:
      raise pipeline_config.ToolkitError(
          f"Data root {root} has no *.csv files; put one CSV file per series under it.")
    splits = [(name, ingest.split_percentages[name]) for name in pipeline_config.SPLITS]
    split_names = [name for name, _ in splits]
    examples.split_names = artifact_utils.encode_split_names(split_names)
    windows.split_names = artifact_utils.encode_split_names([EVAL_SPLIT])
    contract = served_contract(exec_properties.get(SERVED_MODELS_KEY))
    print(f"[{NAME}] reading {len(series_files)} CSV files under {root} (target "
          f"{options.target_column!r}, time column {options.time_column!r})", flush=True)

    with self._make_beam_pipeline() as p:
      parsed = (
          p
          | "ListFiles" >> beam.Create(series_files, reshuffle=False)
          | "ParseCsv" >> beam.Map(ts.parse_file, options, ingest.max_file_bytes)
          | "KeyByContent" >> beam.Map(
              lambda s: (s.record.sha256 or "unread:" + s.record.path, s))
          | "GroupByContent" >> beam.GroupByKey()
          | "DropDuplicateFiles" >> beam.FlatMap(_drop_duplicate_files))
      columns = beam.pvalue.AsSingleton(
          parsed
          | "ColumnSummaries" >> beam.Map(ts.column_summary)
          | "AllSummaries" >> beam.combiners.ToList()
          | "DecideColumns" >> beam.Map(_decide, options, contract))
      finished = parsed | "FinishSeries" >> beam.Map(ts.finish_series, columns, options,
                                                     splits)
      for split in split_names:
        _ = (finished
             | f"Rows[{split}]" >> beam.FlatMap(row_examples, split, columns)
             | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                 os.path.join(examples.uri, f"Split-{split}", "data_tfrecord")))
      _ = (finished
           | "EvalWindows" >> beam.FlatMap(eval_window_examples, columns, options)
           | "WriteWindows" >> beam.io.WriteToTFRecord(
               os.path.join(windows.uri, f"Split-{EVAL_SPLIT}", "data_tfrecord")))
      _ = (finished
           | "ReportRows" >> beam.Map(lambda s: s.record.report_row())
           | "CollectRows" >> beam.combiners.ToList()
           | "WriteReport" >> beam.Map(write_report, [s.report_row() for s in walk.skipped],
                                       columns, options, report_artifact.uri))

    report = ingest_report.read_report(report_artifact.uri)
    if report["columns"]["error"]:
      raise pipeline_config.ToolkitError(
          report["columns"]["error"] + " See the ingest report " + os.path.join(
              report_artifact.uri, ingest_report.REPORT_MARKDOWN) + ".")
    description = {"features": report["columns"]["features"],
                   "target": options.target_column, "time_column": options.time_column,
                   **report["windows"]}
    for artifact in (examples, windows):
      with tf.io.gfile.GFile(os.path.join(artifact.uri, FEATURES_FILE), "w") as f:
        json.dump(description, f, indent=1)
    totals = report["totals"]
    for key in ("found", "ingested", "normalised", "rejected", "skipped"):
      report_artifact.set_int_custom_property(key, totals[key])
    examples.set_string_custom_property("features", json.dumps(description["features"]))
    print(f"[{NAME}] found {totals['found']} files: {totals['ingested']} ingested, "
          f"{totals['normalised']} normalised, {totals['rejected']} rejected, "
          f"{totals['skipped']} skipped; rows per split {report['per_split']}, windows per "
          f"split {report['windows_per_split']}; features {description['features']}"
          + (f"; left out {sorted(report['columns']['left_out'])}"
             if report['columns']['left_out'] else ""), flush=True)
