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
