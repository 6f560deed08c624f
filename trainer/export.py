"""Exports the serving SavedModel (contract in ARCHITECTURE.md).

Signatures:
  serving_default(images: 1-D tf.string of encoded image files)
      -> probabilities [batch, classes], label [batch] (class names), label_id [batch]
  serving_examples(examples: 1-D tf.string of serialized tf.Examples with an `image` feature)
      -> the same outputs; TFMA's Evaluator uses it. It calls serving_default's function, so
      decoding and preprocessing exist once.
"""

from typing import List, Sequence

import tensorflow as tf
from tensorflow import keras

from trainer import data, image_decoding

SERVING_SIGNATURE = "serving_default"
EXAMPLES_SIGNATURE = "serving_examples"


def export_serving_model(model: keras.Model, label_names: List[str], image_size: int,
                         export_dir: str,
                         background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND) -> None:
  """Saves `model` with both signatures; decoding is trainer/image_decoding.py's, with
  transparency composited onto `background` as ingestion does."""
  labels = tf.constant(label_names)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
  def serve_images(images):
    probabilities = model(data.decode_images(images, image_size, background),
                          training=False)
    label_id = tf.argmax(probabilities, axis=-1)
    return {"probabilities": probabilities, "label": tf.gather(labels, label_id),
            "label_id": label_id}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(examples):
    features = tf.io.parse_example(
        examples, {data.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})
    return serve_images(features[data.IMAGE_KEY])

  tf.saved_model.save(model, export_dir, signatures={
      SERVING_SIGNATURE: serve_images.get_concrete_function(),
      EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
  })
