"""Text: TextExampleGen (every check on) against one pass of
keras.utils.text_dataset_from_directory over the same files, and the text trainer's eval
accuracy against scikit-learn's TF-IDF + logistic regression on the same split, in one run.

Files: the BBC News corpus that `demo-data --task text` writes (2,225 articles, 5 topics);
--quick uses the first 300 of each topic.
"""

import glob
import json
import os
import shutil
import time

from tensorflow import keras
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

import pipeline_config
from components.ingest.component import IngestReport
from components.text_example_gen import executor
from pipeline import demo_data
from trainer import text_trainer
from trainer.common import examples as example_files


def time_keras_pass(root: str) -> float:
  start = time.perf_counter()
  dataset = keras.utils.text_dataset_from_directory(root, batch_size=32, shuffle=False)
  for _ in dataset:
    pass
  return time.perf_counter() - start


def ingest(root: str, out: str):
  shutil.rmtree(out, ignore_errors=True)
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(out, "examples")
  report = IngestReport()
  report.uri = os.path.join(out, "report")
  gen = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=[]))
  start = time.perf_counter()
  gen.Do({}, {executor.EXAMPLES_KEY: [examples], executor.INGEST_REPORT_KEY: [report]},
         {executor.INPUT_BASE_KEY: root,
          executor.INGEST_CONFIG_KEY: pipeline_config.to_json(pipeline_config.IngestConfig()),
          executor.TASK_CONFIG_KEY: pipeline_config.to_json(
              pipeline_config.TextIngestConfig())})
  return time.perf_counter() - start, examples


def write_corpus(root: str, per_topic: int) -> int:
  shutil.rmtree(root, ignore_errors=True)
  demo_data.write_bbc_news(root)
  for topic in os.listdir(root):
    for name in sorted(os.listdir(os.path.join(root, topic)))[per_topic:]:
      os.remove(os.path.join(root, topic, name))
  return len(glob.glob(os.path.join(root, "*", "*")))


def run(work: str, quick: bool) -> dict:
  root = os.path.join(work, "bbc_news")
  count = write_corpus(root, 300 if quick else 10_000)
  ingest(root, os.path.join(work, "text_warmup"))       # imports and page cache warm
  time_keras_pass(root)
  repeats = 1 if quick else 3
  keras_s = min(time_keras_pass(root) for _ in range(repeats))
  runs = [ingest(root, os.path.join(work, f"text_ingest_{i}")) for i in range(repeats)]
  ingest_s, examples = min(runs, key=lambda r: r[0])

  uri = examples.uri
  model_run = os.path.join(work, "text_model_run")
  shutil.rmtree(model_run, ignore_errors=True)
  config = pipeline_config.TextTrainerConfig()
  start = time.perf_counter()
  text_trainer.train(config, [os.path.join(uri, "Split-train", "*")],
                     [os.path.join(uri, "Split-validation", "*")],
                     [os.path.join(uri, "Split-eval", "*")],
                     example_files.read_label_names(uri), os.path.join(work, "text_serving"),
                     model_run)
  train_s = time.perf_counter() - start
  with open(os.path.join(model_run, "baselines.json")) as f:
    scores = json.load(f)
  return {
      "text_files": count,
      "text_keras_docs_per_s": round(count / keras_s, 1),
      "text_ingest_docs_per_s": round(count / ingest_s, 1),
      "text_ingest_vs_keras": round(keras_s / ingest_s, 3),
      "text_train_s": round(train_s, 1),
      "text_model_eval_accuracy": round(scores["model_eval_accuracy"], 4),
      "text_tfidf_logreg_eval_accuracy": round(scores["tfidf_logreg_accuracy"], 4),
      "text_majority_eval_accuracy": round(scores["majority_accuracy"], 4),
      "text_accuracy_vs_tfidf": round(
          scores["model_eval_accuracy"] - scores["tfidf_logreg_accuracy"], 4),
      "text_eval_documents": scores["eval_examples"],
  }
