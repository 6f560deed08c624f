"""End to end: the real pipeline (LocalDagRunner, MLMD on SQLite, Beam DirectRunner) on the
digits demo, run several times against one work dir to check caching, baselines and gating."""

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline import demo_data, local_runner
from pipeline_config import load_config
from tests import image_factory
from tests import serving_client
from tests.serving_client import eval_split_files, serve_in_a_plain_tensorflow_process

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("digits") / "data")
  demo_data.write_digits(root)
  return root


@pytest.fixture(scope="module")
def demo_config(digits, tmp_path_factory):
  return serving_client.demo_config("demo_config.py", digits, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def first_run(demo_config):
  return local_runner.run(demo_config)


def test_first_run_blesses_and_pushes_a_model_that_serves_raw_png_bytes(first_run,
                                                                       demo_config, digits,
                                                                       tmp_path):
  with open(demo_config.last_run_path) as f:
    assert json.load(f) == first_run
  assert first_run["blessed"] is True
  assert first_run["baseline_model"] is None
  assert first_run["metrics"]["accuracy"] >= 0.9
  low, high = first_run["metrics"]["confidence_intervals"]["accuracy"]    # TFMA's jackknife
  assert low <= first_run["metrics"]["accuracy"] <= high and high - low < 0.2
  assert first_run["ingest"]["found"] == 1797
  assert first_run["ingest"]["ingested"] + first_run["ingest"]["normalised"] + \
      first_run["ingest"]["rejected"] + first_run["ingest"]["skipped"] == 1797
  pushed = first_run["pushed_model"]
  assert pushed.startswith(demo_config.serving_dir) and os.path.isfile(
      os.path.join(pushed, "saved_model.pb"))
  assert set(first_run["ingest"]["per_split"]) == {"train", "validation", "eval"}
  assert sum(first_run["ingest"]["per_split"].values()) == 1797
  artifacts = first_run["artifacts"]
  assert {"examples", "ingest_report", "model", "evaluation", "blessing",
          "pushed_model"} <= set(artifacts)
  assert artifacts["model"] == first_run["model"] and os.path.isdir(artifacts["examples"])
  per_class = first_run["metrics"]["per_class"]
  assert sorted(per_class) == [str(i) for i in range(10)]
  assert all(0.0 <= recall <= 1.0 for recall in per_class.values())
  card = serving_client.model_card_beside(first_run, demo_config.last_run_path)
  assert card["model"]["backbone"] == demo_config.image_trainer.backbone
  assert card["data"]["per_class_split"] == json.load(open(first_run["ingest"]["report"]))[
      "per_class_split"]
  assert sorted(card["metrics"]["per_class"]) == sorted(per_class)

  # What a client sees: raw bytes of the eval files only, in a TensorFlow-only process,
  # agree with the Evaluator's figure on the same split.
  files = eval_split_files(first_run, digits)
  assert len(files) == first_run["metrics"]["example_count"] == \
      first_run["ingest"]["per_split"]["eval"]
  served = serve_in_a_plain_tensorflow_process(pushed, files, tmp_path)
  assert served["n"] == len(files)
  assert abs(served["accuracy"] - first_run["metrics"]["accuracy"]) <= 0.02
  assert served["accuracy"] >= 0.9


def test_first_run_writes_reports_and_tensorboard_logs(first_run):
  from PIL import Image  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  assert set(first_run["reports"]) == {"training_curves", "confusion_matrix", "grad_cam",
                                       "model", "augmentation_preview"}
  for name, path in first_run["reports"].items():
    with Image.open(path) as image:
      assert image.format == "PNG", name
      assert np.asarray(image.convert("L"), dtype=float).std() > 5, f"{name} is blank"
  events = [os.path.join(d, f) for d, _, files in os.walk(first_run["tensorboard"])
            for f in files if f.startswith("events.out.tfevents")]
  assert events
  assert os.path.isfile(first_run["gates"])


def test_rerun_reuses_ingestion_and_judges_against_the_first_model(first_run, demo_config):
  second = local_runner.run(demo_config)
  assert second["executions"]["ImageExampleGen"] == "CACHED"
  assert second["ingest"]["cached"] is True
  assert second["baseline_model"] == first_run["model"]
  assert "baseline_accuracy" in second["metrics"]
  # The verdict follows the Evaluator's rule (at least min_accuracy, and no worse than the
  # first model by more than max_accuracy_drop), whichever way a warm retrain on the same
  # files happens to go: it is a fresh draw of the training's shuffles, not a sure gain.
  evaluation = demo_config.evaluation
  metrics = second["metrics"]
  expected = (metrics["accuracy"] >= evaluation.min_accuracy and metrics["accuracy"]
              - metrics["baseline_accuracy"] >= -evaluation.max_accuracy_drop - 1e-9
              and (evaluation.min_class_recall is None
                   or min(metrics["per_class"].values()) >= evaluation.min_class_recall))
  assert second["blessed"] is expected
  assert (second["pushed_model"] is not None) is expected


def test_a_changed_file_is_reingested(first_run, demo_config, digits):
  image_factory.save(image_factory.pattern(64, 64, seed=5).convert("L"),
                     os.path.join(digits, "7", "new_drop.png"), "PNG")
  config = copy.deepcopy(demo_config)
  config.trainer.head_epochs = 12   # a quicker retrain; the data change alone re-ingests
  third = local_runner.run(config)
  assert third["executions"]["ImageExampleGen"] == "COMPLETE"
  assert third["ingest"]["found"] == 1798


def test_a_class_below_min_class_recall_blocks_blessing(first_run, demo_config):
  config = copy.deepcopy(demo_config)
  config.evaluation.min_class_recall = 0.999
  pushed_before = sorted(os.listdir(config.serving_dir))
  summary = local_runner.run(config)
  per_class = summary["metrics"]["per_class"]
  assert min(per_class.values()) < 0.999, f"every class is perfect, nothing to block: {per_class}"
  assert summary["blessed"] is False
  assert summary["pushed_model"] is None
  assert summary["metrics"]["accuracy"] >= config.evaluation.min_accuracy
  assert sorted(os.listdir(config.serving_dir)) == pushed_before


def test_breached_gate_stops_before_training_and_pushes_nothing(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("big", "tiny"), per_class=12)
  for name in sorted(os.listdir(os.path.join(root, "tiny")))[3:]:
    os.remove(os.path.join(root, "tiny", name))
  work = tmp_path / "work"
  result = subprocess.run(
      [sys.executable, "-m", "pipeline", "run", "--data-root", root, "--work-dir", str(work),
       "--config", os.path.join(REPO, "pipeline", "demo_config.py")],
      capture_output=True, text=True, cwd=REPO)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert "min_images_per_class" in result.stderr and "tiny (3)" in result.stderr
  assert "ingest_report.md" in result.stderr
  assert not (work / "serving").exists()
  with open(work / "last_run.json") as f:
    summary = json.load(f)
  assert "min_images_per_class" in summary["error"]
  assert summary["pushed_model"] is None and summary["blessed"] is False
  assert "Trainer" not in summary["executions"]
  assert summary["executions"]["DataGate"] == "FAILED"


def test_feature_cache_across_drops_and_configurations(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("a", "b"), per_class=12, size=(36, 36))
  config = load_config(os.path.join(REPO, "pipeline", "demo_config.py"))
  config.data_root, config.work_dir = root, str(tmp_path / "work")
  config.gates.min_images_per_class = 5
  config.evaluation.min_accuracy = 0.0
  config.augmentation.variants = 1
  config.trainer = dataclasses.replace(
      config.trainer, backbone="vgg16", weights="none", image_size=32, head_epochs=1,
      fine_tune_epochs=0, dense_units=8)
  summary = local_runner.run(config)
  first = summary["feature_cache"]
  # Phase 1 extracts the Trainer's splits: train (one augmented variant each) and validation.
  seen = summary["ingest"]["per_split"]["train"] + summary["ingest"]["per_split"]["validation"]
  assert first["hits"] == 0 and first["misses"] == seen

  image_factory.save(image_factory.pattern(36, 36, seed=501), os.path.join(root, "a", "new.png"),
                     "PNG")
  summary = local_runner.run(config)
  second = summary["feature_cache"]
  with open(summary["ingest"]["report"]) as f:
    new_split = next(r["split"] for r in json.load(f)["files"] if r["path"] == "a/new.png")
  new = 0 if new_split == "eval" else 1
  assert second["misses"] == new and second["hits"] == seen

  config.trainer.image_size = 40
  third = local_runner.run(config)["feature_cache"]
  assert third["hits"] == 0 and third["misses"] == seen + new
  assert third["namespace"] != first["namespace"]


def test_gate_flag_lets_expected_label_conflicts_through_quietly(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("cat", "dog"), per_class=30, size=(32, 32))
  for i in range(2):   # the same picture filed under both classes, as real theme icons are
    shutil.copy(os.path.join(root, "cat", f"{i:03d}.png"),
                os.path.join(root, "dog", f"also_{i}.png"))
  work = str(tmp_path / "work")
  args = ["-m", "pipeline", "run", "--data-root", root, "--work-dir", work,
          "--config", os.path.join(REPO, "pipeline", "demo_config.py"), "--image-size", "16",
          "--head-epochs", "2", "--min-accuracy", "0"]
  blocked = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO)
  assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
  assert "max_label_conflicts" in blocked.stderr
  assert "--gate max_label_conflicts=4" in blocked.stderr
  assert "max_rejected_fraction" not in blocked.stderr
  assert len(blocked.stderr.strip().splitlines()) == 1, blocked.stderr

  passed = subprocess.run([sys.executable, *args, "--gate", "max_label_conflicts=40"],
                          capture_output=True, text=True, cwd=REPO)
  assert passed.returncode == 0, passed.stderr[-3000:]
  with open(os.path.join(work, "last_run.json")) as f:
    summary = json.load(f)
  # Past the gate to the Evaluator (whether a 2-epoch model at 16 px beats the majority class
  # and is pushed is not this test's business).
  assert summary["executions"]["DataGate"] == "COMPLETE"
  assert summary["executions"]["Evaluator"] == "COMPLETE"
  output = passed.stdout + passed.stderr
  assert "FutureWarning" not in output and "DeprecationWarning" not in output
  assert "Eval accuracy" in output and "Eval recall per class: cat" in output


def test_predict_gives_every_file_a_row_and_the_signatures_labels(first_run, demo_config,
                                                                 digits, tmp_path):
  """`predict` on a folder a client has: eval PNGs with files it cannot use mixed in."""
  folder = tmp_path / "new"
  folder.mkdir()
  chosen = eval_split_files(first_run, digits)[:40]
  for i, (path, _) in enumerate(chosen):
    shutil.copy(path, folder / f"{i:02d}.png")
  (folder / "sub").mkdir()
  image_factory.webp_file(str(folder / "sub" / "photo.webp"))
  (folder / "sub" / "notes.txt").write_text("not an image")
  (folder / "sub" / "empty.png").write_bytes(b"")
  with open(folder / "sub" / "huge.png", "wb") as f:      # sparse: costs no disk
    f.truncate(300 * 1024 * 1024)
  code, rows, stderr = serving_client.predict_cli(
      demo_config.work_dir, [str(folder)], "--pipeline-name", demo_config.pipeline_name,
      "--top-k", "2", "--batch-size", "16")
  assert code == 0, stderr
  files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
  assert sorted(r["path"] for r in rows) == files                    # one row per file
  expected = serving_client.labels_in_a_plain_tensorflow_process(
      first_run["pushed_model"], files, "images")
  for row in rows:
    if expected[row["path"]] is None:
      assert "error" in row and "label" not in row
    else:
      assert row["label"] == expected[row["path"]] == row["top_k"][0][0]
      assert len(row["top_k"]) == 2 and row["probability"] >= row["top_k"][1][1]
  errors = {os.path.basename(r["path"]): r["error"] for r in rows if "error" in r}
  assert set(errors) == {"photo.webp", "notes.txt", "empty.png", "huge.png"}
  assert errors["photo.webp"].startswith("WEBP images cannot be decoded by the serving")
  assert errors["huge.png"].startswith("file_too_large: 314572800 bytes")
  right = sum(r.get("label") == c for r, (_, c) in zip(
      sorted((r for r in rows if "label" in r), key=lambda r: r["path"]), chosen))
  assert right >= 36                                     # a random model gets about 4 of 40
  assert "40 predictions, 4 files that could not be used" in stderr
  (tmp_path / "empty_folder").mkdir()
  code, rows, stderr = serving_client.predict_cli(first_run["pushed_model"],
                                                  [str(tmp_path / "empty_folder")])
  assert code == 2 and "No files under" in stderr and not rows
