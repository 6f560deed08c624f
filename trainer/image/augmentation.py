"""Image augmentation (Chollet, ch. 5): random geometric and photometric transforms, seeded.

The geometric transforms are Keras's ImageDataGenerator ones, so every parameter means what
Keras users know: rotation_range (degrees), width/height_shift_range (a fraction of the size if
< 1, pixels otherwise), shear_range (degrees), zoom_range, horizontal/vertical_flip, fill_mode
('nearest', 'reflect', 'wrap', 'constant' with cval), brightness_range. contrast_range scales
each image's deviation from its mean. Used offline by the ImageAugmentation component and
online inside the trainer's input pipeline; the eval split is never augmented.
"""

import hashlib
from typing import Optional

import numpy as np
from tensorflow import keras


def _generator(config) -> keras.preprocessing.image.ImageDataGenerator:
  return keras.preprocessing.image.ImageDataGenerator(
      rotation_range=config.rotation_range,
      width_shift_range=config.width_shift_range,
      height_shift_range=config.height_shift_range,
      shear_range=config.shear_range,
      zoom_range=config.zoom_range,
      horizontal_flip=config.horizontal_flip,
      vertical_flip=config.vertical_flip,
      fill_mode=config.fill_mode,
      cval=config.cval,
      brightness_range=(tuple(config.brightness_range) if config.brightness_range else None))


def variant_seed(base_seed: int, sha256: str, variant: int) -> int:
  """A seed per (image, variant): reruns reproduce every materialised variant exactly."""
  digest = hashlib.sha256(f"{base_seed}:{sha256}:{variant}".encode()).digest()
  return int.from_bytes(digest[:4], "little")


class Augmenter:
  """Applies one random transform drawn from `config` (a pipeline_config.AugmentationConfig)."""

  def __init__(self, config):
    self._config = config
    self._generator = _generator(config)

  def __call__(self, image: np.ndarray, seed: Optional[int] = None) -> np.ndarray:
    """image: float32 or uint8 [h, w, 3] in [0, 255]; returns float32 of the same shape."""
    x = np.asarray(image, dtype=np.float32)
    rng = np.random.default_rng(seed)
    params = self._generator.get_random_transform(x.shape, seed=int(rng.integers(2**31)))
    x = self._generator.apply_transform(x, params)
    if self._config.contrast_range:
      low, high = self._config.contrast_range
      mean = x.mean(axis=(0, 1), keepdims=True)
      x = mean + rng.uniform(low, high) * (x - mean)
    return np.clip(x, 0, 255).astype(np.float32)
