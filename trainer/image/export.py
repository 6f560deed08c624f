"""Exports the image classifier: serving_default takes `images`, a 1-D tf.string of encoded
image files; decoding is trainer/image/image_decoding.py's (see trainer/common/export.py)."""

from typing import List, Optional, Sequence

import tensorflow as tf
from tensorflow import keras

import pipeline_config
from trainer.image import data, image_decoding
from trainer.common import export as common_export
from trainer.common.export import EXAMPLES_SIGNATURE, SERVING_SIGNATURE  # pylint: disable=unused-import


def export_serving_model(model: keras.Model, label_names: List[str], image_size: int,
                         export_dir: str,
                         background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND,
                         limits: Optional[image_decoding.Limits] = None) -> None:
  """Saves `model` with both signatures; transparency is composited onto `background` as
  ingestion does, and with `limits` (ingestion's) an image ingestion would reject by its
  size or header is refused before it is decoded."""
  limits = limits or image_decoding.Limits.of(pipeline_config.IngestConfig())
  decode = lambda images: data.decode_images(images, image_size, background, limits)
  edge = common_export.EdgeInput(
      model=model, spec=tf.TensorSpec([None, image_size, image_size, 3], tf.float32),
      to_input=decode, contract={
          "kind": "pixels", "range": [0, 255], "channels": "RGB",
          "decode": ("the image file decoded (JPEG, PNG, GIF first frame, BMP), turned "
                     "upright by its Exif orientation, transparency composited onto the "
                     f"background colour {list(background)}, resized to {image_size} x "
                     f"{image_size} with bilinear interpolation (no crop, aspect ratio not "
                     "kept), as float32 RGB in [0, 255]: the model's own layers do the "
                     "backbone's scaling"),
          "background": list(background), "image_size": image_size,
          "preprocess_signature": common_export.PREPROCESS_SIGNATURE})
  common_export.export_classifier(
      model, label_names, export_dir, input_name="images", example_key=data.IMAGE_KEY,
      preprocess=decode, edge=edge)
