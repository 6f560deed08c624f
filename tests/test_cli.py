"""The CLI contract: flags override the config, expected failures exit non-zero cleanly."""

import os
import subprocess
import sys

import pytest

import pipeline_config
from pipeline import cli
from tests import image_factory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args):
  return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                        text=True, cwd=REPO)


@pytest.mark.parametrize("make_root", ["missing", "no_class_folders"])
def test_bad_data_root_exits_non_zero_with_one_paragraph(tmp_path, make_root):
  root = tmp_path / "data"
  if make_root == "no_class_folders":
    root.mkdir()
    (root / "stray.png").write_bytes(b"png")
  result = run_cli("run", "--data-root", str(root), "--work-dir", str(tmp_path / "w"))
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert result.stderr.startswith("error: Data root")
  assert len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "w" / "last_run.json").exists()


def test_flags_override_config_file(tmp_path):
  args = cli._parser().parse_args([
      "run", "--data-root", str(tmp_path), "--work-dir", str(tmp_path / "w"),
      "--config", os.path.join(REPO, "pipeline", "demo_config.py"),
      "--image-size", "48", "--fine-tune-learning-rate", "2e-5", "--splits", "60,15,25",
      "--gate", "max_label_conflicts=40", "--gate", "fail_on_anomalies=false",
      "--gate", "max_rejected_fraction=0.2", "--min-class-recall", "0.5",
      "--beam-arg=--direct_num_workers=2", "--no-cache", "--augmentation", "online",
      "--augmentation-variants", "3", "--class-weights", "none"])
  config = cli.build_config(args)
  assert config.trainer.backbone == "small_convnet"        # from the config file
  assert config.trainer.image_size == 48                   # from the flag
  assert config.trainer.fine_tune_learning_rate == 2e-5
  assert config.ingest.split_percentages == {"train": 60, "validation": 15, "eval": 25}
  assert config.gates.max_label_conflicts == 40
  assert config.gates.fail_on_anomalies is False
  assert config.gates.max_rejected_fraction == 0.2
  assert config.evaluation.min_class_recall == 0.5
  assert config.beam_args == ["--direct_num_workers=2"]
  assert config.enable_cache is False
  assert (config.augmentation.mode, config.augmentation.variants) == ("online", 3)
  assert config.trainer.class_weights == "none"
  assert config.work_dir == str(tmp_path / "w")


def test_invalid_flag_value_is_reported_without_traceback(tmp_path):
  (tmp_path / "data" / "a").mkdir(parents=True)
  result = run_cli("run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(tmp_path / "w"), "--backbone", "xception", "--image-size", "32")
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert "image_size >= 71" in result.stderr


def test_demo_data_writes_the_digits(tmp_path):
  result = run_cli("demo-data", "--task", "image", "--output", str(tmp_path / "d"))
  assert result.returncode == 0, result.stderr
  classes = sorted(os.listdir(tmp_path / "d"))
  assert classes == [str(i) for i in range(10)]
  assert sum(len(os.listdir(tmp_path / "d" / c)) for c in classes) == 1797


@pytest.mark.parametrize("flags,message", [
    (["--fine-tune-blocks", "99", "--backbone", "vgg16"],
     "vgg16 has 5 conv blocks to fine-tune, so fine_tune_blocks must be between 0 and 5. "
     "Received: fine_tune_blocks=99"),
    (["--fine-tune-blocks", "15", "--backbone", "xception"], "between 0 and 14"),
    (["--gate", "max_label_conflict=3"], "--gate takes NAME=VALUE where NAME is one of"),
    (["--gate", "max_label_conflicts=many"], "--gate max_label_conflicts takes a int"),
    (["--gate", "max_rejected_fraction=1.5"], "max_rejected_fraction is a fraction"),
    (["--splits", "80,20"], "--splits takes three whole percentages"),
    (["--splits", "70,20,20"], "summing to 100"),
    (["--min-class-recall", "2"], "min_class_recall must be in [0, 1]"),
    (["--head-learning-rate", "0"], "head_learning_rate must be in (0, 1)"),
])
def test_bad_configuration_exits_2_before_anything_runs(tmp_path, flags, message):
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root), per_class=2)
  result = run_cli("run", "--data-root", str(root), "--work-dir", str(tmp_path / "w"), *flags)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  assert message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "w").exists()   # nothing ran: no MLMD store, no pipeline root


def test_text_flags_reach_the_text_sections(tmp_path):
  args = cli._parser().parse_args([
      "run", "--task", "text", "--data-root", str(tmp_path), "--work-dir", str(tmp_path / "w"),
      "--text-model", "gru", "--batch-size", "16", "--fallback-encoding", "cp1252",
      "--max-chars", "5000", "--on-too-long", "reject", "--seed", "7",
      "--gate", "min_tokens_per_document=5"])
  config = cli.build_config(args)
  assert config.task == "text"
  assert (config.text_trainer.model, config.text_trainer.batch_size) == ("gru", 16)
  assert config.text_trainer.seed == 7 and config.trainer.seed == 42   # image untouched
  assert config.text_ingest == pipeline_config.TextIngestConfig(
      fallback_encoding="cp1252", max_chars=5000, on_too_long="reject")
  assert config.gates.min_tokens_per_document == 5


def test_text_demo_config_sets_the_task(tmp_path):
  args = cli._parser().parse_args([
      "run", "--data-root", str(tmp_path), "--work-dir", str(tmp_path / "w"),
      "--config", os.path.join(REPO, "pipeline", "text_demo_config.py")])
  assert cli.build_config(args).task == "text"


@pytest.mark.parametrize("flags, message", [
    (["--text-model", "transformer"], "Unknown text model"),
    (["--fallback-encoding", "klingon"], "Unknown fallback_encoding"),
    (["--text-model", "bow", "--embeddings", "glove.txt"], "need a sequence model"),
    (["--tune"], "--tune sets image_tuning.enabled, which --task text"),
    (["--backbone", "xception"], "--backbone sets image_trainer.backbone, which --task text"),
])
def test_bad_text_options_exit_2_before_any_work(tmp_path, flags, message):
  (tmp_path / "data" / "a").mkdir(parents=True)
  result = run_cli("run", "--task", "text", "--data-root", str(tmp_path / "data"),
                   "--work-dir", str(tmp_path / "w"), *flags)
  assert result.returncode == 2 and message in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()


def test_text_demo_data_is_a_real_corpus(tmp_path):
  result = run_cli("demo-data", "--task", "text", "--output", str(tmp_path / "bbc"))
  assert result.returncode == 0, result.stderr
  topics = sorted(os.listdir(tmp_path / "bbc"))
  assert topics == ["business", "entertainment", "politics", "sports", "tech"]
  counts = {t: len(os.listdir(tmp_path / "bbc" / t)) for t in topics}
  assert sum(counts.values()) == 2225 and min(counts.values()) > 350
  with open(tmp_path / "bbc" / "business" / "001.txt", encoding="utf-8") as f:
    assert len(f.read().split()) > 50


def test_each_task_has_its_own_pipeline_and_drift_baseline_in_one_work_dir(tmp_path):
  image = pipeline_config.PipelineConfig(task="image", work_dir=str(tmp_path))
  text = pipeline_config.PipelineConfig(task="text", work_dir=str(tmp_path))
  image.validate()
  text.validate()
  text.validate()                      # validating twice does not rename twice
  assert (image.pipeline_name, text.pipeline_name) == ("transfer-learning",
                                                       "transfer-learning-text")
  assert image.gate_history_dir != text.gate_history_dir
  named = pipeline_config.PipelineConfig(task="text", pipeline_name="news")
  named.validate()
  assert named.pipeline_name == "news"


def test_timeseries_flags_reach_the_timeseries_sections(tmp_path):
  args = cli._parser().parse_args([
      "run", "--task", "timeseries", "--data-root", str(tmp_path), "--work-dir",
      str(tmp_path / "w"), "--time-column", "Date Time", "--target-column", "T (degC)",
      "--features", "T (degC), p (mbar)", "--lookback", "120", "--step", "6", "--delay", "24",
      "--seasonal-period", "144", "--max-fill", "3", "--forecast-model", "gru",
      "--head", "level", "--epochs", "5", "--learning-rate", "0.01", "--batch-size", "64",
      "--max-mae-increase", "0.1", "--gate", "max_segments_per_series=5"])
  config = cli.build_config(args)
  assert config.timeseries == pipeline_config.TimeseriesConfig(
      time_column="Date Time", target_column="T (degC)", features=("T (degC)", "p (mbar)"),
      lookback=120, step=6, delay=24, seasonal_period=144, max_fill=3)
  trainer = config.timeseries_trainer
  assert (trainer.model, trainer.residual, trainer.epochs) == ("gru", False, 5)
  assert (trainer.learning_rate, trainer.batch_size) == (0.01, 64)
  assert config.text_trainer.epochs == 20                 # the text section is untouched
  assert config.evaluation.max_mae_increase == 0.1
  assert config.gates.max_segments_per_series == 5
  assert config.pipeline_name == "transfer-learning-timeseries"


@pytest.mark.parametrize("flags, message", [
    ([], "needs the column to forecast: pass --target-column"),
    (["--target-column", "t", "--forecast-model", "transformer"], "Unknown timeseries model"),
    (["--target-column", "t", "--lookback", "0"], "lookback must be >= 1"),
    (["--target-column", "t", "--step", "200"], "step must be at most lookback"),
    (["--target-column", "t", "--text-model", "gru"], "which --task timeseries does not read"),
    (["--target-column", "t", "--tune"], "--tune sets image_tuning.enabled, which --task timeseries"),
    (["--target-column", "t", "--min-accuracy", "0.5"], "--min-accuracy applies to "
     "classification tasks"),
    (["--target-column", "t", "--class-weights", "balanced"], "--class-weights applies to "
     "classification tasks"),
])
def test_bad_timeseries_options_exit_2_before_any_work(tmp_path, flags, message):
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "a.csv").write_text("timestamp,t\n")
  result = run_cli("run", "--task", "timeseries", "--data-root", str(tmp_path / "data"),
                   "--work-dir", str(tmp_path / "w"), *flags)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()


def test_a_flag_the_task_has_no_field_for_exits_2(tmp_path):
  image_factory.class_folder_dataset(str(tmp_path / "data"), per_class=2)
  result = run_cli("run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(tmp_path / "w"), "--epochs", "3")
  assert result.returncode == 2 and "--epochs is not a setting of --task image" in result.stderr
  result = run_cli("run", "--data-root", str(tmp_path / "data"), "--work-dir",
                   str(tmp_path / "w"), "--max-mae-increase", "0.1")
  assert result.returncode == 2 and "applies to forecast tasks" in result.stderr


def test_timeseries_demo_data_is_real_hourly_weather(tmp_path):
  result = run_cli("demo-data", "--task", "timeseries", "--output", str(tmp_path / "wx"))
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(tmp_path / "wx")) == ["EWR.csv", "JFK.csv", "LGA.csv"]
  with open(tmp_path / "wx" / "JFK.csv") as f:
    lines = f.read().splitlines()
  assert lines[0].startswith("origin,year,month,day,hour,temp,")
  assert len(lines) == 8706 + 1 and lines[1].endswith("2013-01-01T06:00:00Z")


def test_run_help_is_grouped_by_task_with_defaults(capsys):
  with pytest.raises(SystemExit):
    cli.main(["run", "--help"])
  text = capsys.readouterr().out
  for group in ("image options:", "text options:", "timeseries options:",
                "every task's trainer:", "blessing (the Evaluator's thresholds):"):
    assert group in text, group
  assert "(image_trainer.image_size; default: 150)" in text
  assert "default: image 32, text 32, timeseries 256" in text        # --batch-size per task
  assert "(pipeline_config)" not in text


@pytest.mark.parametrize("flags, message", [
    (["--task", "image", "--dataset", "flowers"], "--task image has no demo 'flowers'; choose "
     "one of digits, photos"),
    (["--task", "text", "--dataset", "photos"], "--task text has no demo 'photos'; choose one "
     "of bbc_news"),
])
def test_demo_names_the_tasks_demos_from_their_descriptors(flags, message):
  result = run_cli("demo", *flags)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert "Traceback" not in result.stderr


def test_demo_help_lists_every_tasks_demos():
  text = run_cli("demo", "--help").stdout
  for demo in ("photos", "digits", "bbc_news", "nyc_weather"):
    assert demo in text


def test_predict_finds_the_newest_pushed_model_or_says_which_to_pass(tmp_path):
  from pipeline import predict  # pylint: disable=import-outside-toplevel
  work = tmp_path / "work"
  for pipeline, versions in (("digits-demo", ("17", "9", "103")), ("bbc-news", ("5",))):
    for version in versions:
      (work / "serving" / pipeline / version).mkdir(parents=True)
      (work / "serving" / pipeline / version / "saved_model.pb").write_bytes(b"")
  (work / "serving" / "digits-demo" / "200").mkdir()           # no model inside: skipped
  newest = str(work / "serving" / "digits-demo" / "103")
  assert predict.resolve_model(str(work / "serving" / "digits-demo")) == newest
  assert predict.resolve_model(newest) == newest
  assert predict.resolve_model(str(work), "digits-demo") == newest
  with pytest.raises(pipeline_config.ToolkitError, match="several pipelines \\(bbc-news, "
                     "digits-demo\\); pass --pipeline-name"):
    predict.resolve_model(str(work))
  with pytest.raises(pipeline_config.ToolkitError, match="No pushed model of pipeline x"):
    predict.resolve_model(str(work), "x")
  result = run_cli("predict", "--model", str(tmp_path / "nothing"), "--input", str(tmp_path))
  assert result.returncode == 2 and "No model at" in result.stderr
  assert "Traceback" not in result.stderr
