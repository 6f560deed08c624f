"""Where a backbone's weights come from: ImageNet (Keras cache or download), a file, or none.

Asking for ImageNet weights that cannot be found or downloaded is an error that says where
to put the file; this module never falls back to random weights.
"""

import os
import tempfile
from typing import Optional

import tensorflow as tf
from tensorflow import keras

from pipeline_config import ToolkitError
from schemas.backbones import Backbone
from trainer.image.imagenet_weights import keras_cache_dir


def resolve_weights(backbone: Backbone, weights: str,
                    cache_dir: Optional[str] = None) -> Optional[str]:
  """Returns a local weights file for `backbone`, or None for random initialisation.

  Args:
    backbone: the base to load weights into.
    weights: 'imagenet', 'none', or a local or gs:// path to a weights file (.h5).
    cache_dir: Keras cache folder (default: $KERAS_HOME or ~/.keras); files live in
      `<cache_dir>/models/`.
  """
  if weights in (None, "", "none", "None"):
    return None
  if weights == "imagenet":
    if not backbone.imagenet_file:
      raise ToolkitError(f"{backbone.name} has no ImageNet weights; use weights='none'.")
    return _imagenet_file(backbone, cache_dir)
  return _local_copy(weights)


def _imagenet_file(backbone: Backbone, cache_dir: Optional[str]) -> str:
  root = keras_cache_dir(cache_dir)
  expected = os.path.join(root, "models", backbone.imagenet_file)
  try:
    return keras.utils.get_file(
        backbone.imagenet_file, backbone.imagenet_url, cache_subdir="models",
        file_hash=backbone.imagenet_md5, cache_dir=root)
  except Exception as e:  # pylint: disable=broad-except
    raise ToolkitError(
        f"ImageNet weights for {backbone.name} are not in the Keras cache and could not be "
        f"downloaded ({type(e).__name__}: {e}). Keras expects the file {backbone.imagenet_file} "
        f"at {expected}: download it from {backbone.imagenet_url} on a machine with network "
        "access and copy it there (or set KERAS_HOME), pass --weights PATH to a weights "
        "file, or pass --weights none to train from random initialisation.") from None


def _local_copy(path: str) -> str:
  if not tf.io.gfile.exists(path):
    raise ToolkitError(
        f"Weights file {path} does not exist. Pass --weights with the path (local or gs://) "
        "of a weights file saved from this backbone without its top (include_top=False), "
        "or --weights imagenet / none.")
  if "://" not in path:
    return os.path.abspath(path)
  # Keras loads HDF5 weights from local files only.
  suffix = os.path.splitext(path)[1] or ".h5"
  local = os.path.join(tempfile.mkdtemp(prefix="weights-"), "weights" + suffix)
  tf.io.gfile.copy(path, local, overwrite=True)
  return local
