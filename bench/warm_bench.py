"""Warm starts for text and time series (issue 22), each against a cold retrain, in the same
run, on the same splits and eval files.

text_warm_start_time_fraction: the BBC News corpus in two spans (90% of each topic, then
  10%); training on both spans warm from span 1's model over the same training cold; the
  eval accuracy of each on the same eval files (the warm one must reach the cold one's).
  Goal <= 0.5.
timeseries_warm_start_time_fraction: the 2013 weather at the New York airports as monthly
  spans; a forecaster on months 1-4 warm from the model of months 1-3 over one cold on months
  1-4 (quick: 1-3 from 1-2, shorter windows); the eval MAE of each on the same eval windows.
  Goal <= 0.5.

Training time is the Trainer's own `training_seconds` (training_time.json: reading the
splits, the vocabulary or the statistics, building and warm-starting the model, fitting);
`*_warm_start_trainer_fraction` is the same ratio over the whole Trainer call, which adds
what costs the same warm or cold (the eval reports, the baselines, the SavedModel export).
"""

import json
import os
import shutil
import time

import pipeline_config
from components.artifacts import IngestReport
from components.ingest import executor as ingest_executor
from pipeline import demo_data
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts
from trainer.common import reports


def _ingest(executor_class, root, out, cache, task_config, extra_outputs=()):
  shutil.rmtree(out, ignore_errors=True)
  outputs = {}
  for key, cls in ((ingest_executor.EXAMPLES_KEY, standard_artifacts.Examples),
                   (ingest_executor.INGEST_REPORT_KEY, IngestReport),
                   *((k, standard_artifacts.Examples) for k in extra_outputs)):
    outputs[key] = cls()
    outputs[key].uri = os.path.join(out, key)
  executor_class(base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[])).Do(
      {}, {k: [a] for k, a in outputs.items()}, {
          ingest_executor.INPUT_BASE_KEY: root,
          ingest_executor.INGEST_CONFIG_KEY: pipeline_config.to_json(
              pipeline_config.IngestConfig()),
          ingest_executor.TASK_CONFIG_KEY: pipeline_config.to_json(task_config),
          ingest_executor.SPAN_CACHE_KEY: cache})
  return outputs


def _split(out, name):
  return [os.path.join(out, ingest_executor.EXAMPLES_KEY, f"Split-{name}", "*")]


def _timed(train, out_dir, **kwargs):
  """Runs `train`; returns (training seconds, whole-call seconds, baselines.json)."""
  shutil.rmtree(out_dir, ignore_errors=True)
  started = time.perf_counter()
  train(os.path.join(out_dir, "model", "Format-Serving"), os.path.join(out_dir, "run"),
        **kwargs)
  seconds = time.perf_counter() - started
  with open(os.path.join(out_dir, "run", reports.TRAINING_TIME_FILE)) as f:
    training = json.load(f)["training_seconds"]
  with open(os.path.join(out_dir, "run", "baselines.json")) as f:
    return training, seconds, json.load(f)


def _fractions(prefix, cold, warm) -> dict:
  return {f"{prefix}_warm_cold_train_s": round(cold[0], 1),
          f"{prefix}_warm_train_s": round(warm[0], 1),
          f"{prefix}_warm_start_time_fraction": round(warm[0] / cold[0], 3),
          f"{prefix}_warm_cold_trainer_s": round(cold[1], 1),
          f"{prefix}_warm_trainer_s": round(warm[1], 1),
          f"{prefix}_warm_start_trainer_fraction": round(warm[1] / cold[1], 3)}


def text_warm_start(work: str, quick: bool) -> dict:
  from components.text_example_gen import executor  # pylint: disable=import-outside-toplevel
  from trainer.text import text_trainer  # pylint: disable=import-outside-toplevel
  corpus = os.path.join(work, "warm_text_corpus")
  if not os.path.isdir(corpus):
    demo_data.write_bbc_news(corpus)
  root, first_root = os.path.join(work, "warm_text_spans"), os.path.join(work, "warm_text_1")
  for folder in (root, first_root):
    shutil.rmtree(folder, ignore_errors=True)
  for topic in sorted(os.listdir(corpus)):
    names = sorted(os.listdir(os.path.join(corpus, topic)))
    for i, name in enumerate(names[:len(names) // 4] if quick else names):
      span = "span-2" if i % 10 == 9 else "span-1"
      for target in ((root, first_root) if span == "span-1" else (root,)):
        os.makedirs(os.path.join(target, span, topic), exist_ok=True)
        shutil.copy(os.path.join(corpus, topic, name), os.path.join(target, span, topic, name))
  cache = os.path.join(work, "warm_text_cache")
  shutil.rmtree(cache, ignore_errors=True)
  ingest_config = pipeline_config.TextIngestConfig()
  first_out, both_out = os.path.join(work, "warm_text_out1"), os.path.join(work, "warm_text_out2")
  _ingest(executor.Executor, first_root, first_out, cache, ingest_config)
  _ingest(executor.Executor, root, both_out, cache, ingest_config)
  labels = sorted(os.listdir(corpus))
  config = pipeline_config.TextTrainerConfig()
  eval_files = _split(both_out, "eval")

  def train(out, examples):
    def run(serving, run_dir, base_model=None):
      text_trainer.train(config, _split(examples, "train"), _split(examples, "validation"),
                         eval_files, labels, serving, run_dir, ingest=ingest_config,
                         base_model=base_model)
    return run

  _timed(train("m1", first_out), os.path.join(work, "warm_text_model1"))
  first = os.path.join(work, "warm_text_model1", "model", "Format-Serving")
  cold = _timed(train("cold", both_out), os.path.join(work, "warm_text_cold"))
  warm = _timed(train("warm", both_out), os.path.join(work, "warm_text_warm"),
                base_model=first)
  return {**_fractions("text", cold, warm),
          "text_warm_cold_eval_accuracy": round(cold[2]["model_eval_accuracy"], 4),
          "text_warm_eval_accuracy": round(warm[2]["model_eval_accuracy"], 4)}


def timeseries_warm_start(work: str, quick: bool) -> dict:
  from components.timeseries_example_gen import executor  # pylint: disable=import-outside-toplevel
  from schemas import contracts  # pylint: disable=import-outside-toplevel
  from trainer.timeseries import timeseries_trainer  # pylint: disable=import-outside-toplevel
  months = os.path.join(work, "warm_ts_months")
  if not os.path.isdir(months):
    demo_data.write_weather(months, monthly=True)
  spans = 3 if quick else 4
  roots = {}
  for n in (spans - 1, spans):
    roots[n] = os.path.join(work, f"warm_ts_{n}")
    shutil.rmtree(roots[n], ignore_errors=True)
    for k in range(1, n + 1):
      shutil.copytree(os.path.join(months, f"span-{k}"), os.path.join(roots[n], f"span-{k}"))
  cache = os.path.join(work, "warm_ts_cache")
  shutil.rmtree(cache, ignore_errors=True)
  options = pipeline_config.TimeseriesConfig(time_column="time_hour", target_column="temp",
                                             lookback=48 if quick else 120, delay=24)
  outs = {n: os.path.join(work, f"warm_ts_out{n}") for n in roots}
  for n, root in roots.items():
    _ingest(executor.Executor, root, outs[n], cache, options, (executor.WINDOWS_KEY,))
  config = pipeline_config.TimeseriesTrainerConfig(epochs=20 if quick else 60)

  def train(out):
    described = contracts.read_features(os.path.join(out, ingest_executor.EXAMPLES_KEY))

    def run(serving, run_dir, base_model=None):
      timeseries_trainer.train(config, _split(out, "train"), _split(out, "validation"),
                               _split(outs[spans], "eval"), described, serving, run_dir,
                               base_model=base_model)
    return run

  _timed(train(outs[spans - 1]), os.path.join(work, "warm_ts_model1"))
  first = os.path.join(work, "warm_ts_model1", "model", "Format-Serving")
  cold = _timed(train(outs[spans]), os.path.join(work, "warm_ts_cold"))
  warm = _timed(train(outs[spans]), os.path.join(work, "warm_ts_warm"), base_model=first)
  return {**_fractions("timeseries", cold, warm),
          "timeseries_warm_cold_eval_mae": round(cold[2]["model_eval_mae"], 4),
          "timeseries_warm_eval_mae": round(warm[2]["model_eval_mae"], 4),
          "timeseries_warm_persistence_mae": round(warm[2]["persistence_mae"], 4)}


def run(work: str, quick: bool) -> dict:
  return {**text_warm_start(work, quick), **timeseries_warm_start(work, quick)}
