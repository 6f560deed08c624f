"""Data drops: incremental ingestion and warm start, each against what a user would otherwise
do, in the same run.

drop_ingest_fraction: ImageExampleGen ingesting span N+1 after N spans (their ingestion
  reused from the span cache) over ingesting that span alone; 5 spans of 200 photos
  (640x427 JPEG). Goal <= 1.2.
cached_rerun_fraction: fingerprinting an unchanged root of N spans with the manifest the
  previous look wrote over the cold ingestion of those spans (the scale-out issue's goal:
  <= 0.05).
warm_start_time_fraction: after a 10% drop (span 2) on the digits, retraining warm from the
  model of span 1 over retraining cold on both spans, with the eval accuracy of each on the
  same eval files (the warm model must reach the cold one's). Goal <= 0.5.
"""

import glob
import os
import shutil
import time

import numpy as np

import pipeline_config
from bench.photos import write_photo_folder
from components.image_example_gen import executor
from components.ingest import executor as ingest_executor, walk as ingest_walk
from components.image_example_gen.component import IngestReport
from pipeline import demo_data
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts


def _ingest(root: str, out: str, cache: str) -> float:
  shutil.rmtree(out, ignore_errors=True)
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(out, "examples")
  report = IngestReport()
  report.uri = os.path.join(out, "report")
  gen = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[]))
  started = time.perf_counter()
  gen.Do({}, {executor.EXAMPLES_KEY: [examples], executor.INGEST_REPORT_KEY: [report]}, {
      executor.INPUT_BASE_KEY: root,
      executor.INGEST_CONFIG_KEY: pipeline_config.to_json(pipeline_config.IngestConfig()),
      ingest_executor.SPAN_CACHE_KEY: cache})
  return time.perf_counter() - started


def _deal(source: str, target: str, spans: int) -> None:
  """Deals each class's files round-robin into target/span-<n>/<class>/."""
  for label in sorted(os.listdir(source)):
    for i, name in enumerate(sorted(os.listdir(os.path.join(source, label)))):
      folder = os.path.join(target, f"span-{i % spans + 1}", label)
      os.makedirs(folder, exist_ok=True)
      shutil.copy(os.path.join(source, label, name), os.path.join(folder, name))


def drop_ingest(work: str, per_span: int, spans: int = 5) -> dict:
  photos = os.path.join(work, "drop_photos")
  shutil.rmtree(photos, ignore_errors=True)
  write_photo_folder(photos, per_span * spans)
  dealt = os.path.join(work, "drop_spans")
  shutil.rmtree(dealt, ignore_errors=True)
  _deal(photos, dealt, spans)
  alone_root, grown_root = os.path.join(work, "drop_alone"), os.path.join(work, "drop_grown")
  for root in (alone_root, grown_root):
    shutil.rmtree(root, ignore_errors=True)
  newest = f"span-{spans}"
  shutil.copytree(os.path.join(dealt, newest), os.path.join(alone_root, newest))
  for n in range(1, spans):
    shutil.copytree(os.path.join(dealt, f"span-{n}"), os.path.join(grown_root, f"span-{n}"))
  cache = os.path.join(work, "drop_cache")
  shutil.rmtree(cache, ignore_errors=True)
  cold_all = _ingest(grown_root, os.path.join(work, "drop_out"), cache)   # spans 1..N, cold
  # An unchanged root on the next look: its fingerprint, with the manifest of (size, mtime)
  # -> sha256 that the previous look left, is all a rerun pays before the cache answers.
  manifest = os.path.join(work, "drop_manifest.json")
  if os.path.exists(manifest):
    os.remove(manifest)
  ingest_walk.content_fingerprint(grown_root, manifest)
  started = time.perf_counter()
  ingest_walk.content_fingerprint(grown_root, manifest)
  rerun = time.perf_counter() - started
  _ingest(alone_root, os.path.join(work, "drop_out"), os.path.join(work, "drop_cache_w"))
  cold_cache = os.path.join(work, "drop_cache_cold")
  shutil.rmtree(cold_cache, ignore_errors=True)
  alone = _ingest(alone_root, os.path.join(work, "drop_out"), cold_cache)   # cold, timed
  shutil.copytree(os.path.join(dealt, newest), os.path.join(grown_root, newest))
  grown = _ingest(grown_root, os.path.join(work, "drop_out"), cache)   # N cached + 1 new
  return {"drop_spans": spans, "drop_span_files": per_span,
          "drop_ingest_alone_s": round(alone, 2), "drop_ingest_after_spans_s": round(grown, 2),
          "drop_ingest_fraction": round(grown / alone, 3),
          "cached_rerun_files": per_span * (spans - 1),
          "cached_rerun_fingerprint_s": round(rerun, 3),
          "cached_rerun_cold_ingest_s": round(cold_all, 2),
          "cached_rerun_fraction": round(rerun / cold_all, 4)}


def _accuracy(model, files, image_size) -> float:
  from trainer.image import data  # pylint: disable=import-outside-toplevel
  correct = total = 0
  for images, labels in data.make_dataset(files, image_size, 128, shuffle=False, seed=0):
    predicted = np.argmax(model(images, training=False).numpy(), axis=1)
    correct += int(np.sum(predicted == labels.numpy()))
    total += len(predicted)
  return correct / total


def warm_start(work: str) -> dict:
  from trainer.image import image_trainer  # pylint: disable=import-outside-toplevel
  digits = os.path.join(work, "warm_digits")
  if not os.path.isdir(digits):
    demo_data.write_digits(digits)
  root = os.path.join(work, "warm_spans")
  shutil.rmtree(root, ignore_errors=True)
  for label in sorted(os.listdir(digits)):     # span 1: 90% of each class; span 2: 10%
    names = sorted(os.listdir(os.path.join(digits, label)))
    for i, name in enumerate(names):
      span = "span-2" if i % 10 == 9 else "span-1"
      os.makedirs(os.path.join(root, span, label), exist_ok=True)
      shutil.copy(os.path.join(digits, label, name), os.path.join(root, span, label, name))
  first_root = os.path.join(work, "warm_first")
  shutil.rmtree(first_root, ignore_errors=True)
  shutil.copytree(os.path.join(root, "span-1"), os.path.join(first_root, "span-1"))
  cache = os.path.join(work, "warm_cache")
  shutil.rmtree(cache, ignore_errors=True)
  _ingest(first_root, os.path.join(work, "warm_out1"), cache)
  _ingest(root, os.path.join(work, "warm_out2"), cache)
  labels = [str(d) for d in range(10)]
  config = pipeline_config.TrainerConfig(
      backbone="small_convnet", weights="none", image_size=32, head_epochs=15,
      dense_units=128, dropout=0.3, fine_tune_epochs=0, early_stopping_patience=15)

  def split(out, name):
    return [os.path.join(work, out, "examples", f"Split-{name}", "*")]

  def train(out_dir, base_model=None):
    shutil.rmtree(os.path.join(work, out_dir), ignore_errors=True)
    started = time.perf_counter()
    model = image_trainer.train(
        config, split("warm_out2", "train"), split("warm_out2", "validation"), labels,
        os.path.join(work, out_dir, "model", "Format-Serving"),
        os.path.join(work, out_dir, "run"), base_model=base_model)
    return model, time.perf_counter() - started

  first = os.path.join(work, "warm_model1", "model", "Format-Serving")
  shutil.rmtree(os.path.join(work, "warm_model1"), ignore_errors=True)
  image_trainer.train(config, split("warm_out1", "train"), split("warm_out1", "validation"),
                      labels, first, os.path.join(work, "warm_model1", "run"))
  eval_files = sorted(glob.glob(split("warm_out2", "eval")[0]) +
                      glob.glob(split("warm_out2", "eval_history")[0]))
  cold, cold_s = train("warm_cold")
  warm, warm_s = train("warm_warm", base_model=first)
  return {"warm_cold_train_s": round(cold_s, 1), "warm_train_s": round(warm_s, 1),
          "warm_start_time_fraction": round(warm_s / cold_s, 3),
          "warm_cold_eval_accuracy": round(_accuracy(cold, eval_files, 32), 4),
          "warm_eval_accuracy": round(_accuracy(warm, eval_files, 32), 4)}


def run(work: str, quick: bool) -> dict:
  return {**drop_ingest(work, 40 if quick else 200), **warm_start(work)}
