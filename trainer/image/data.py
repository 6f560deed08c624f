"""The trainer's input pipeline and the image decoding shared with the serving signature."""

from typing import List, Sequence

import tensorflow as tf

from trainer.image import image_decoding
from trainer.common import examples
from trainer.common.examples import label_counts  # pylint: disable=unused-import

IMAGE_KEY = "image"
LABEL_KEY = "label"
SHA_KEY = "sha256"
VARIANT_KEY = "variant"


def _online_augmentation(config, image_size: int, seed: int):
  from trainer.image.augmentation import Augmenter  # pylint: disable=import-outside-toplevel
  augmenter = Augmenter(config)
  generator = tf.random.Generator.from_seed(seed)

  def augment(image):
    draw = generator.uniform_full_int([], dtype=tf.int64)
    out = tf.numpy_function(lambda x, s: augmenter(x, int(s) & 0x7FFFFFFF), [image, draw],
                            tf.float32)
    out.set_shape([image_size, image_size, 3])
    return out

  return augment


def decode_image(encoded: tf.Tensor, image_size: int,
                 background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND,
                 limits: "image_decoding.Limits | None" = None) -> tf.Tensor:
  """Encoded image bytes -> float32 RGB [size, size, 3] in [0, 255].

  Used by training, the feature cache and the exported signatures, so all of them see
  identical pixels; trainer/image/image_decoding.py says what decoding does (EXIF, alpha, ...).
  """
  image = image_decoding.decode_resized(encoded, image_size, background, limits)
  image.set_shape([image_size, image_size, 3])
  return image


def decode_images(encoded: tf.Tensor, image_size: int,
                  background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND,
                  limits: "image_decoding.Limits | None" = None) -> tf.Tensor:
  """A batch of encoded images -> float32 [batch, size, size, 3]."""
  return tf.map_fn(lambda e: decode_image(e, image_size, background, limits), encoded,
                   fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))


def record_batches(file_patterns: List[str], batch_size: int) -> tf.data.Dataset:
  """Undecoded batches {image, label, sha256, variant} in file order (for the feature cache)."""
  spec = {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
          LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
          SHA_KEY: tf.io.FixedLenFeature([], tf.string),
          VARIANT_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0)}
  return examples.records(examples.record_files(file_patterns)).batch(batch_size).map(
      lambda batch: tf.io.parse_example(batch, spec))


def make_dataset(file_patterns: List[str], image_size: int, batch_size: int,
                 shuffle: bool, seed: int, augmentation=None,
                 background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND
                 ) -> tf.data.Dataset:
  """(pixels, label) batches from the TFRecords that ImageExampleGen wrote.

  With `augmentation` (an AugmentationConfig), every epoch draws new random transforms
  (online augmentation); use it for the train split only.
  """
  spec = {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
          LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}

  augment = _online_augmentation(augmentation, image_size, seed) if augmentation else None

  def parse(serialized):
    features = tf.io.parse_single_example(serialized, spec)
    image = decode_image(features[IMAGE_KEY], image_size, background)
    return (augment(image) if augment else image), features[LABEL_KEY]

  dataset = examples.records(examples.record_files(file_patterns))
  if shuffle:
    dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
  dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
