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
import pipeline_config
from bench import ingest_bench
from components.text_example_gen import executor as text_executor
from pipeline import demo_data
from trainer.text import text_trainer
from trainer.common import examples as example_files


def time_keras_pass(root: str) -> float:
  return ingest_bench.time_keras_pass(root, keras.utils.text_dataset_from_directory)


def ingest(root: str, out: str) -> float:
  # The corpus has duplicate articles (skipped), so not every file becomes an example.
  return ingest_bench.time_ingest(root, out, [], text_executor.Executor,
                                  pipeline_config.TextIngestConfig(), expect_all=False)


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
  ingest_s = min(ingest(root, os.path.join(work, f"text_ingest_{i}")) for i in range(repeats))

  uri = os.path.join(work, "text_ingest_0", "examples")
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
