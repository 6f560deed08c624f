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

import hashlib
import json
import os
import pickle
from typing import Any, Dict, List

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import pipeline_config
from components.ingest import executor as ingest_executor
from components.ingest import records, report as ingest_report, spans as span_lib, \
    walk as ingest_walk
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


def _series_files(span: span_lib.Span, root: str):
  """(the span's CSV files, its other files as skipped records)."""
  walk = ingest_walk.check_data_root(span.root(root), "timeseries", ts.SeriesRecord,
                                     classes=False)
  for record in walk.candidates:
    if not record.path.lower().endswith(SERIES_SUFFIX):
      record.outcome, record.reason = records.SKIPPED, "not_csv: only *.csv files are series"
      walk.skipped.append(record)
  for record in walk.skipped:
    record.path = f"{span.folder}/{record.path}" if span.folder else record.path
  return [r for r in walk.candidates if r.path.lower().endswith(SERIES_SUFFIX)], walk.skipped


def _parse(unit, options, max_bytes: int,
           folders: Dict[int, "str | None"]) -> ts.ParsedSeries:
  """parse_file on (span number, record), then the series' name in its span and the file's
  path from the data root."""
  span, record = unit
  key = record.path
  parsed = ts.parse_file(record, options, max_bytes)
  parsed.key, parsed.span = key, span
  if folders[span]:
    record.path = f"{folders[span]}/{key}"
  return parsed


# A span's parsed files are kept under the span cache, addressed by the span's content and the
# settings parsing reads, so a span is read once however many runs its window spans.
SPAN_PARSE_VERSION = 1


def _cache_entry(cache_root: str, span: span_lib.Span, root: str,
                 options: pipeline_config.TimeseriesConfig,
                 ingest: pipeline_config.IngestConfig) -> str:
  manifest = f"{cache_root.rstrip('/')}/manifests/{span.folder}.json"
  fingerprint = ingest_walk.content_fingerprint(span.root(root), manifest)
  key = hashlib.sha256(json.dumps({
      "version": SPAN_PARSE_VERSION, "fingerprint": fingerprint,
      "time_column": options.time_column, "target_column": options.target_column,
      "delimiter": options.delimiter, "max_file_bytes": ingest.max_file_bytes},
      sort_keys=True).encode()).hexdigest()[:24]
  return f"{cache_root.rstrip('/')}/timeseries/{span.folder}-{key}.pickle"


def _read_cached(entry: str) -> "List[ts.ParsedSeries] | None":
  if not tf.io.gfile.exists(entry):
    return None
  with tf.io.gfile.GFile(entry, "rb") as f:
    return pickle.load(f)


def _write_cached(keyed, entries: Dict[int, str]) -> None:
  span, parsed = keyed
  entry = entries.get(span)
  if not entry:
    return
  tf.io.gfile.makedirs(os.path.dirname(entry))
  partial = f"{entry}.partial"
  with tf.io.gfile.GFile(partial, "wb") as f:
    pickle.dump(sorted(parsed, key=lambda s: s.record.path), f)
  tf.io.gfile.rename(partial, entry, overwrite=True)      # whole or absent


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
                 options: pipeline_config.TimeseriesConfig, uri: str,
                 spans: "dict | None" = None) -> None:
  report = ingest_report.build_report(rows + skipped_rows, [], series_profile)
  if spans:
    report["spans"] = spans
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

    available = span_lib.detect_spans(root)
    chosen = span_lib.window_ending_at(
        available, ingest_executor.resolved_newest_span(exec_properties), ingest.window)
    newest = chosen[-1]
    drops = newest.folder is not None
    spans = [(span, *_series_files(span, root)) for span in chosen]
    skipped = [r for _, _, others in spans for r in others]
    if not any(files for _, files, _ in spans):
      raise pipeline_config.ToolkitError(
          f"Data root {root} has no *.csv files; put one CSV file per series under it"
          + (" (span-<N>/<series>.csv for drops)." if drops else "."))
    splits = [(name, ingest.split_percentages[name]) for name in pipeline_config.SPLITS]
    split_names = [name for name, _ in splits]
    examples.split_names = artifact_utils.encode_split_names(split_names)
    windows.split_names = artifact_utils.encode_split_names([EVAL_SPLIT])
    contract = served_contract(exec_properties.get(SERVED_MODELS_KEY))
    cache_root = exec_properties.get(ingest_executor.SPAN_CACHE_KEY) or os.path.join(
        examples.uri, "_spans")
    cached, to_parse = [], []
    for span, files, _ in spans:
      entry = _cache_entry(cache_root, span, root, options, ingest) if drops else None
      found = entry and _read_cached(entry)
      if found is not None:
        print(f"[{NAME}] span {span.number}: reusing its ingestion (same files, same "
              "settings)", flush=True)
        cached += found
      else:
        to_parse.append((span, files, entry))
    if drops:
      print(f"[{NAME}] spans {[s.number for s in available]} under {root}; window "
            f"{[s.number for s in chosen]}", flush=True)
    print(f"[{NAME}] reading {sum(len(f) for _, f, _ in to_parse)} CSV files under {root} "
          f"(target {options.target_column!r}, time column {options.time_column!r})",
          flush=True)

    with self._make_beam_pipeline() as p:
      fresh = (
          p
          | "ListFiles" >> beam.Create(
              [(span.number, record) for span, files, _ in to_parse for record in files],
              reshuffle=False)
          | "ParseCsv" >> beam.Map(_parse, options, ingest.max_file_bytes,
                                   {s.number: s.folder for s, _, _ in spans})
          | "KeyByContent" >> beam.Map(
              lambda s: ((s.span, s.record.sha256 or "unread:" + s.record.path), s))
          | "GroupByContent" >> beam.GroupByKey()
          | "DropDuplicateFiles" >> beam.FlatMap(_drop_duplicate_files))
      if drops:
        entries = {span.number: entry for span, _, entry in to_parse}
        _ = (fresh
             | "BySpan" >> beam.Map(lambda s: (s.span, s))
             | "GroupBySpan" >> beam.GroupByKey()
             | "CacheSpans" >> beam.Map(_write_cached, entries))
        parsed = (
            (fresh, p | "CachedSpans" >> beam.Create(cached, reshuffle=False))
            | "AllSpans" >> beam.Flatten()
            | "KeyBySeries" >> beam.Map(lambda s: (s.key, s))
            | "GroupBySeries" >> beam.GroupByKey()
            | "MergeSpans" >> beam.FlatMap(lambda keyed: ts.merge_spans(*keyed)))
      else:
        parsed = fresh
      columns = beam.pvalue.AsSingleton(
          parsed
          | "ColumnSummaries" >> beam.Map(ts.column_summary)
          | "AllSummaries" >> beam.combiners.ToList()
          | "DecideColumns" >> beam.Map(_decide, options, contract))
      finished = parsed | "FinishSeries" >> beam.Map(
          ts.finish_series, columns, options, splits,
          newest.number if drops and len(chosen) > 1 else None)
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
           | "WriteReport" >> beam.Map(
               write_report, [s.report_row() for s in skipped], columns, options,
               report_artifact.uri,
               {"available": [s.number for s in available],
                "window": [s.number for s in chosen], "newest": newest.number,
                "ingested": [s.number for s, _, _ in to_parse]} if drops else None))

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
