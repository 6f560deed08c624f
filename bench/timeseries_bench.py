"""Window input pipeline against keras.utils.timeseries_dataset_from_array, same array.

The array is the demo's real hourly weather (3 airports, 7 features, ingested rows) tiled to
the size of the book's Jena series (420,480 rows; quick: 52,560). Both pipelines cut every
window of `lookback` 120 rows with the target 24 rows later, shuffle, batch 256 and are
iterated for one epoch after a warm-up; each runs in its own process so that its peak
resident memory is its own. Memory is measured at two array sizes: a pipeline that
materialised its windows would grow by lookback x features x 4 bytes per window.
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOKBACK, DELAY, BATCH = 120, 24, 256


def _weather_array(rows: int) -> np.ndarray:
  sys.path.insert(0, REPO)
  import pipeline_config  # pylint: disable=import-outside-toplevel
  from components.ingest import walk  # pylint: disable=import-outside-toplevel
  from components.timeseries_example_gen import series  # pylint: disable=import-outside-toplevel
  from pipeline import demo_data  # pylint: disable=import-outside-toplevel
  root = os.path.join(REPO, "bench", "out", "nyc_weather")
  if not os.path.isdir(root):
    demo_data.write_weather(root)
  options = pipeline_config.TimeseriesConfig(time_column="time_hour", target_column="temp")
  found = walk.check_data_root(root, "timeseries", series.SeriesRecord, classes=False)
  parsed = [series.parse_file(r, options, 10 ** 9) for r in found.candidates]
  columns = series.decide_columns([series.column_summary(p) for p in parsed], options)
  done = [series.finish_series(p, columns, options, [("train", 70), ("validation", 10),
                                                     ("eval", 20)]) for p in parsed]
  values = np.concatenate([d.values for d in done]).astype(np.float32)
  return np.resize(values, (rows, values.shape[1]))


def _rss_mb() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return 0.0


def worker(kind: str, rows: int) -> dict:
  """One pipeline over one array, in this process: windows/s and peak memory above the array."""
  os.environ["TF_USE_LEGACY_KERAS"] = "1"
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tensorflow import keras  # pylint: disable=import-outside-toplevel
  sys.path.insert(0, REPO)
  from trainer.timeseries import data  # pylint: disable=import-outside-toplevel
  values = _weather_array(rows)
  tf.constant(values[:10])                         # TensorFlow's own start-up memory
  before = _rss_mb()
  target = 0
  if kind == "toolkit":
    ends = data.window_ends(data.SplitRows(values, np.arange(rows), [(0, rows, "a")]),
                            LOOKBACK, DELAY)
    dataset = data.window_dataset(values, ends, LOOKBACK, DELAY, target, BATCH,
                                  shuffle=True, seed=0)
  else:
    dataset = keras.utils.timeseries_dataset_from_array(
        values, values[LOOKBACK - 1 + DELAY:, target], sequence_length=LOOKBACK,
        batch_size=BATCH, shuffle=True, seed=0)
  for _ in dataset.take(5):                        # warm-up: graph tracing, first batches
    pass
  started, windows = time.perf_counter(), 0
  for x, y in dataset:
    windows += int(y.shape[0])
  seconds = time.perf_counter() - started
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return {"windows": windows, "seconds": seconds, "windows_per_s": windows / seconds,
          "peak_above_start_mb": peak - before, "array_mb": values.nbytes / 2 ** 20,
          "features": int(values.shape[1])}


def _in_process(kind: str, rows: int) -> dict:
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
  out = subprocess.run([sys.executable, os.path.abspath(__file__), kind, str(rows)],
                       capture_output=True, text=True, env=env, check=True, cwd=REPO)
  return json.loads(out.stdout.strip().splitlines()[-1])


def run(work: str, quick: bool) -> dict:
  del work
  rows = 52_560 if quick else 420_480
  results = {}
  for kind in ("toolkit", "keras"):
    for size in (rows // 4, rows):
      results[(kind, size)] = _in_process(kind, size)
  ours, keras_ = results[("toolkit", rows)], results[("keras", rows)]
  features = ours["features"]
  figures = {
      "window_rows": rows,
      "window_lookback_delay_batch": [LOOKBACK, DELAY, BATCH],
      "window_count": ours["windows"],
      "window_keras_windows_per_s": round(keras_["windows_per_s"], 1),
      "window_input_windows_per_s": round(ours["windows_per_s"], 1),
      "window_input_vs_keras": round(ours["windows_per_s"] / keras_["windows_per_s"], 3),
      "window_materialised_mb": round(ours["windows"] * LOOKBACK * features * 4 / 2 ** 20, 1),
  }
  for kind in ("toolkit", "keras"):
    name = "input" if kind == "toolkit" else "keras"
    figures[f"window_{name}_peak_mb"] = {
        str(size): round(results[(kind, size)]["peak_above_start_mb"], 1)
        for size in (rows // 4, rows)}
  return figures


if __name__ == "__main__":
  print(json.dumps(worker(sys.argv[1], int(sys.argv[2]))))
