"""Exports the image classifier: serving_default takes `images`, a 1-D tf.string of encoded
image files; decoding is trainer/image/image_decoding.py's (see trainer/common/export.py)."""

from typing import List, Optional, Sequence

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
  common_export.export_classifier(
      model, label_names, export_dir, input_name="images", example_key=data.IMAGE_KEY,
      preprocess=lambda images: data.decode_images(images, image_size, background, limits))
