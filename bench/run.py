"""Runs the benchmarks and writes their figures to bench/results.json.

ingest_bench: ImageExampleGen against keras.utils.image_dataset_from_directory.
trainer_bench: feature cache, data-drop extraction, input pipeline against raw decoding.
text_bench: TextExampleGen against keras.utils.text_dataset_from_directory; the text
  trainer's eval accuracy against TF-IDF + logistic regression on the same split.
drops_bench: ingesting a new span after N cached spans against that span alone; a warm
  retrain after a 10% drop against a cold one (time and eval accuracy).
warm_bench: text and time-series warm starts against cold retrains (time, eval figure).
edge_bench: TFLite exports (none, float16, int8) against their SavedModel on the eval files:
  top-1 agreement, largest probability difference, size, time per image.
timeseries_bench: the forecasting window pipeline against
  keras.utils.timeseries_dataset_from_array on the same array, with peak memory.

Usage: .venv/bin/python bench/run.py [--quick] [--only image|text|timeseries|drops|warm|edge]
Figures of a part that is not run are kept from the previous results file.
"""

import argparse
import json
import os
import platform
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import drops_bench, edge_bench, ingest_bench, text_bench, timeseries_bench, \
    trainer_bench, warm_bench  # pylint: disable=wrong-import-position


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
  parser.add_argument("--work", default=os.path.join(REPO, "bench", "out"))
  parser.add_argument("--output", default=os.path.join(REPO, "bench", "results.json"))
  parser.add_argument("--only", choices=("image", "text", "timeseries", "drops", "warm", "edge"))
  args = parser.parse_args()
  results = {}
  if args.only and os.path.isfile(args.output):
    with open(args.output) as f:
      results = json.load(f)
  results.update({"mode": "quick" if args.quick else "full", "cpu_count": os.cpu_count(),
                  "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")})
  if args.only in (None, "image"):
    count, repeats = (200, 1) if args.quick else (2000, 2)
    results.update(ingest_bench.run(args.work, count, repeats))
    results.update(trainer_bench.run(args.work, 120 if args.quick else 500))
  if args.only in (None, "text"):
    results.update(text_bench.run(args.work, args.quick))
  if args.only in (None, "drops"):
    results.update(drops_bench.run(args.work, args.quick))
  if args.only in (None, "warm"):
    results.update(warm_bench.run(args.work, args.quick))
  if args.only in (None, "edge"):
    results.update(edge_bench.run(args.work, args.quick))
  if args.only in (None, "timeseries"):
    results.update(timeseries_bench.run(args.work, args.quick))
  with open(args.output, "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
