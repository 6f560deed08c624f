"""What a client of a pushed model does, in a TensorFlow-only process (no toolkit code, no
tf_keras switch): send the eval-split files as a client would (image bytes, or documents as
text) and count the right labels."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVE_SCRIPT = r"""
import codecs, json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
with open(sys.argv[2]) as f:
  paths, labels = zip(*json.load(f))
input_name = sys.argv[3]

def read(path):
  data = open(path, "rb").read()
  if input_name != "text":
    return data                      # encoded image files, byte for byte
  for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
    if data.startswith(bom):
      return data.decode(codec)
  return data.decode("utf-8")        # a document as the client's text

correct = 0
for start in range(0, len(paths), 128):
  batch = [read(p) for p in paths[start:start + 128]]
  out = model.signatures["serving_default"](**{input_name: tf.constant(batch)})
  predicted = [l.decode() for l in out["label"].numpy()]
  correct += sum(p == t for p, t in zip(predicted, labels[start:start + 128]))
print(json.dumps({"accuracy": correct / len(paths), "n": len(paths)}))
"""


def eval_split_files(summary, root):
  """(path, class) of every file whose content the Evaluator judged: the eval split."""
  with open(summary["ingest"]["report"]) as f:
    rows = json.load(f)["files"]
  return [(os.path.join(root, r["path"]), r["class"]) for r in rows
          if r["split"] == "eval" and r["outcome"] in ("ingested", "normalised")]


def serve_in_a_plain_tensorflow_process(model_dir, files, tmp_path, input_name="images"):
  listing = tmp_path / "eval_files.json"
  listing.write_text(json.dumps(files))
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, model_dir, str(listing),
                           input_name], capture_output=True, text=True, env=env, cwd="/",
                          check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


def demo_config(config_file, data_root, work_dir):
  """A pipeline/<config_file> demo configuration pointed at `data_root` and `work_dir`."""
  from pipeline_config import load_config  # pylint: disable=import-outside-toplevel
  config = load_config(os.path.join(REPO, "pipeline", config_file))
  config.data_root = data_root
  config.work_dir = str(work_dir)
  return config


WINDOW_SCRIPT = r"""
import csv, datetime, json, sys
import numpy as np
import tensorflow as tf
model_dir, spec = sys.argv[1], json.loads(sys.argv[2])
assets = json.load(open(model_dir + "/assets/features.json"))     # column order
features, target = assets["features"], assets["target"]
lookback, delay = assets["lookback"], assets["delay"]
model = tf.saved_model.load(model_dir)
errors = []
for path in spec["csv_files"]:
  rows = list(csv.DictReader(open(path, newline="")))
  def when(row):
    text = row[spec["time_column"]].replace("Z", "+00:00")
    for fmt in (None, "%d.%m.%Y %H:%M:%S"):
      try:
        return (datetime.datetime.fromisoformat(text) if fmt is None else
                datetime.datetime.strptime(text, fmt)).timestamp()
      except ValueError:
        pass
    raise ValueError(text)
  rows.sort(key=when)
  tail = rows[int(len(rows) * 0.8):]                      # the last 20% of the file
  times = np.array([when(r) for r in tail])
  def number(text):
    try:
      return float(text)
    except ValueError:
      return float("nan")
  values = np.array([[number(r[c]) for c in features] for r in tail], np.float32)
  step = np.median(np.diff(times))
  windows, targets = [], []
  for t in range(lookback - 1, len(tail) - delay):
    span = slice(t - lookback + 1, t + delay + 1)
    if not np.all(np.isfinite(values[span])) or np.any(np.diff(times[span]) != step):
      continue                         # a client cuts whole, gap-free windows only
    windows.append(values[t - lookback + 1:t + 1])
    targets.append(values[t + delay, features.index(target)])
  for start in range(0, len(windows), 512):
    batch = tf.constant(np.stack(windows[start:start + 512]))
    forecast = model.signatures["serving_default"](window=batch)["forecast"].numpy()
    errors.extend(np.abs(forecast - np.array(targets[start:start + 512])).tolist())
print(json.dumps({"mae": float(np.mean(errors)), "n": len(errors)}))
"""


def serve_windows_in_a_plain_tensorflow_process(model_dir, csv_files, time_column):
  """MAE of the pushed forecaster on windows cut by hand from the last 20% of each CSV file
  (raw values, columns in the order of the model's assets/features.json)."""
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  spec = json.dumps({"csv_files": list(csv_files), "time_column": time_column})
  result = subprocess.run([sys.executable, "-c", WINDOW_SCRIPT, model_dir, spec],
                          capture_output=True, text=True, env=env, cwd="/", check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


LABELS_SCRIPT = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
paths, input_name = json.loads(sys.argv[2]), sys.argv[3]
out = {}
for path in paths:
  try:
    got = model.signatures["serving_default"](
        **{input_name: tf.constant([open(path, "rb").read()])})
    out[path] = got["label"].numpy()[0].decode()
  except tf.errors.InvalidArgumentError:
    out[path] = None                   # refused
print(json.dumps(out))
"""


def labels_in_a_plain_tensorflow_process(model_dir, paths, input_name):
  """What serving_default returns for each file's bytes (None: refused), one by one, in a
  TensorFlow-only process."""
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  result = subprocess.run([sys.executable, "-c", LABELS_SCRIPT, model_dir, json.dumps(paths),
                           input_name], capture_output=True, text=True, env=env, cwd="/",
                          check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


def predict_cli(model, inputs, *flags):
  """`python -m pipeline predict` as a user runs it: (exit code, rows, stderr)."""
  args = [sys.executable, "-m", "pipeline", "predict", "--model", model]
  for path in inputs:
    args += ["--input", path]
  result = subprocess.run([*args, *flags], capture_output=True, text=True, cwd=REPO)
  rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
  return result.returncode, rows, result.stderr


def same_rows(found, expected, tolerance=1e-5):
  """Prediction rows equal by path, label, error and every field, numbers within `tolerance`
  (a batch of another size may round the last float bits otherwise)."""
  import pytest  # pylint: disable=import-outside-toplevel

  def comparable(row):
    return json.loads(json.dumps(row), parse_float=lambda text: pytest.approx(
        float(text), abs=tolerance))
  by_path = lambda rows: sorted(rows, key=lambda r: r["path"])
  found, expected = by_path(found), by_path(expected)
  assert [r["path"] for r in found] == [r["path"] for r in expected]
  for got, want in zip(found, expected):
    assert json.loads(json.dumps(got)) == comparable(want), got["path"]


def model_card_beside(summary, last_run_path):
  """The card beside the pushed model: its figures are last_run.json's (read back from the
  file: the same JSON numbers), and its markdown quotes them."""
  with open(last_run_path) as f:
    last = json.load(f)
  pushed = summary["pushed_model"]
  with open(os.path.join(pushed, "model_card.json")) as f:
    card = json.load(f)
  assert card["metrics"] == last["metrics"]
  assert card["task"] == last["task"] and card["blessing"]["blessed"] is True
  assert card["model"]["pushed_to"] == pushed and card["model"]["trained_model"] == last["model"]
  assert card["blessing"]["baseline_model"] == last["baseline_model"]
  assert card["data"]["per_split"] == last["ingest"]["per_split"]
  assert card["data"]["report"] == last["ingest"]["report"]
  assert {k: card["data"]["ingest"][k] for k in ("found", "ingested", "rejected")} == {
      k: last["ingest"][k] for k in ("found", "ingested", "rejected")}
  assert card["blessing"]["thresholds"] and card["limits"]
  assert os.path.isfile(os.path.join(last["artifacts"]["model_card"], "model_card.json"))
  with open(os.path.join(pushed, "model_card.md")) as f:
    markdown = f.read()
  headline = "accuracy" if "accuracy" in last["metrics"] else "mae"
  assert f"- {headline}: {last['metrics'][headline]:.4f}" in markdown
  return card
