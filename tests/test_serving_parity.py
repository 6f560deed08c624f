"""Train/serve parity at the model level (contract): for every file ingestion accepts, the
pushed model's `serving_default` gives the same prediction for the client's original bytes
as for the example bytes the trainer and the Evaluator saw."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components.ingest import report as ingest_report
from tests import image_factory
from tests.example_gen_helpers import read_examples, run_executor, train_small_convnet

SPLITS = pipeline_config.SPLITS


@pytest.fixture(scope="module")
def served(tmp_path_factory):
  """Every normalise case filed under two classes next to plain images, ingested and
  trained on; returns (loaded model, {path: (original bytes, stored bytes)}, report)."""
  tmp = tmp_path_factory.mktemp("parity")
  root = str(tmp / "data")
  image_factory.class_folder_dataset(root, classes=("plain", "special"), per_class=10)
  for i, (case, make) in enumerate(sorted(image_factory.NORMALISE_CASES.items())):
    make(os.path.join(root, ("plain", "special")[i % 2], case))
  for case, (make, _) in image_factory.NOT_SERVABLE_CASES.items():
    make(os.path.join(root, "special", case))
  for i in range(6):
    image_factory.rgba_icon(os.path.join(root, "plain", f"icon{i}.png"), seed=10 + i)
  examples, report_artifact = run_executor(root, str(tmp / "out"))
  report = ingest_report.read_report(report_artifact.uri)

  export_dir = str(tmp / "serving")
  train_small_convnet(examples.uri, export_dir, str(tmp / "run"))
  stored = {r["sha256"]: r["image"] for s in SPLITS for r in read_examples(examples.uri, s)}
  pairs = {}
  for row in report["files"]:
    if row["outcome"] in ("ingested", "normalised"):
      with open(os.path.join(root, row["path"]), "rb") as f:
        pairs[row["path"]] = (f.read(), stored[row["sha256"].encode()])
  return tf.saved_model.load(export_dir), pairs, report


def _refused_case(path):
  return os.path.splitext(os.path.basename(path))[0] in image_factory.NOT_SERVABLE_CASES


def test_every_accepted_file_predicts_the_same_from_original_and_stored_bytes(served):
  model, pairs, report = served
  normalised = [r["path"] for r in report["files"] if r["outcome"] == "normalised"]
  assert len(normalised) >= len(image_factory.NORMALISE_CASES) - 1   # RGB BMP may be kept
  paths = sorted(p for p in pairs if not _refused_case(p))
  serve = model.signatures["serving_default"]
  original = serve(images=tf.constant([pairs[p][0] for p in paths]))
  stored = serve(images=tf.constant([pairs[p][1] for p in paths]))
  difference = np.abs(original["probabilities"].numpy() - stored["probabilities"].numpy())
  worst = paths[int(difference.max(axis=1).argmax())]
  assert difference.max() <= 0.02, f"{worst}: {difference.max():.4f}"
  np.testing.assert_array_equal(original["label_id"].numpy(), stored["label_id"].numpy())


def test_files_serving_refuses_are_trained_on_as_png_and_refused_by_name_when_sent(served):
  model, pairs, report = served
  refused = {os.path.splitext(os.path.basename(r["path"]))[0]: r
             for r in report["files"] if _refused_case(r["path"])}
  assert set(refused) == set(image_factory.NOT_SERVABLE_CASES)
  assert all(r["outcome"] == "normalised" for r in refused.values()), refused
  assert all(r["reason"].startswith("send_as_png") for r in refused.values())
  assert any("send_as_png" in note for note in report["notes"])
  serve = model.signatures["serving_default"]
  for case, row in refused.items():
    original, stored = pairs[row["path"]]
    serve(images=tf.constant([stored]))              # the PNG a client sends instead
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=re.escape(image_factory.NOT_SERVABLE_CASES[case][1])):
      serve(images=tf.constant([original]))
    # One refused image fails the whole request: never a prediction for the others alone.
    with pytest.raises(tf.errors.InvalidArgumentError):
      serve(images=tf.constant([stored, original]))


def test_undecodable_bytes_sent_to_serving_are_an_invalid_argument_error(served):
  model, _, _ = served
  for payload in (b"hello", b"", b"\xff\xd8\xff\xe0garbage"):
    with pytest.raises(tf.errors.InvalidArgumentError):
      model.signatures["serving_default"](images=tf.constant([payload]))


def _png(width, height, mode="1"):
  import io  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  buffer = io.BytesIO()
  Image.new(mode, (width, height)).save(buffer, "PNG")
  return buffer.getvalue()


def _jpeg(width, height):
  import io  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  buffer = io.BytesIO()
  Image.new("L", (width, height)).save(buffer, "JPEG", quality=10)
  return buffer.getvalue()


def _declaring(data, offset, width, height, fmt):
  """`data` with its header's width and height replaced (struct format `fmt`)."""
  import struct  # pylint: disable=import-outside-toplevel
  return data[:offset] + struct.pack(fmt, width, height) + data[offset + struct.calcsize(fmt):]


def test_serving_refuses_what_ingestion_rejects_by_size_before_decoding(served, tmp_path):
  """Issue 20, case 10: a 389 KB PNG declaring 10000x10000 took 5.2 GB and 21.6 s; a 1x1
  PNG that ingestion rejects as too_small got a confident prediction; an empty batch gave
  an internal shape error."""
  import resource  # pylint: disable=import-outside-toplevel
  model = served[0]
  serve = model.signatures["serving_default"]
  small_gif = open(image_factory.save(image_factory.pattern(seed=1), str(tmp_path / "a.gif"),
                                      "GIF"), "rb").read()
  small_bmp = open(image_factory.save(image_factory.pattern(seed=1), str(tmp_path / "a.bmp"),
                                      "BMP"), "rb").read()
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  cases = {
      "png 10000x10000": (_png(10000, 10000), "max_pixels=50000000"),
      "jpeg 8000x8000": (_jpeg(8000, 8000), "max_pixels=50000000"),
      "gif declaring 10000x10000": (_declaring(small_gif, 6, 10000, 10000, "<HH"),
                                    "max_pixels"),
      "bmp declaring 9000x-9000": (_declaring(small_bmp, 18, 9000, -9000, "<ii"),
                                   "max_pixels"),
      "png 1x1": (_png(1, 1, "RGB"), "min_side=8"),
      "png 200x4": (_png(200, 4, "RGB"), "min_side=8"),
      "60 MB of bytes": (_png(16, 16, "RGB") + b"\0" * (60 << 20), "max_file_bytes"),
  }
  for name, (data, message) in cases.items():
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
      serve(images=tf.constant([data]))
  grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak      # KiB on Linux
  assert grown < 1 << 20, f"refusing grew the peak memory by {grown} KiB"
  with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
    serve(images=tf.constant([], tf.string))
  # A legal image of the same formats still gets its prediction.
  ok = serve(images=tf.constant([_png(64, 64, "RGB"), small_gif, small_bmp]))
  assert ok["probabilities"].shape[0] == 3
