"""ImageExampleGen: the real executor on tiny folders, asserting on what it wrote."""

import os
import shutil

import pytest
import tensorflow as tf
from tfx.types import artifact_utils

import pipeline_config
from components.image_example_gen import executor, image_checks
from components.ingest import report as ingest_report
from components.image_example_gen.component import ImageExampleGen
from tests import image_factory
from tests.example_gen_helpers import read_examples, run_executor


def test_writes_splits_labels_and_features(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("dog", "cat", "bird"), per_class=10)
  examples, report = run_executor(root, str(tmp_path / "out"))

  assert artifact_utils.decode_split_names(examples.split_names) == list(pipeline_config.SPLITS)
  assert executor.read_label_names(examples.uri) == ["bird", "cat", "dog"]
  rows = [r for s in pipeline_config.SPLITS for r in read_examples(examples.uri, s)]
  assert len(rows) == 30
  assert 0 < len(read_examples(examples.uri, "eval")) < 30
  per_split = ingest_report.read_report(report.uri)["per_split"]
  assert sum(per_split.values()) == 30 and set(per_split) <= set(pipeline_config.SPLITS)
  for row in rows:
    assert set(row) == {"image", "label", "label_name", "height", "width", "sha256"}
    assert ["bird", "cat", "dog"][row["label"]] == row["label_name"].decode()
    assert (row["height"], row["width"]) == (40, 40)
    decoded = tf.io.decode_image(row["image"]).numpy()
    assert decoded.shape == (40, 40, 3)
  totals = ingest_report.read_report(report.uri)["totals"]
  assert totals == {"found": 30, "ingested": 30, "normalised": 0, "rejected": 0,
                    "skipped": 0}
  assert report.get_int_custom_property("ingested") == 30


def test_split_is_decided_by_content_and_stable(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=12)
  # The same content under another name in the same class.
  shutil.copy(os.path.join(root, "cat", "000.png"), os.path.join(root, "cat", "copy.png"))
  first, report = run_executor(root, str(tmp_path / "a"))
  second, _ = run_executor(root, str(tmp_path / "b"))

  def split_of(uri):
    return {r["sha256"]: split for split in pipeline_config.SPLITS
            for r in read_examples(uri, split)}

  assert split_of(first.uri) == split_of(second.uri)
  files = {r["path"]: r for r in ingest_report.read_report(report.uri)["files"]}
  assert files["cat/copy.png"]["outcome"] == "skipped"
  assert files["cat/copy.png"]["reason"] == "duplicate_of: cat/000.png"
  assert files["cat/copy.png"]["split"] == files["cat/000.png"]["split"]
  for sha, split in split_of(first.uri).items():
    assert image_checks.split_for(sha, [("train", 70), ("validation", 10),
                                        ("eval", 20)]) == split


def test_split_percentages_are_configurable(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=40)
  ingest = pipeline_config.IngestConfig(
      split_percentages={"train": 40, "validation": 10, "eval": 50})
  examples, _ = run_executor(root, str(tmp_path / "out"), ingest)
  n_eval = len(read_examples(examples.uri, "eval"))
  assert 20 <= n_eval <= 60   # 80 images, half expected in eval


def test_unreadable_file_is_listed_not_dropped(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=3)
  image_factory.write_bytes(os.path.join(root, "cat", "broken.jpg"), b"not an image at all")
  examples, report = run_executor(root, str(tmp_path / "out"))
  data = ingest_report.read_report(report.uri)
  files = {r["path"]: r for r in data["files"]}
  assert files["cat/broken.jpg"]["outcome"] == "rejected"
  assert files["cat/broken.jpg"]["reason"].startswith("not_an_image")
  assert data["totals"]["found"] == 7 and data["totals"]["rejected"] == 1
  assert sum(len(read_examples(examples.uri, s)) for s in pipeline_config.SPLITS) == 6
  with open(os.path.join(report.uri, ingest_report.REPORT_MARKDOWN)) as f:
    assert "cat/broken.jpg" in f.read()


def test_fingerprint_follows_content_not_mtime(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=2)
  before = image_checks.content_fingerprint(root)
  os.utime(paths[0], (1, 1))
  assert image_checks.content_fingerprint(root) == before
  image_factory.save(image_factory.pattern(seed=99), paths[0], "PNG")
  changed = image_checks.content_fingerprint(root)
  assert changed != before
  os.remove(paths[1])
  assert image_checks.content_fingerprint(root) != changed


def test_bad_data_root_is_a_toolkit_error(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="does not exist"):
    image_checks.check_data_root(str(tmp_path / "missing"))
  (tmp_path / "flat").mkdir()
  (tmp_path / "flat" / "a.png").write_bytes(b"x")
  with pytest.raises(pipeline_config.ToolkitError, match="no class folders"):
    image_checks.check_data_root(str(tmp_path / "flat"))


def test_component_declares_outputs_and_driver():
  component = ImageExampleGen(input_base="/data", ingest_config="{}")
  assert set(component.outputs) == {"examples", "ingest_report"}
  assert component.driver_class.__name__ == "ContentFingerprintDriver"


def test_mixed_folder_reconciles_and_no_content_crosses_splits(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("cat", "dog"), per_class=20)
  for i in range(20):   # every cat image filed again under another name, same class
    shutil.copy(os.path.join(root, "cat", f"{i:03d}.png"),
                os.path.join(root, "cat", f"again_{i:03d}.png"))
  shutil.copy(os.path.join(root, "cat", "000.png"), os.path.join(root, "dog", "stray.png"))
  image_factory.exif_rotated_jpeg(os.path.join(root, "dog", "phone.jpg"))
  image_factory.cmyk_jpeg(os.path.join(root, "dog", "print.jpg"))
  image_factory.truncated_jpeg(os.path.join(root, "dog", "cut.jpg"))
  image_factory.write_bytes(os.path.join(root, "cat", "zero.png"), b"")
  image_factory.write_bytes(os.path.join(root, "cat", "._000.png"), b"\0")
  os.mkfifo(os.path.join(root, "cat", "fifo.jpg"))
  examples, report_artifact = run_executor(root, str(tmp_path / "out"))

  report = ingest_report.read_report(report_artifact.uri)
  totals, files = report["totals"], {r["path"]: r for r in report["files"]}
  assert totals["found"] == 40 + 20 + 1 + 3 + 3
  assert totals["found"] == sum(totals[o] for o in image_checks.OUTCOMES)
  assert len(files) == totals["found"]
  assert files["dog/phone.jpg"]["outcome"] == "normalised"
  assert files["dog/print.jpg"]["outcome"] == "normalised"
  assert files["dog/cut.jpg"]["reason"].startswith("truncated")
  assert files["cat/zero.png"]["reason"] == "empty_file"
  assert files["cat/._000.png"]["reason"] == "hidden_file"
  assert files["cat/fifo.jpg"]["reason"] == "not_a_regular_file"
  assert files["dog/stray.png"]["reason"] == "label_conflict: same content also filed under cat"
  assert files["cat/000.png"]["reason"] == "label_conflict: same content also filed under dog"
  assert files["cat/again_005.png"]["reason"] == "duplicate_of: cat/005.png"

  shas = {s: {r["sha256"] for r in read_examples(examples.uri, s)} for s in pipeline_config.SPLITS}
  assert sum(map(len, shas.values())) == totals["ingested"] + totals["normalised"]
  assert not shas["train"] & shas["eval"]
  assert not shas["train"] & shas["validation"] and not shas["validation"] & shas["eval"]
  assert totals["ingested"] + totals["normalised"] == 19 + 20 + 2
