"""The CLI contract: flags override the config, expected failures exit non-zero cleanly."""

import os
import subprocess
import sys

import pytest

from pipeline import cli

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
      "--image-size", "48", "--fine-tune-learning-rate", "2e-5", "--train-percent", "70",
      "--beam-arg=--direct_num_workers=2", "--no-cache", "--augmentation", "online",
      "--augmentation-variants", "3", "--class-weights", "none"])
  config = cli.build_config(args)
  assert config.trainer.backbone == "small_convnet"        # from the config file
  assert config.trainer.image_size == 48                   # from the flag
  assert config.trainer.fine_tune_learning_rate == 2e-5
  assert config.ingest.split_percentages == {"train": 70, "eval": 30}
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
