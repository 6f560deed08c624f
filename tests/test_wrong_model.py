"""Never a wrong model served, never a wrong record (issue 20): what an ordinary user or an
unlucky operator can do to a work dir, each case at the function or CLI level."""

import json
import os

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import pipeline_config
from components.ingest import report as ingest_report, walk
from pipeline import cli, local_runner, run_summary
from tests import image_factory


def _config(tmp_path, **changes):
  config = pipeline_config.PipelineConfig(data_root=str(tmp_path / "data"),
                                          work_dir=str(tmp_path / "work"))
  for name, value in changes.items():
    setattr(config, name, value)
  return config


@pytest.mark.parametrize("name", ["digits.v2", "../../escaped", "Digits", "a_b", "", "-x",
                                  "x" * 129])
def test_pipeline_names_are_checked_for_every_command(tmp_path, name, capsys):
  """`digits.v2` split MLMD node ids on the dot (a push reported as none); `../../escaped`
  wrote the vocabulary, span cache and gate history outside the work dir."""
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  work = ["--work-dir", str(tmp_path / "work")]
  for command in (["run", *work], ["watch", "--once", *work],
                  ["compile", "--target", "kfp", "--output", str(tmp_path / "p.yaml"),
                   "--image", "toolkit:1", "--pipeline-root", "gs://b/p"]):
    code = cli.main([*command, "--data-root", str(tmp_path / "data"),
                     f"--pipeline-name={name}"])
    assert code == 2
    assert "Pipeline names take lowercase letters, digits and hyphens" in capsys.readouterr().err
  assert not (tmp_path / "work").exists() and not (tmp_path / "escaped").exists()
  for good in ("digits-v2", "a", "0-tasks"):
    pipeline_config.check_pipeline_name(good)


def test_each_pipeline_pushes_into_its_own_serving_folder(tmp_path):
  """An image run and a text run in one work dir used to push into one serving/, so the
  highest version (what a model server loads) was whichever ran last."""
  image, text = _config(tmp_path), _config(tmp_path, task="text")
  text.timeseries.target_column = "x"
  image.validate()
  text.validate()
  serving = os.path.join(os.path.abspath(str(tmp_path / "work")), "serving")
  assert image.serving_dir == os.path.join(serving, "transfer-learning")
  assert text.serving_dir == os.path.join(serving, "transfer-learning-text")
  remote = _config(tmp_path, pipeline_root_uri="gs://b/p", pipeline_name="digits")
  assert remote.serving_dir == "gs://b/p/digits/serving"


@pytest.mark.parametrize("layout", ["file", "under_file"])
def test_a_work_dir_that_cannot_be_a_folder_is_one_clear_error(tmp_path, layout, capsys):
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  (tmp_path / "afile").write_text("x")
  work = tmp_path / "afile" if layout == "file" else tmp_path / "afile" / "work"
  assert cli.main(["run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(work)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: The work dir") and "is a file, not a folder" in err


@pytest.mark.parametrize("assignment", ["max_feature_drift=nan", "max_label_drift=NaN",
                                        "max_class_imbalance=-1"])
def test_a_gate_that_would_be_off_is_refused(tmp_path, assignment, capsys):
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  assert cli.main(["run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(tmp_path / "work"), "--gate", assignment]) == 2
  assert "must be a number >= 0" in capsys.readouterr().err


def test_augmentation_variants_are_bounded(tmp_path, capsys):
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  assert cli.main(["run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(tmp_path / "work"), "--augmentation-variants", "100000"]) == 2
  assert "variants must be between 1 and 50" in capsys.readouterr().err


def test_class_names_with_pipes_and_newlines_keep_the_report_table():
  report = {"totals": dict.fromkeys(("found", "ingested", "normalised", "rejected",
                                     "skipped"), 0),
            "per_class": {"a|b": {"ingested": 3}, "x\ny": {"ingested": 4}},
            "per_reason": {"too_small": 1}, "files": []}
  lines = ingest_report.render_markdown(report).splitlines()
  rows = [line for line in lines if line.startswith("| a") or line.startswith("| x")]
  assert rows == [r"| a\|b | 3 | 0 | 0 | 0 |", r"| x\ny | 4 | 0 | 0 | 0 |"]


def test_an_edited_file_with_its_old_size_and_mtime_is_hashed_again(tmp_path):
  """docs/kubeflow.md says a changed file is noticed even with the same size and mtime; the
  manifest compared (size, mtime) only, so the text pipeline reran fully cached."""
  root = tmp_path / "data" / "a"
  root.mkdir(parents=True)
  path = root / "doc.txt"
  path.write_text("the quick brown fox")
  manifest = str(tmp_path / "manifest.json")
  before = walk.content_fingerprint(str(tmp_path / "data"), manifest)
  stat = os.stat(path)
  path.write_text("the quick brown cat")                       # same size
  os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))      # old mtime back
  assert os.stat(path).st_size == stat.st_size
  assert walk.content_fingerprint(str(tmp_path / "data"), manifest) != before
  assert walk.content_fingerprint(str(tmp_path / "data"), manifest) == walk.content_fingerprint(
      str(tmp_path / "data"))


def test_a_lost_metadata_store_stops_before_anything_is_written(tmp_path):
  """Without metadata.sqlite TFX numbers executions from 1 again: the run overwrote
  ImageExampleGen/examples/1 in place, then stopped with AlreadyExistsError."""
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  config = _config(tmp_path)
  old = tmp_path / "work" / "pipeline_root" / "ImageExampleGen" / "examples" / "1"
  old.mkdir(parents=True)
  (old / "keep").write_text("old")
  with pytest.raises(pipeline_config.ToolkitError, match="not the metadata store"):
    local_runner.run(config)
  assert sorted(os.listdir(tmp_path / "work")) == ["pipeline_root"]
  assert (old / "keep").read_text() == "old"


def _store(path):
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = path
  connection.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  return metadata_store.MetadataStore(connection)


def _record_run(store, types, pipeline, run_id, pushed_uri):
  """One pipeline run as TFX records it: pipeline, pipeline_run and node contexts, and a
  Pusher execution whose output PushedModel says where it was pushed."""
  def context(kind, name):
    found = store.get_context_by_type_and_name(kind, name)
    if found:
      return found
    new = metadata_store_pb2.Context(type_id=types[kind], name=name)
    return store.get_contexts_by_id(store.put_contexts([new]))[0]
  contexts = [context("pipeline", pipeline), context("pipeline_run", run_id),
              context("node", f"{pipeline}.Pusher")]
  execution = metadata_store_pb2.Execution(
      type_id=types["Pusher"], last_known_state=metadata_store_pb2.Execution.COMPLETE)
  artifact = metadata_store_pb2.Artifact(type_id=types["PushedModel"], uri=pushed_uri)
  artifact.custom_properties["pushed"].int_value = 1
  artifact.custom_properties["pushed_destination"].string_value = pushed_uri
  event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
  event.path.steps.add().key = "pushed_model"
  event.path.steps.add().index = 0
  store.put_execution(execution, [(artifact, event)], contexts)


def test_last_run_describes_this_pipelines_run_never_another_pipelines(tmp_path):
  """After an image run and then a text run in one work dir, an image run that failed
  before anything ran reported `"blessed": true` and the text model as its push."""
  config = _config(tmp_path)
  os.makedirs(config.work_dir)
  store = _store(config.metadata_path)
  types = {}
  for kind in ("pipeline", "pipeline_run", "node"):
    types[kind] = store.put_context_type(metadata_store_pb2.ContextType(name=kind))
  types["Pusher"] = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Pusher"))
  types["PushedModel"] = store.put_artifact_type(
      metadata_store_pb2.ArtifactType(name="PushedModel"))
  _record_run(store, types, "transfer-learning", "2026-12-01T10:00", "/s/image/1")
  _record_run(store, types, "transfer-learning-text", "2026-12-01T11:00", "/s/text/2")
  summary = run_summary.summarise(config)
  assert summary["run_id"] == "2026-12-01T10:00"
  assert summary["pushed_model"] == "/s/image/1"
  assert summary["executions"] == {"Pusher": "COMPLETE"}
  latest = run_summary.latest_run_id(config)
  with pytest.raises(pipeline_config.ToolkitError, match="No run of pipeline"):
    run_summary.summarise(config, newer_than=latest)


def test_an_early_failure_records_nothing_blessed_and_nothing_pushed(tmp_path):
  """A new class under --on-new-class fail stops before TFX runs: last_run.json says so,
  whatever earlier runs in the store did."""
  image_factory.class_folder_dataset(str(tmp_path / "data" / "span-1"), classes=("a", "b"),
                                     per_class=2)
  image_factory.class_folder_dataset(str(tmp_path / "data" / "span-2"),
                                     classes=("a", "b", "c"), per_class=2)
  config = _config(tmp_path)
  config.validate()
  from pipeline import factory  # pylint: disable=import-outside-toplevel
  vocabulary_path = factory.vocabulary_uri(config)
  os.makedirs(os.path.dirname(vocabulary_path))
  with open(vocabulary_path, "w") as f:
    json.dump(["a", "b"], f)
  with pytest.raises(pipeline_config.ToolkitError, match="new classes c"):
    local_runner.run(config)
  with open(config.last_run_path) as f:
    last = json.load(f)
  assert last["blessed"] is False and last["pushed_model"] is None and last["model"] is None
  assert "new classes c" in last["error"]


def _push(tmp_path, model_dir, name):
  """One Pusher execution (TFX's executor with the toolkit's unchanged-model check)."""
  from tfx.proto import pusher_pb2  # pylint: disable=import-outside-toplevel
  from tfx.types import standard_artifacts  # pylint: disable=import-outside-toplevel
  from tfx.utils import proto_utils  # pylint: disable=import-outside-toplevel
  from components.pusher import executor  # pylint: disable=import-outside-toplevel
  model = standard_artifacts.Model()
  model.uri = model_dir
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / name / "blessing")
  blessing.set_int_custom_property("blessed", 1)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / name / "pushed")
  destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
      base_directory=str(tmp_path / "serving")))
  executor.Executor().Do({"model": [model], "model_blessing": [blessing]},
                         {"pushed_model": [pushed]},
                         {"push_destination": proto_utils.proto_to_json(destination)})
  return pushed


def _save_model(folder, scale):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  module = tf.Module()
  module.scale = tf.Variable(scale)
  module.__call__ = tf.function(lambda x: x * module.scale,
                                input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, os.path.join(folder, "Format-Serving"))
  return folder


def test_the_model_already_served_is_not_pushed_again(tmp_path):
  """Every rerun and `watch` tick that blessed the same model pushed a byte-identical
  version (issue 20, case 9)."""
  import time  # pylint: disable=import-outside-toplevel
  model = _save_model(str(tmp_path / "model1"), 2.0)
  first = _push(tmp_path, model, "run1")
  assert first.get_int_custom_property("pushed") == 1
  versions = os.listdir(tmp_path / "serving")
  assert len(versions) == 1
  # ModelCardGen writes the card beside the pushed model: it is not part of the model.
  for name in ("model_card.json", "model_card.md"):
    (tmp_path / "serving" / versions[0] / name).write_text("{}")
  time.sleep(1.1)                         # versions are Unix seconds
  again = _push(tmp_path, model, "run2")
  assert again.get_int_custom_property("pushed") == 0
  assert again.get_int_custom_property("unchanged") == 1
  assert again.get_string_custom_property("served_model") == str(
      tmp_path / "serving" / versions[0])
  assert os.listdir(tmp_path / "serving") == versions
  other = _save_model(str(tmp_path / "model2"), 3.0)
  assert _push(tmp_path, other, "run3").get_int_custom_property("pushed") == 1
  assert len(os.listdir(tmp_path / "serving")) == 2
