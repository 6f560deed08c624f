"""End to end for data drops: the real image pipeline on scikit-learn's digits arriving in
spans, through `watch --once` (pipeline/watch.py) as a user's scheduler would call it."""

import dataclasses
import json
import os
import random
import shutil

import numpy as np
import pytest
from PIL import Image

import pipeline_config
from pipeline import demo_data, local_runner, watch
from tests.serving_client import demo_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
  """class -> shuffled digit files (seeded), to be dealt into spans."""
  root = str(tmp_path_factory.mktemp("digits") / "all")
  demo_data.write_digits(root)
  rng = random.Random(7)
  files = {}
  for label in sorted(os.listdir(root)):
    names = sorted(os.listdir(os.path.join(root, label)))
    rng.shuffle(names)
    files[label] = [os.path.join(root, label, n) for n in names]
  return files


def deal(digits, span_root, start, count, relabel=None):
  """Copies files [start, start+count) of every class into span_root/<class>/; `relabel(i,
  label)` may file one under another class."""
  for label, paths in digits.items():
    for i, path in enumerate(paths[start:start + count]):
      target = relabel(i, label) if relabel else label
      os.makedirs(os.path.join(span_root, target), exist_ok=True)
      shutil.copy(path, os.path.join(span_root, target, f"{label}_{os.path.basename(path)}"))


@pytest.fixture(scope="module")
def drops(digits, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("drops")
  root = str(tmp / "data")
  config = demo_config("demo_config.py", root, tmp / "work")
  config.trainer = dataclasses.replace(config.trainer, head_epochs=12)
  config.evaluation = dataclasses.replace(config.evaluation, min_accuracy=0.5,
                                          max_accuracy_drop=0.2)
  config.validate()
  return root, config


def watch_once(config):
  watch.watch(config, local_runner.run, once=True)
  with open(os.path.join(config.work_dir, watch.RUNS_FILE)) as f:
    return [json.loads(line) for line in f]


def test_drops_are_ingested_once_warm_started_and_vocabulary_ids_never_move(drops, digits):
  root, config = drops
  deal(digits, os.path.join(root, "span-1"), 0, 30)
  runs = watch_once(config)
  assert runs[-1]["status"] == "ok" and runs[-1]["span"] == 1 and runs[-1]["blessed"]
  first_model = runs[-1]["pushed_model"]
  assert len(watch_once(config)) == 1                      # nothing changed: no run

  deal(digits, os.path.join(root, "span-2"), 30, 30)
  runs = watch_once(config)
  second = json.load(open(config.last_run_path))
  assert len(runs) == 2 and runs[-1]["status"] == "ok"
  assert (second["span"], second["window"], second["spans_ingested"]) == (2, [1, 2], [2])
  assert second["warm_started_from"] and second["warm_started_from"] == second[
      "baseline_model"]
  assert second["ingest"]["per_split"]["eval_history"] > 0
  labels = second["vocabulary"]["labels"]
  assert labels == [str(d) for d in range(10)]

  # Span 3 brings a class: the run stops by default and pushes nothing.
  span3 = os.path.join(root, "span-3")
  deal(digits, span3, 60, 20)
  os.makedirs(os.path.join(span3, "inverted"))
  for i, path in enumerate(digits["3"][150:180]):
    Image.fromarray(255 - np.asarray(Image.open(path))).save(
        os.path.join(span3, "inverted", f"inv_{i}.png"))
  served = sorted(os.listdir(config.serving_dir))
  with pytest.raises(pipeline_config.ToolkitError, match="Span 3 brings new classes inverted"):
    local_runner.run(config)
  assert sorted(os.listdir(config.serving_dir)) == served

  extended = dataclasses.replace(config, ingest=dataclasses.replace(
      config.ingest, on_new_class="extend"))
  third = local_runner.run(extended)
  assert third["vocabulary"]["labels"] == labels + ["inverted"]   # earlier ids unchanged
  assert third["vocabulary"]["added"] == ["inverted"]
  assert "inverted" in third["baseline_skipped"] and third["baseline_model"] is None
  assert third["warm_started_from"]                        # every layer but the output
  with open(os.path.join(third["model"], "Format-Serving", "assets", "labels.json")) as f:
    assert json.load(f) == labels + ["inverted"]           # beside the model: the vocabulary
  with open(os.path.join(first_model, "assets", "labels.json")) as f:
    assert json.load(f) == labels


def test_a_drop_with_shuffled_labels_never_reaches_serving(drops, digits):
  root, config = drops
  served = sorted(os.listdir(config.serving_dir))
  rng = random.Random(3)
  classes = sorted(digits)

  def shuffle(i, label):          # 40% of the files filed under another class
    if rng.random() < 0.4:
      return rng.choice([c for c in classes if c != label])
    return label
  deal(digits, os.path.join(root, "span-4"), 80, 20, relabel=shuffle)
  shutil.copytree(os.path.join(root, "span-3", "inverted"),
                  os.path.join(root, "span-4", "inverted"))
  with pytest.raises(pipeline_config.ToolkitError, match="max_label_agreement_drop"):
    local_runner.run(config)
  assert sorted(os.listdir(config.serving_dir)) == served
  with open(config.last_run_path) as f:
    assert "agrees with" in json.load(f)["error"]


def test_a_drop_with_class_folders_swapped_is_stopped_with_window_1(drops, digits):
  """With --window 1 (or a flat root) no older span is in the window: the gate used to skip
  silently, and a drop with class folders swapped was blessed and pushed. Now the blessed
  model's recorded eval accuracy is the reference."""
  root, config = drops
  served = sorted(os.listdir(config.serving_dir))
  swap = {str(d): str((d + 1) % 6) for d in range(6)}       # 0->1, 1->2, ... 5->0
  deal(digits, os.path.join(root, "span-5"), 100, 20, relabel=lambda i, label: swap.get(
      label, label))
  shutil.copytree(os.path.join(root, "span-3", "inverted"),
                  os.path.join(root, "span-5", "inverted"))
  alone = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, window=1))
  with pytest.raises(pipeline_config.ToolkitError, match="max_label_agreement_drop"):
    local_runner.run(alone)
  assert sorted(os.listdir(config.serving_dir)) == served
  with open(config.last_run_path) as f:
    last = json.load(f)
  assert "on its own eval split when it was trained" in last["error"]
  assert last["pushed_model"] is None and last["blessed"] is False
