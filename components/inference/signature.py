"""A pushed model's serving signature as a client calls it, file by file: what `predict`
(pipeline/predict.py), `predict --beam` and the pipeline's BatchInference step share, so their
rows are one.

The model says what it takes (its `serving_default` signature): a 1-D string input gets each
file's bytes as they are (encoded images, documents); a float `window` input (a forecaster,
its assets/features.json naming the columns) gets the latest `lookback` rows of each CSV
file, columns matched by name. A file the signature refuses, or one it cannot be given
(unreadable, too few rows, a missing column, missing values), gets a row with its reason:
never a crash, never silently dropped. Every path may be a URI (tf.io.gfile).
"""

import csv
import io
import json
import math
import posixpath
import os
import re
from typing import Iterator, List, Tuple

import pipeline_config

# Larger files are not read into memory: no serving signature takes them (ingestion's own
# limit, max_file_bytes, is 50 MiB by default and the signatures refuse what it rejects).
MAX_READ_BYTES = 256 * 1024 * 1024


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def join(folder: str, name: str) -> str:
  return posixpath.join(folder, name) if "://" in folder else os.path.join(folder, name)


def input_files(paths: List[str]) -> List[str]:
  """Files, and every file under folders (sorted; hidden names skipped inside folders)."""
  gfile = _gfile()
  found = []
  for path in paths:
    if gfile.isdir(path):
      for folder, _, names in sorted(gfile.walk(path)):
        found += sorted(join(folder, n) for n in names if not n.startswith("."))
    else:
      found.append(path)           # a missing file gets a row with its reason
  return found


class ServedModel:
  """The pushed model's serving_default, as a client sees it."""

  def __init__(self, model_dir: str):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    self._tf = tf
    self.dir = model_dir
    self._loaded = tf.saved_model.load(model_dir)
    self.fn = self._loaded.signatures["serving_default"]
    (self.input, spec), = self.fn.structured_input_signature[1].items()
    self.takes_bytes = spec.dtype == tf.string
    assets = join(model_dir, "assets")
    self.labels = self._asset(assets, "labels.json")
    self.features = self._asset(assets, "features.json")
    if not self.takes_bytes and not self.features:
      raise pipeline_config.ToolkitError(
          f"The model at {model_dir} takes {spec.dtype.name} {self.input} but carries no "
          "assets/features.json naming its columns; predict cannot build its input.")

  def _asset(self, folder, name):
    path = join(folder, name)
    if not self._tf.io.gfile.exists(path):
      return None
    with self._tf.io.gfile.GFile(path) as f:
      return json.load(f)

  def __call__(self, batch):
    values = self._tf.constant(batch) if self.takes_bytes else self._tf.constant(
        batch, self._tf.float32)
    return {k: v.numpy() for k, v in self.fn(**{self.input: values}).items()}


def _reason(error: Exception) -> str:
  """The refusal the signature raised (its assertion's message), else the error's text."""
  message = getattr(error, "message", None) or str(error)
  found = re.search(r"assertion failed: \[(.*?)\]\s*(?:\n|\[\[|$)", message, re.S)
  if found:
    return found.group(1).strip()
  lines = [line.strip() for line in message.strip().splitlines()
           if line.strip() and not line.strip().startswith(("[[", "Detected at", "<stack",
                                                             "Graph execution error"))]
  return lines[-1] if lines else type(error).__name__


def _read_error(error: Exception) -> str:
  if isinstance(error, ValueError):
    return str(error)              # what read_window found wrong
  text = _reason(error).rsplit("; ", 1)[-1]      # a tf.io.gfile error reads "<path>; <what>"
  return f"unreadable: {text}"


def read_bytes(path: str) -> bytes:
  size = _gfile().stat(path).length
  if size > MAX_READ_BYTES:
    raise ValueError(f"file_too_large: {size} bytes, more than any serving signature takes "
                     f"(read limit {MAX_READ_BYTES})")
  with _gfile().GFile(path, "rb") as f:
    return f.read()


def read_window(path: str, described: dict) -> Tuple[list, dict]:
  """The latest `lookback` rows of a CSV file in time order, columns in the model's order,
  and what the row says about them; ValueError names what is wrong."""
  from components.timeseries_example_gen import series  # pylint: disable=import-outside-toplevel
  text = read_bytes(path).decode("utf-8-sig")
  rows = list(csv.reader(io.StringIO(text), delimiter=described.get("delimiter", ",")))
  if not rows:
    raise ValueError("empty file")
  header, rows = [c.strip() for c in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]
  time_column, features = described["time_column"], described["features"]
  lookback = described["lookback"]
  missing = [c for c in [time_column, *features] if c not in header]
  if missing:
    raise ValueError(f"missing columns {', '.join(missing)} (the model reads "
                     f"{time_column} and {', '.join(features)}, matched by name)")
  at = {c: header.index(c) for c in [time_column, *features]}
  times = [r[at[time_column]].strip() if len(r) > at[time_column] else "" for r in rows]
  fmt = series.detect_time_format(times)
  if fmt is None:
    raise ValueError(f"the {time_column} column holds no readable times")
  parse = series.parser(fmt)
  timed = []
  for line, (row, when) in enumerate(zip(rows, times), 2):
    try:
      timed.append((parse(when), line, row))
    except (ValueError, OverflowError):
      continue                          # a bad time is a bad row, as ingestion reads it
  timed.sort(key=lambda t: t[0])
  if len(timed) < lookback:
    raise ValueError(f"too few rows: {len(timed)} with a readable time, the model needs the "
                     f"latest {lookback}")
  window = []
  for when, line, row in timed[-lookback:]:
    values = []
    for column in features:
      cell = row[at[column]].strip() if len(row) > at[column] else ""
      try:
        value = float(cell)
      except ValueError:
        value = float("nan")
      if not math.isfinite(value):
        raise ValueError(f"missing or non-numeric {column} {cell!r} at line {line}, inside "
                         f"the latest {lookback} rows")
      values.append(value)
    window.append(values)
  return window, {"last_time": series.iso(timed[-1][0]), "rows": len(timed)}


def prepare(model, path: str) -> Tuple[str, object, dict]:
  """(path, what the signature is sent, what the row adds) for one input file; the value is
  None and the extra holds "error" when the file cannot be given to the signature. `model`:
  a ServedModel, or anything with its `takes_bytes` and `features`."""
  try:
    if model.takes_bytes:
      return path, read_bytes(path), {}
    value, extra = read_window(path, model.features)
    return path, value, extra
  except Exception as error:  # pylint: disable=broad-except
    return path, None, {"error": _read_error(error)}


def score(model: ServedModel, batch: List[Tuple[str, object, dict]], top_k: int
          ) -> Iterator[dict]:
  """The rows of readable inputs, in batch order, through the signature; a batch it refuses
  is retried file by file, so one bad file never costs the others their answer."""
  try:
    outputs = model([value for _, value, _ in batch])
  except Exception as error:  # pylint: disable=broad-except
    if len(batch) > 1:       # find which input the signature refuses
      for one in batch:
        yield from score(model, [one], top_k)
      return
    yield {"path": batch[0][0], "error": _reason(error)}
    return
  for i, (path, _, extra) in enumerate(batch):
    yield {"path": path, **extra, **_prediction(model, outputs, i, top_k)}


def _prediction(model: ServedModel, outputs: dict, i: int, top_k: int) -> dict:
  if "forecast" in outputs:
    described = model.features
    return {"forecast": float(outputs["forecast"][i]), "target": described.get("target"),
            "horizon_rows": described.get("delay")}
  probabilities = outputs["probabilities"][i]
  labels = model.labels or [str(j) for j in range(len(probabilities))]
  order = sorted(range(len(probabilities)), key=lambda j: -probabilities[j])[:max(1, top_k)]
  return {"label": outputs["label"][i].decode() if "label" in outputs else labels[order[0]],
          "probability": float(probabilities[order[0]]),
          "top_k": [[labels[j], float(probabilities[j])] for j in order]}


# CSV columns: every key a row of any task may hold.
CSV_FIELDS = ("path", "label", "probability", "top_k", "forecast", "target", "horizon_rows",
              "last_time", "rows", "error")


def csv_line(row: dict) -> str:
  """A row as one CSV line (lists as JSON), in CSV_FIELDS order."""
  out = io.StringIO()
  csv.writer(out, lineterminator="").writerow(
      ["" if row.get(k) is None else json.dumps(row[k]) if isinstance(row[k], (list, dict))
       else row[k] for k in CSV_FIELDS])
  return out.getvalue()


def json_line(row: dict) -> str:
  return json.dumps(row, ensure_ascii=False)
