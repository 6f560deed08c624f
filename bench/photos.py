"""Typical-size photos for benchmarks, made from the two real JPEGs scikit-learn ships."""

import os

import numpy as np
from PIL import Image, ImageEnhance


def sample_photos():
  from sklearn.datasets import load_sample_images  # pylint: disable=import-outside-toplevel
  return [Image.fromarray(a) for a in load_sample_images().images]


def write_photo_folder(root: str, count: int, classes: int = 5, seed: int = 0) -> int:
  """`count` distinct 640x427 JPEGs (random crop, flip, brightness, quality) in class folders."""
  rng = np.random.default_rng(seed)
  sources = sample_photos()
  for i in range(count):
    image = sources[i % len(sources)]
    w, h = image.size
    scale = rng.uniform(0.6, 1.0)
    cw, ch = int(w * scale), int(h * scale)
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    photo = image.crop((x, y, x + cw, y + ch)).resize((640, 427), Image.BILINEAR)
    if rng.random() < 0.5:
      photo = photo.transpose(Image.FLIP_LEFT_RIGHT)
    photo = ImageEnhance.Brightness(photo).enhance(rng.uniform(0.7, 1.3))
    folder = os.path.join(root, f"class_{i % classes}")
    os.makedirs(folder, exist_ok=True)
    photo.save(os.path.join(folder, f"photo_{i:05d}.jpg"), "JPEG",
               quality=int(rng.integers(80, 96)))
  return count
