"""Pictures of a training run, written as PNG files under `<model_run_dir>/reports/`.

training_curves.png   loss and accuracy per epoch, train and eval, both phases marked
confusion_matrix.png  eval confusion matrix with per-class precision and recall
grad_cam.png          Grad-CAM overlays for right and wrong eval predictions
model.png             the model plot (plot_model), or its text summary where graphviz is missing
"""

import io
import os
import shutil
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow import keras  # pylint: disable=wrong-import-position

REPORTS_DIR = "reports"


def reports_dir(model_run_dir: str) -> str:
  path = os.path.join(model_run_dir, REPORTS_DIR)
  os.makedirs(path, exist_ok=True)
  return path


def training_curves(history: Dict[str, dict], path: str) -> str:
  """Loss and accuracy of every phase on one time axis, a line where each phase starts."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  offset = 0
  for phase, values in history.items():
    epochs = np.arange(offset + 1, offset + 1 + len(values.get("loss", [])))
    for ax, metric in zip(axes, ("loss", "accuracy")):
      for prefix, style in (("", "-"), ("val_", "--")):
        if prefix + metric in values:
          ax.plot(epochs, values[prefix + metric], style, marker="o", markersize=3,
                  label=f"{phase} {'eval' if prefix else 'train'}")
      if offset:
        ax.axvline(offset + 0.5, color="gray", linestyle=":")
    offset += len(epochs)
  for ax, metric in zip(axes, ("loss", "accuracy")):
    ax.set_xlabel("epoch")
    ax.set_title(metric)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def predict(model: keras.Model, dataset: tf.data.Dataset, keep_images: int = 256):
  """(images, labels, probabilities) over a dataset of (pixels, label) batches.

  Labels and probabilities cover the whole dataset; only the first `keep_images` images are
  kept (for Grad-CAM), so a large eval split does not have to fit in memory.
  """
  images, labels, probabilities = [], [], []
  kept = 0
  for x, y in dataset:
    if kept < keep_images:
      images.append(x.numpy()[: keep_images - kept])
      kept += len(images[-1])
    labels.append(y.numpy())
    probabilities.append(model(x, training=False).numpy())
  return np.concatenate(images), np.concatenate(labels), np.concatenate(probabilities)


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
  ax.set_title(f"eval accuracy {np.trace(matrix) / max(matrix.sum(), 1):.3f}")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def grad_cam_heatmaps(model: keras.Model, feature_layer: str, images: np.ndarray
                      ) -> np.ndarray:
  """Grad-CAM: channel weights from the gradient of the top class score, [n, h, w] in [0, 1]."""
  # The base is a nested model: its last call (-1) is the one inside `model`'s graph.
  grad_model = keras.Model(model.inputs,
                           [model.get_layer(feature_layer).get_output_at(-1), model.output])
  with tf.GradientTape() as tape:
    features, probabilities = grad_model(images, training=False)
    top = tf.reduce_max(probabilities, axis=-1)
  grads = tape.gradient(top, features)
  weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
  heatmaps = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)).numpy()
  peak = heatmaps.max(axis=(1, 2), keepdims=True)
  return heatmaps / np.where(peak > 0, peak, 1)


def grad_cam(model: keras.Model, feature_layer: str, images: np.ndarray, labels: np.ndarray,
             probabilities: np.ndarray, names: List[str], path: str, samples: int = 8) -> str:
  """Overlays for up to `samples` eval images, right and wrong predictions mixed.

  `labels` and `probabilities` may cover more examples than `images`; only those with an
  image are drawn.
  """
  labels, probabilities = labels[: len(images)], probabilities[: len(images)]
  predicted = probabilities.argmax(axis=1)
  right = np.flatnonzero(predicted == labels)[: samples // 2]
  wrong = np.flatnonzero(predicted != labels)[: samples - len(right)]
  chosen = np.concatenate([right, wrong, np.flatnonzero(predicted == labels)
                           [len(right): samples - len(wrong)]]).astype(int)[:samples]
  heatmaps = grad_cam_heatmaps(model, feature_layer, images[chosen])
  fig, axes = plt.subplots(1, len(chosen), figsize=(2.2 * len(chosen), 2.6), squeeze=False)
  for ax, index, heat in zip(axes[0], chosen, heatmaps):
    picture = np.clip(images[index] / 255.0, 0, 1)
    heat = tf.image.resize(heat[..., None], picture.shape[:2]).numpy()[..., 0]
    ax.imshow(picture)
    ax.imshow(heat, cmap="jet", alpha=0.45)
    ok = predicted[index] == labels[index]
    ax.set_title(f"{'right' if ok else 'WRONG'}: {names[predicted[index]]}\n"
                 f"true {names[labels[index]]}", fontsize=8, color="green" if ok else "red")
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def model_plot(model: keras.Model, path: str) -> str:
  """plot_model where pydot and graphviz exist; otherwise the text summary drawn as a PNG."""
  if shutil.which("dot"):
    try:
      keras.utils.plot_model(model, to_file=path, show_shapes=True, expand_nested=False)
      if os.path.isfile(path):
        return path
    except (ImportError, OSError):
      pass
  lines = []
  model.summary(print_fn=lines.append, line_length=100)
  text = "\n".join(lines)
  fig = plt.figure(figsize=(11, 0.2 * len(lines) + 0.5))
  fig.text(0.01, 0.99, text, family="monospace", fontsize=8, va="top")
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=90)
  plt.close(fig)
  with open(path, "wb") as f:
    f.write(buffer.getvalue())
  return path
