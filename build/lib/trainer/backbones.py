"""Convolutional bases, each paired with its own preprocessing, in one place.

VGG16 expects "caffe" preprocessing (RGB -> BGR, ImageNet mean subtracted); Xception expects
"tf" preprocessing (scaled to [-1, 1]); the small convnet trained from scratch takes [0, 1].
The preprocessing lives inside the model as a `Preprocess` layer, so training, evaluation and
serving can never disagree about it.
"""

import dataclasses
from typing import Callable, Optional, Tuple

import tensorflow as tf
from tensorflow import keras

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Backbone:
  name: str
  min_size: int
  # Ordered conv block names; fine-tuning unfreezes a suffix of this tuple.
  blocks: Tuple[str, ...]
  default_fine_tune_blocks: int
  # A transfer base is frozen for phase 1 and fine-tuned in phase 2; otherwise the whole
  # network trains from scratch in one phase.
  transfer: bool = True
  # ImageNet weights of the base without its top, as Keras names and pins them.
  imagenet_file: Optional[str] = None
  imagenet_url: Optional[str] = None
  imagenet_md5: Optional[str] = None


BACKBONES = {
    "vgg16": Backbone(
        name="vgg16", min_size=32,
        blocks=tuple(f"block{i}" for i in range(1, 6)),
        default_fine_tune_blocks=1,
        imagenet_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=_WEIGHTS_ROOT + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_md5="6d6bbae143d832006294945121d1f1fc"),
    "xception": Backbone(
        name="xception", min_size=71,
        blocks=tuple(f"block{i}" for i in range(1, 15)),
        default_fine_tune_blocks=2,
        imagenet_file="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=(_WEIGHTS_ROOT +
                      "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        imagenet_md5="b0042744bf5b25fce3cb969f33bebb97"),
    "small_convnet": Backbone(
        name="small_convnet", min_size=16, blocks=(), default_fine_tune_blocks=0,
        transfer=False),
}


def get_backbone(name: str) -> Backbone:
  if name not in BACKBONES:
    raise ValueError(f"Unknown backbone. Choose one of {sorted(BACKBONES)}. "
                     f"Received: backbone={name!r}")
  return BACKBONES[name]


def _preprocess_fn(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
  if name == "vgg16":
    return keras.applications.vgg16.preprocess_input
  if name == "xception":
    return keras.applications.xception.preprocess_input
  return lambda x: x / 255.0


@keras.utils.register_keras_serializable(package="transfer_toolkit")
class Preprocess(keras.layers.Layer):
  """Maps float RGB pixels in [0, 255] to what the named backbone expects."""

  def __init__(self, backbone: str, **kwargs):
    super().__init__(**kwargs)
    self.backbone = backbone
    self._fn = _preprocess_fn(backbone)

  def call(self, inputs):
    return self._fn(tf.cast(inputs, tf.float32))

  def get_config(self):
    return {**super().get_config(), "backbone": self.backbone}


def build_base(name: str, image_size: int, weights_path: Optional[str]) -> keras.Model:
  """The convolutional base without its classifier, loaded from `weights_path` if given."""
  shape = (image_size, image_size, 3)
  if name == "vgg16":
    return keras.applications.VGG16(include_top=False, weights=weights_path, input_shape=shape)
  if name == "xception":
    return keras.applications.Xception(
        include_top=False, weights=weights_path, input_shape=shape)
  if name == "small_convnet":
    return _small_convnet(shape)
  raise ValueError(f"Unknown backbone. Received: backbone={name!r}")


def _small_convnet(shape) -> keras.Model:
  """Chollet's ch. 5 convnet: depth grows 32 -> 128 while the feature map shrinks."""
  inputs = keras.Input(shape)
  x = inputs
  for i, filters in enumerate((32, 64, 128), start=1):
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            name=f"block{i}_conv")(x)
    x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
  return keras.Model(inputs, x, name="small_convnet")
