"""Image-only reports: Grad-CAM overlays for right and wrong validation predictions
(`<model_run_dir>/reports/grad_cam.png`); the shared ones are in trainer/common/reports.py."""

from typing import List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow import keras  # pylint: disable=wrong-import-position

from trainer.common import reports  # pylint: disable=wrong-import-position


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
  return reports.save_figure(fig, path)
