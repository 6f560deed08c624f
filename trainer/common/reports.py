"""Reports every classifier writes under `<model_run_dir>/reports/` (any task).

training_curves.png   loss and accuracy per epoch, train and validation, both phases marked
confusion_matrix.png  validation confusion matrix with per-class precision and recall
model.png             the model plot (plot_model), or its text summary where graphviz is missing

Task reports (Grad-CAM for images, most confidently wrong documents for text) live with the
task's trainer. Every report is written through tf.io.gfile, so the run folder may be a URI
(gs://): figures are drawn into memory (`save_figure`) and written as bytes.
"""

import io
import json
import os
import shutil
import tempfile
import time
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow import keras  # pylint: disable=wrong-import-position

REPORTS_DIR = "reports"


def predict_labels(model: keras.Model, dataset) -> "tuple[np.ndarray, np.ndarray]":
  """(labels, probabilities) over a dataset of (inputs, label) batches."""
  labels, probabilities = [], []
  for x, y in dataset:
    labels.append(y.numpy())
    probabilities.append(model(x, training=False).numpy())
  return np.concatenate(labels), np.concatenate(probabilities)


TRAINING_TIME_FILE = "training_time.json"


def write_history(model_run_dir: str, history: Dict[str, dict], started: float) -> float:
  """Writes history.json and training_time.json (`training_seconds`: from `started`, a
  time.time(), to now: data, model, warm start and fitting, not the reports or the export);
  returns the seconds."""
  seconds = time.time() - started
  print(f"[Trainer] trained in {seconds:.0f} s", flush=True)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, "history.json"), "w") as f:
    json.dump(history, f, indent=1, default=float)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_TIME_FILE), "w") as f:
    json.dump({"training_seconds": round(seconds, 3)}, f)
  return seconds


def reports_dir(model_run_dir: str) -> str:
  path = os.path.join(model_run_dir, REPORTS_DIR)
  tf.io.gfile.makedirs(path)
  return path


def save_figure(fig, path: str) -> str:
  """Writes `fig` as a PNG to `path` (a local path or a URI) and closes it."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=90)
  plt.close(fig)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())
  return path


def training_curves(history: Dict[str, dict], path: str,
                    metrics: Sequence[str] = ("loss", "accuracy")) -> str:
  """`metrics` (loss and accuracy) of every phase on one time axis, a line where each phase
  starts."""
  fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
  axes = axes[0]
  offset = 0
  for phase, values in history.items():
    epochs = np.arange(offset + 1, offset + 1 + len(values.get("loss", [])))
    for ax, metric in zip(axes, metrics):
      for prefix, style in (("", "-"), ("val_", "--")):
        if prefix + metric in values:
          ax.plot(epochs, values[prefix + metric], style, marker="o", markersize=3,
                  label=f"{phase} {'eval' if prefix else 'train'}")
      if offset:
        ax.axvline(offset + 0.5, color="gray", linestyle=":")
    offset += len(epochs)
  for ax, metric in zip(axes, metrics):
    ax.set_xlabel("epoch")
    ax.set_title(metric)
    ax.legend(fontsize=8)
  fig.tight_layout()
  return save_figure(fig, path)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, names: List[str],
                     path: str) -> str:
  k = len(names)
  matrix = np.zeros((k, k), dtype=np.int64)
  np.add.at(matrix, (labels, predicted), 1)
  precision = np.diag(matrix) / np.maximum(matrix.sum(axis=0), 1)
  recall = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
  size = max(5, 0.6 * k + 3)
  fig, ax = plt.subplots(figsize=(size + 3, size))
  image = ax.imshow(matrix, cmap="Blues")
  fig.colorbar(image, ax=ax, fraction=0.046)
  for i in range(k):
    for j in range(k):
      ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=8,
              color="white" if matrix[i, j] > matrix.max() / 2 else "black")
  ax.set_xticks(range(k), [f"{n}\nP={p:.2f}" for n, p in zip(names, precision)], fontsize=7)
  ax.set_yticks(range(k), [f"{n} R={r:.2f}" for n, r in zip(names, recall)], fontsize=7)
  ax.set_xlabel("predicted (P: precision)")
  ax.set_ylabel("true (R: recall)")
  ax.set_title(f"accuracy {np.trace(matrix) / max(matrix.sum(), 1):.3f}")
  fig.tight_layout()
  return save_figure(fig, path)


def model_plot(model: keras.Model, path: str) -> str:
  """plot_model where pydot and graphviz exist; otherwise the text summary drawn as a PNG."""
  if shutil.which("dot"):
    try:
      # pydot writes local files only: draw into a temporary folder, then copy.
      with tempfile.TemporaryDirectory(prefix="model-plot-") as local:
        drawn = os.path.join(local, os.path.basename(path))
        keras.utils.plot_model(model, to_file=drawn, show_shapes=True, expand_nested=False)
        if os.path.isfile(drawn):
          tf.io.gfile.copy(drawn, path, overwrite=True)
          return path
    except (ImportError, OSError):
      pass
  lines = []
  model.summary(print_fn=lines.append, line_length=100)
  text = "\n".join(lines)
  fig = plt.figure(figsize=(11, 0.2 * len(lines) + 0.5))
  fig.text(0.01, 0.99, text, family="monospace", fontsize=8, va="top")
  return save_figure(fig, path)


def classifier_reports(model: keras.Model, history: Dict[str, dict], labels: np.ndarray,
                       probabilities: np.ndarray, names: List[str], folder: str) -> dict:
  """The reports every classifier writes: training curves, the confusion matrix of
  (labels, probabilities) on the validation split, and the model plot."""
  return {
      "training_curves": training_curves(history, os.path.join(folder, "training_curves.png")),
      "confusion_matrix": confusion_matrix(labels, probabilities.argmax(axis=1), names,
                                           os.path.join(folder, "confusion_matrix.png")),
      "model_plot": model_plot(model, os.path.join(folder, "model.png")),
  }
