"""Artifact URIs (gs:// on Kubeflow/Vertex): every read and write of the data root, the
feature cache, warm-start weights and the trainer's reports goes through tf.io.gfile.

TensorFlow's in-memory `ram://` filesystem stands in for a bucket: it is per process and
Beam's FileSystems cannot reach it, so these tests cover the pieces TensorFlow touches.
"""

import io
import json
import os
import types
import uuid

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow import keras

import pipeline_config
from components.ingest import records, walk
from tests import image_factory
from trainer.image import feature_cache, image_reports
from trainer.common import warm_start
from trainer.common import hygiene, reports
from trainer.text import embeddings, wrong_examples

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ram():
  """A fresh ram:// folder (the filesystem is shared by the whole test process)."""
  return f"ram://cloud_io/{uuid.uuid4().hex}"


def _tree():
  """Relative path -> bytes: two classes, a nested folder and the files the walk skips."""
  def png(seed):
    return image_factory.encoded(image_factory.pattern(16, 12, seed), "PNG")
  return {
      "cat/000.png": png(1),
      "cat/001.jpg": image_factory.encoded(image_factory.pattern(16, 12, 2), "JPEG"),
      "cat/Thumbs.db": b"system",
      "dog/000.png": png(3),
      "dog/.hidden.png": png(4),
      "dog/more/002.png": png(5),
      "README.txt": b"not in a class folder",
  }


def _write_tree(root, files):
  for rel, data in files.items():
    path = os.path.join(root, rel)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
      f.write(data)


def _rows(found):
  return ([(r.path, r.class_name) for r in found.candidates],
          sorted((r.path, r.outcome, r.reason, r.class_name) for r in found.skipped),
          found.class_names)


def test_a_ram_root_walks_like_the_same_tree_on_disk(ram, tmp_path):
  local = str(tmp_path / "data")
  _write_tree(local, _tree())
  _write_tree(ram, _tree())
  on_disk = walk.check_data_root(local)
  in_ram = walk.check_data_root(ram)
  assert _rows(in_ram) == _rows(on_disk)
  assert [r.path for r in in_ram.candidates] == ["cat/000.png", "cat/001.jpg", "dog/000.png",
                                                  "dog/more/002.png"]
  assert in_ram.class_names == ["cat", "dog"]
  assert all(r.source == f"{ram}/{r.path}" for r in in_ram.candidates)
  # A root given with a trailing slash lists the same files.
  assert _rows(walk.check_data_root(ram + "/")) == _rows(on_disk)


def test_a_missing_or_flat_ram_root_is_a_toolkit_error(ram):
  with pytest.raises(pipeline_config.ToolkitError, match="does not exist"):
    walk.check_data_root(f"{ram}/missing")
  _write_tree(ram, {"a.png": b"x"})
  with pytest.raises(pipeline_config.ToolkitError, match="no class folders"):
    walk.check_data_root(ram)


def test_the_fingerprint_of_a_ram_root_equals_the_local_one_and_follows_content(
    ram, tmp_path, monkeypatch):
  local = str(tmp_path / "data")
  _write_tree(local, _tree())
  _write_tree(ram, _tree())
  plain = walk.content_fingerprint(local)
  assert walk.content_fingerprint(ram) == plain

  # Not beside the root: ram:// lists every name that starts with a folder's path.
  manifest = f"ram://cloud_io_cache/{uuid.uuid4().hex}/manifests/root.json"
  assert walk.content_fingerprint(ram, manifest) == plain
  with tf.io.gfile.GFile(manifest) as f:
    assert set(json.load(f)) == {"cat/000.png", "cat/001.jpg", "dog/000.png",
                                 "dog/more/002.png", "README.txt"}
  read = []
  original = walk._file_sha256                           # pylint: disable=protected-access
  monkeypatch.setattr(walk, "_file_sha256", lambda p: read.append(p) or original(p))
  assert walk.content_fingerprint(ram, manifest) == plain and read == []
  # ram:// has no mtimes (0): a change is seen through the size here, through both on GCS.
  _write_tree(ram, {"dog/000.png": image_factory.encoded(image_factory.pattern(20, 20, 9))})
  assert walk.content_fingerprint(ram, manifest) != plain
  assert read == [f"{ram}/dog/000.png"]


def test_records_read_a_ram_source(ram):
  files = _tree()
  _write_tree(ram, {**files, "cat/empty.png": b""})
  record = records.FileRecord(path="cat/000.png", source=f"{ram}/cat/000.png")
  assert records.read_file(record, 1 << 20) == files["cat/000.png"]
  assert record.sha256 and not record.outcome
  empty = records.FileRecord(path="cat/empty.png", source=f"{ram}/cat/empty.png")
  assert records.read_file(empty, 1 << 20) is None and empty.reason == "empty_file"
  large = records.FileRecord(path="cat/000.png", source=f"{ram}/cat/000.png")
  assert records.read_file(large, 10) is None and large.reason.startswith("file_too_large")
  gone = records.FileRecord(path="cat/gone.png", source=f"{ram}/cat/gone.png")
  assert records.read_file(gone, 1 << 20) is None
  assert gone.outcome == records.REJECTED and gone.reason.startswith("unreadable: ")


def _tiny_model(outputs, inputs=4):
  x = keras.Input((inputs,))
  hidden = keras.layers.Dense(3, name="hidden")(x)
  return keras.Model(x, keras.layers.Dense(outputs, name="out")(hidden))


def test_warm_start_round_trips_through_the_serving_model_on_ram(ram):
  keras.utils.set_random_seed(0)
  trained = _tiny_model(2)
  serving = f"{ram}/Format-Serving"
  warm_start.save(trained, ["a", "b"], serving)
  folder = f"{serving}/assets.extra/warm_start"
  assert sorted(tf.io.gfile.listdir(folder)) == ["labels.json", "weights.h5"]

  same = _tiny_model(2)
  record = warm_start.load(same, ["a", "b"], serving, _tiny_model, f"{ram}/run")
  assert record["mode"] == "full" and record["from"] == ram
  for restored, saved in zip(same.get_weights(), trained.get_weights()):
    np.testing.assert_array_equal(restored, saved)
  with tf.io.gfile.GFile(f"{ram}/run/warm_start.json") as f:
    assert json.load(f)["mode"] == "full"

  extended = _tiny_model(3)
  record = warm_start.load(extended, ["a", "b", "c"], serving, _tiny_model, f"{ram}/run")
  assert record["mode"] == "all but the output layer"
  np.testing.assert_array_equal(extended.get_layer("hidden").get_weights()[0],
                                trained.get_layer("hidden").get_weights()[0])

  other_shape = _tiny_model(2, inputs=5)
  before = [w.copy() for w in other_shape.get_weights()]
  assert warm_start.load(other_shape, ["a", "b"], serving,
                         lambda n: _tiny_model(n, inputs=5), f"{ram}/run") is None
  for kept, initial in zip(other_shape.get_weights(), before):
    np.testing.assert_array_equal(kept, initial)


def test_warm_start_reads_the_old_location_beside_the_serving_model(ram):
  keras.utils.set_random_seed(1)
  trained = _tiny_model(2)
  warm_start.save(trained, ["a", "b"], f"{ram}/new/Format-Serving")
  old = f"{ram}/old/warm_start"                 # <model artifact>/warm_start, before the move
  tf.io.gfile.makedirs(old)
  for name in ("weights.h5", "labels.json"):
    tf.io.gfile.copy(f"{ram}/new/Format-Serving/assets.extra/warm_start/{name}",
                     f"{old}/{name}")
  restored = _tiny_model(2)
  assert warm_start.load(restored, ["a", "b"], f"{ram}/old/Format-Serving", _tiny_model,
                         f"{ram}/run")["mode"] == "full"
  np.testing.assert_array_equal(restored.get_layer("out").get_weights()[0],
                                trained.get_layer("out").get_weights()[0])
  assert warm_start.load(_tiny_model(2), ["a", "b"], f"{ram}/nothing/Format-Serving",
                         _tiny_model, f"{ram}/run") is None


def test_the_feature_cache_writes_and_reads_back_on_ram(ram):
  cache = feature_cache.FeatureCache(ram, "vgg16", 32, "w" * 64,
                                     decoding_fingerprint="d" * 64)
  sha = "ab" + "0" * 62
  assert cache.get(sha) is None
  features = np.arange(6, dtype=np.float64).reshape(2, 3)
  cache.put(sha, 0, features)
  cache.put(sha, 2, features + 1)
  again = feature_cache.FeatureCache(ram, "vgg16", 32, "w" * 64,
                                     decoding_fingerprint="d" * 64)
  np.testing.assert_array_equal(again.get(sha), features)
  np.testing.assert_array_equal(again.get(sha, 2), features + 1)
  assert again.get(sha, 2).dtype == np.float32
  assert again.stats()["hits"] == 3 and cache.stats() == {
      "namespace": cache.namespace, "hits": 0, "misses": 1}
  names = tf.io.gfile.listdir(os.path.join(cache.namespace, "ab"))
  assert len(names) == 2 and not any(".tmp" in n for n in names)


def _png(path):
  with tf.io.gfile.GFile(path, "rb") as f:
    data = f.read()
  assert data.startswith(PNG_SIGNATURE)
  with Image.open(io.BytesIO(data)) as image:
    return image.size


def test_reports_and_plots_are_written_to_ram(ram):
  folder = reports.reports_dir(f"{ram}/run")
  assert tf.io.gfile.isdir(folder)
  history = {"head": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8],
                      "val_accuracy": [0.4, 0.7]}}
  labels = np.array([0, 1, 1, 0])
  probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
  written = reports.classifier_reports(_tiny_model(2), history, labels, probabilities,
                                       ["a", "b"], folder)
  assert sorted(tf.io.gfile.listdir(folder)) == ["confusion_matrix.png", "model.png",
                                                 "training_curves.png"]
  for path in written.values():
    width, height = _png(path)
    assert width > 100 and height > 100

  inputs = keras.Input((8, 8, 3))
  base = keras.Sequential([keras.layers.Conv2D(2, 3, input_shape=(8, 8, 3))], name="base")
  pooled = keras.layers.GlobalAveragePooling2D()(base(inputs))
  conv_model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
  images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
  _png(image_reports.grad_cam(conv_model, "base", images, labels, probabilities, ["a", "b"],
                              f"{folder}/grad_cam.png", samples=4))

  docs = types.SimpleNamespace(labels=labels, texts=["un", "deux", "trois", "quatre"],
                               sha256=["0" * 64] * 4)
  wrong = wrong_examples.confidently_wrong(docs, probabilities, ["a", "b"], 5,
                                           f"{folder}/confidently_wrong.md")
  with tf.io.gfile.GFile(wrong) as f:
    assert "1 of 4 eval documents misclassified" in f.read()
  coverage = embeddings.write_coverage({"hits": 3}, f"{ram}/run")
  with tf.io.gfile.GFile(coverage) as f:
    assert json.load(f) == {"hits": 3}


def test_the_best_checkpoint_and_logs_reach_a_ram_run_folder(ram):
  keras.utils.set_random_seed(0)
  model = _tiny_model(2)
  model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
  config = types.SimpleNamespace(monitor="val_loss", early_stopping_patience=5,
                                 reduce_lr_factor=0.5, reduce_lr_patience=5,
                                 min_epochs_fraction=0.0, patience_fraction=0.0)
  x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
  y = (x[:, 0] > 0).astype(np.int64)
  hygiene.fit_phase(model, config, f"{ram}/run", "head", x, (x, y), 2, y=y, batch_size=8)
  checkpoint = f"{ram}/run/checkpoints/head_best.h5"
  assert tf.io.gfile.stat(checkpoint).length > 0
  with tf.io.gfile.GFile(checkpoint, "rb") as f:
    assert f.read(8) == b"\x89HDF\r\n\x1a\n"
  assert tf.io.gfile.glob(f"{ram}/run/logs/head/train/*")
