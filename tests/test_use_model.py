"""Using a pushed model (issue 23): `predict` on Beam through RunInference gives the rows of
the in-process `predict`, and `export --format tflite` gives a TFLite model that agrees with
the SavedModel on the files serving takes, with its preprocessing contract beside it."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from components.ingest import report as ingest_report
from pipeline import batch_predict, cli, edge_export, predict
from tests import image_factory, serving_client
from tests.example_gen_helpers import run_executor, train_small_convnet

CLASSES = ("circles", "stripes", "blocks")


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
  """A small convnet trained on three classes of synthetic images; (model dir, eval files)."""
  tmp = tmp_path_factory.mktemp("use")
  root = str(tmp / "data")
  image_factory.class_folder_dataset(root, classes=CLASSES, per_class=14, size=(40, 40))
  examples, report_artifact = run_executor(root, str(tmp / "out"))
  report = ingest_report.read_report(report_artifact.uri)
  export_dir = str(tmp / "serving")
  train_small_convnet(examples.uri, export_dir, str(tmp / "run"))
  every = sorted(os.path.join(root, r["path"]) for r in report["files"])
  return export_dir, every


def _client_folder(files, folder):
  """What a client has: the images, and files the model cannot use."""
  os.makedirs(os.path.join(folder, "odd"))
  for i, path in enumerate(files):
    shutil.copy(path, os.path.join(folder, f"{i:03d}{os.path.splitext(path)[1]}"))
  image_factory.webp_file(os.path.join(folder, "odd", "photo.webp"))
  with open(os.path.join(folder, "odd", "notes.txt"), "w") as f:
    f.write("not an image")
  open(os.path.join(folder, "odd", "empty.png"), "wb").close()
  return folder


def test_predict_on_beam_gives_the_rows_of_predict_in_process(image_model, tmp_path, capsys):
  model_dir, files = image_model
  folder = _client_folder(files[:30], str(tmp_path / "new"))
  in_process = list(predict.predict(model_dir, [folder], top_k=2, batch_size=8))
  assert len(in_process) == 33
  rows, errors, pattern = batch_predict.run(model_dir, [folder], str(tmp_path / "rows"),
                                            top_k=2, batch_size=8,
                                            beam_args=["--direct_num_workers=1"])
  on_beam = batch_predict.read_shards(pattern)
  serving_client.same_rows(on_beam, in_process)
  assert (rows, errors) == (33, 3)
  assert {os.path.basename(r["path"]) for r in on_beam if "error" in r} == {
      "photo.webp", "notes.txt", "empty.png"}
  # The CLI: --beam writes shards under --output; without --output it says why.
  code = cli.main(["predict", "--model", model_dir, "--input", folder, "--beam",
                   "--output", str(tmp_path / "cli" / "rows.csv")])
  assert code == 0
  shards = sorted(os.listdir(tmp_path / "cli"))
  assert shards and all(s.startswith("rows-") and s.endswith(".csv") for s in shards)
  lines = [line for s in shards for line in open(tmp_path / "cli" / s).read().splitlines()]
  assert lines[0] == ",".join(predict.CSV_FIELDS) and len(lines) == 33 + len(shards)
  assert "33 rows (30 predictions, 3 files that could not be used" in capsys.readouterr().err
  assert cli.main(["predict", "--model", model_dir, "--input", folder, "--beam"]) == 2
  assert "pass --output PREFIX" in capsys.readouterr().err


def test_tflite_export_agrees_with_the_saved_model_and_carries_its_contract(image_model,
                                                                           tmp_path):
  model_dir, files = image_model
  output = str(tmp_path / "edge" / "model.tflite")
  record = edge_export.export(model_dir, output, "none", check=files)
  assert os.path.getsize(output) == record["bytes"] > 0
  with open(output + ".json") as f:
    assert json.load(f) == record
  assert record["labels"] == sorted(CLASSES)
  contract = record["input"]
  assert contract["kind"] == "pixels" and contract["shape"] == [None, 24, 24, 3]
  assert contract["range"] == [0, 255] and contract["image_size"] == 24
  agreement = record["agreement"]
  assert agreement["compared"] == agreement["files"] == len(files)
  assert agreement["top1_agreement"] >= 0.99
  assert agreement["max_probability_difference"] < 1e-4
  # The contract holds: the SavedModel's own preprocessing of a file, fed to the TFLite
  # model in a fresh interpreter, gives serving_default's probabilities for its bytes.
  loaded = tf.saved_model.load(model_dir)
  data = tf.constant([open(files[0], "rb").read()])
  pixels = loaded.signatures["serving_preprocess"](images=data)["model_input"].numpy()
  assert pixels.shape == (1, 24, 24, 3) and 0 <= pixels.min() and pixels.max() <= 255
  lite = edge_export.TFLiteClassifier(open(output, "rb").read())
  np.testing.assert_allclose(lite(pixels), loaded.signatures["serving_default"](
      images=data)["probabilities"].numpy(), atol=1e-5)


def test_quantized_exports_are_smaller_and_report_their_agreement(image_model, tmp_path):
  model_dir, files = image_model
  plain = edge_export.export(model_dir, str(tmp_path / "f32.tflite"))
  half = edge_export.export(model_dir, str(tmp_path / "f16.tflite"), "float16", check=files)
  full = edge_export.export(model_dir, str(tmp_path / "int8.tflite"), "int8", check=files,
                            representative=files[:20])
  assert half["bytes"] < plain["bytes"] and full["bytes"] < half["bytes"]
  assert half["agreement"]["top1_agreement"] >= 0.95
  assert full["int8"].startswith("full integer") and "20 files" in full["int8"]
  assert full["agreement"]["top1_agreement"] >= 0.6        # chance is 1/3
  dynamic = edge_export.export(model_dir, str(tmp_path / "dyn.tflite"), "int8")
  assert dynamic["int8"] == "weights only (dynamic range)"


def test_export_refuses_what_it_cannot_convert(image_model, tmp_path):
  module = tf.Module()
  module.scale = tf.Variable(2.0)
  fn = tf.function(lambda window: {"forecast": window * module.scale},
                   input_signature=[tf.TensorSpec([None], tf.float32, name="window")])
  tf.saved_model.save(module, str(tmp_path / "forecaster"),
                      signatures={"serving_default": fn.get_concrete_function()})
  with pytest.raises(pipeline_config.ToolkitError, match="no serving_model_input signature"):
    edge_export.export(str(tmp_path / "forecaster"), str(tmp_path / "f.tflite"))
  with pytest.raises(pipeline_config.ToolkitError, match="--quantize must be one of"):
    edge_export.export(image_model[0], str(tmp_path / "x.tflite"), "int4")
  assert not os.path.exists(tmp_path / "f.tflite")
  with pytest.raises(pipeline_config.ToolkitError, match="None of the 1 --representative"):
    edge_export.export(image_model[0], str(tmp_path / "y.tflite"), "int8",
                       representative=[str(tmp_path / "forecaster" / "saved_model.pb")])


def test_int8_calibration_spreads_over_every_class_folder():
  files = [f"{c}/{i:03d}.png" for c in "abcd" for i in range(60)]
  chosen = edge_export.calibration_files(files)
  assert len(chosen) <= edge_export.REPRESENTATIVE_FILES
  assert {path[0] for path in chosen} == set("abcd")
  assert edge_export.calibration_files(files[:7]) == files[:7]


def test_the_card_of_a_model_that_was_not_pushed_stays_in_its_artifact(tmp_path):
  """Not blessed (or already served): the card is recorded in the ModelCard artifact only,
  says so, and nothing is written into a serving folder."""
  from tfx.types import standard_artifacts  # pylint: disable=import-outside-toplevel
  from components.artifacts import ModelCard  # pylint: disable=import-outside-toplevel
  from components.model_card import executor as card_executor  # pylint: disable=import-outside-toplevel
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / "pushed")
  pushed.set_int_custom_property("pushed", 0)
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property("blessed", 0)
  record = ModelCard()
  record.uri = str(tmp_path / "card")
  card_executor.Executor().Do(
      {"pushed_model": [pushed], "model_blessing": [blessing]}, {"model_card": [record]},
      {"card_config": json.dumps({"task": "image", "pipeline_name": "p", "data_root": "d",
                                  "limits": ["a limit"]})})
  card = json.load(open(tmp_path / "card" / "model_card.json"))
  assert card["model"]["pushed_to"] is None and card["blessing"]["blessed"] is False
  assert card["limits"] == ["a limit"] and card["metrics"] == {}
  markdown = open(tmp_path / "card" / "model_card.md").read()
  assert "for a model that was not pushed" in markdown and "blessed: no" in markdown
  assert sorted(os.listdir(tmp_path)) == ["card"]


def test_the_batch_inference_step_scores_with_the_pushed_model_or_says_why_not(image_model,
                                                                             tmp_path):
  """BatchInference's executor on the pipeline's Beam: the rows of `predict` for the folder,
  with the model the Pusher pushed; nothing scored when nothing blessed was served."""
  from tfx.types import standard_artifacts  # pylint: disable=import-outside-toplevel
  from components.inference import executor as inference_executor  # pylint: disable=import-outside-toplevel
  model_dir, files = image_model
  folder = _client_folder(files[:12], str(tmp_path / "unlabelled"))

  def run(name, **flags):
    pushed = standard_artifacts.PushedModel()
    for key, value in flags.items():
      (pushed.set_int_custom_property if isinstance(value, int) else
       pushed.set_string_custom_property)(key, value)
    result = standard_artifacts.InferenceResult()
    result.uri = str(tmp_path / name)
    inference_executor.Executor().Do(
        {"pushed_model": [pushed]}, {"inference_result": [result]},
        {"infer_root": folder, "top_k": 2, "batch_size": 4})
    return json.load(open(tmp_path / name / "summary.json")), result

  summary, result = run("pushed", pushed=1, pushed_destination=model_dir)
  assert (summary["model"], summary["files"], summary["rows"], summary["errors"]) == (
      model_dir, 15, 15, 3)
  rows = batch_predict.read_shards(str(tmp_path / "pushed" / "rows-*-of-*.jsonl"))
  serving_client.same_rows(rows, list(predict.predict(model_dir, [folder], top_k=2)))
  assert result.get_int_custom_property("rows") == 15
  unchanged, _ = run("unchanged", pushed=0, unchanged=1, served_model=model_dir)
  assert unchanged["model"] == model_dir and unchanged["rows"] == 15
  skipped, _ = run("not_blessed", pushed=0)
  assert skipped["skipped"].startswith("this run's model was not blessed")
  assert os.listdir(tmp_path / "not_blessed") == ["summary.json"]
