"""A task is one module: a task defined entirely under tests/ (tests/tiny_task: short byte
strings classified by their byte histogram) registers itself and runs through the real
pipeline; the spine names no task; a config file written for the old section names runs."""

import json
import os
import random
import re

import pytest

import pipeline_config
from tests import serving_client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT_IN = ("image", "text", "timeseries")
# The spine: what loops over the descriptors. `--image` (compile) is the container image.
SPINE = ("pipeline/factory.py", "pipeline/cli.py", "pipeline/run_summary.py",
         "pipeline/evaluation.py", "pipeline/local_runner.py", "pipeline/watch.py",
         "components/data_gate/gates.py", "scripts/run_demo.sh", "pyproject.toml",
         "components/model_card/card.py", "components/model_card/figures.py",
         "components/model_card/executor.py", "pipeline/batch_predict.py",
         "pipeline/edge_export.py")


def test_the_spine_names_no_task():
  found = []
  for name in SPINE:
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
      for number, line in enumerate(f, 1):
        line = re.sub(r"--image\b|container image|args\.image|default image|image_uri|"
                      r"\bimage\b(?=[,)]| {2}|: str)|\bimage, pipeline root", "", line)
        if re.search(r"\b(%s|images|documents|photos)\b" % "|".join(BUILT_IN), line, re.I):
          found.append(f"{name}:{number}: {line.strip()}")
  assert not found, found


def test_a_config_file_with_the_old_section_names_still_loads(tmp_path):
  path = tmp_path / "old_config.py"
  path.write_text(
      "import pipeline_config\n"
      "CONFIG = pipeline_config.PipelineConfig(\n"
      "    trainer=pipeline_config.TrainerConfig(backbone='small_convnet', head_epochs=3),\n"
      "    augmentation=pipeline_config.AugmentationConfig(mode='off'),\n"
      "    timeseries=pipeline_config.TimeseriesConfig(target_column='temp'))\n"
      "CONFIG.tuning.max_trials = 2\n"
      "CONFIG.trainer.image_size = 32\n")
  config = pipeline_config.load_config(str(path))
  assert config.image_trainer.backbone == "small_convnet"
  assert (config.image_trainer.head_epochs, config.image_trainer.image_size) == (3, 32)
  assert config.image_augmentation.mode == "off" and config.image_tuning.max_trials == 2
  assert config.timeseries_ingest.target_column == "temp"
  assert config.trainer is config.image_trainer          # one section, two names
  config.validate()
  with pytest.raises(TypeError, match="twice in sections="):
    pipeline_config.PipelineConfig(sections={"trainer": pipeline_config.TrainerConfig(),
                                             "image_trainer": pipeline_config.TrainerConfig()})
  with pytest.raises(TypeError, match="unexpected keyword argument 'trainr'"):
    pipeline_config.PipelineConfig(trainr=None)


def _write_bytes_data(root, per_class=40, seed=0):
  rng = random.Random(seed)
  for name, alphabet in (("digits", "0123456789"), ("letters", "abcdefghijklmnopqrstuvwxyz")):
    os.makedirs(os.path.join(root, name))
    for i in range(per_class):
      text = "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 40)))
      with open(os.path.join(root, name, f"{i:03d}.bin"), "wb") as f:
        f.write(text.encode())
  open(os.path.join(root, "digits", "empty.bin"), "wb").close()
  with open(os.path.join(root, "letters", "long.bin"), "wb") as f:
    f.write(b"x" * 500)


@pytest.mark.slow
def test_a_task_defined_under_tests_runs_through_the_real_pipeline(tmp_path, capsys):
  import tests.tiny_task  # pylint: disable=import-outside-toplevel,unused-import  # registers
  from pipeline import cli, tasks  # pylint: disable=import-outside-toplevel
  assert "bytes" in tasks.TASKS and "bytes_trainer" in pipeline_config.PipelineConfig().sections
  root, work = str(tmp_path / "data"), str(tmp_path / "work")
  _write_bytes_data(root)
  # Through the CLI: a shared flag (--epochs) lands in the task's trainer section, its own
  # flag (--max-bytes) in its ingest section.
  assert cli.main(["run", "--task", "bytes", "--data-root", root, "--work-dir", work,
                   "--epochs", "40", "--max-bytes", "64"]) == 0
  with open(os.path.join(work, "last_run.json")) as f:
    summary = json.load(f)
  assert summary["task"] == "bytes" and summary["blessed"] is True, summary
  assert summary["pushed_model"].startswith(
      os.path.join(work, "serving", "transfer-learning-bytes"))
  with open(summary["ingest"]["report"]) as f:
    reasons = {r["path"]: r["reason"] for r in json.load(f)["files"]
               if r["outcome"] == "rejected"}
  assert reasons.keys() == {"digits/empty.bin", "letters/long.bin"}
  assert reasons["letters/long.bin"].startswith("too_long")
  gates = json.load(open(summary["gates"]))
  assert {"min_classes", "max_label_conflicts"} <= {g["name"] for g in gates}
  assert "min_tokens_per_document" not in {g["name"] for g in gates}  # not its family
  # What a client sees: the pushed model in a TensorFlow-only process, the eval files' bytes.
  files = serving_client.eval_split_files(summary, root)
  served = serving_client.serve_in_a_plain_tensorflow_process(
      summary["pushed_model"], files, tmp_path, input_name="content")
  assert served["n"] == len(files) >= 8
  assert served["accuracy"] >= 0.9 and served["accuracy"] == pytest.approx(
      summary["metrics"]["accuracy"], abs=1e-6)
  assert "Eval accuracy" in capsys.readouterr().out


def test_each_shape_of_data_has_its_own_ingestion_spec():
  """File-per-example tasks take the label vocabulary and span cache; a table task (time
  series) takes the span cache (its drops are parsed once) and no label vocabulary."""
  from components.ingest import component, executor  # pylint: disable=import-outside-toplevel
  from components.timeseries_example_gen import component as table  # pylint: disable=import-outside-toplevel
  drops = {executor.VOCABULARY_KEY, executor.SPAN_CACHE_KEY}
  assert drops <= set(component.FolderExampleGenSpec.PARAMETERS)
  assert executor.VOCABULARY_KEY not in table.TimeseriesExampleGenSpec.PARAMETERS
  assert executor.SPAN_CACHE_KEY in table.TimeseriesExampleGenSpec.PARAMETERS
  assert set(component.IngestSpec.PARAMETERS) <= set(table.TimeseriesExampleGenSpec.PARAMETERS)


def test_an_old_config_file_that_star_imports_pipeline_config_still_loads(tmp_path):
  path = tmp_path / "star_config.py"
  path.write_text("from pipeline_config import *\n"
                  "CONFIG = PipelineConfig(trainer=TrainerConfig(head_epochs=4),\n"
                  "                        evaluation=EvalConfig(min_accuracy=0.5))\n")
  config = pipeline_config.load_config(str(path))
  assert config.image_trainer.head_epochs == 4 and config.evaluation.min_accuracy == 0.5


def test_sections_are_fields_of_one_config_never_shared_or_given_twice():
  import copy  # pylint: disable=import-outside-toplevel
  config = pipeline_config.PipelineConfig()
  other = copy.copy(config)
  other.trainer = pipeline_config.TrainerConfig(backbone="xception")
  assert config.image_trainer.backbone == "vgg16" and other.image_trainer.backbone == "xception"
  import dataclasses  # pylint: disable=import-outside-toplevel
  # dataclasses.replace passes `sections` and the keyword: the keyword wins, by either name.
  replaced = dataclasses.replace(config, image_trainer=dataclasses.replace(
      config.image_trainer, head_epochs=2))
  assert replaced.image_trainer.head_epochs == 2 and config.image_trainer.head_epochs == 10
  assert dataclasses.replace(config, trainer=pipeline_config.TrainerConfig(
      backbone="resnet50")).image_trainer.backbone == "resnet50"
  with pytest.raises(TypeError, match="twice"):
    pipeline_config.PipelineConfig(trainer=pipeline_config.TrainerConfig(),
                                   image_trainer=pipeline_config.TrainerConfig())
  with pytest.raises(TypeError, match="unexpected keyword argument 'trainr'"):
    pipeline_config.PipelineConfig(sections={"trainr": None})
  assert pipeline_config.PipelineConfig(sections={"trainer": pipeline_config.TrainerConfig(
      backbone="resnet50")}).image_trainer.backbone == "resnet50"
  with pytest.raises(pipeline_config.ToolkitError, match="are PipelineConfig fields"):
    pipeline_config.register_sections("other", {"ingest": pipeline_config.IngestConfig})
  with pytest.raises(pipeline_config.ToolkitError, match="cannot stand for"):
    pipeline_config.register_sections("other", {"other_trainer": pipeline_config.FitConfig},
                                      renamed={"trainer": "other_trainer"})
