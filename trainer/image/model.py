"""The transfer-learning model: preprocessing, convolutional base, and a classifier head.

The recipe (Chollet, ch. 5; keras-io's transfer-learning guide):
  1. freeze the base and call it with training=False, train the head;
  2. unfreeze the top conv blocks, keep BatchNorm in inference mode, recompile with a low
     learning rate, fine-tune.
"""

from typing import Callable, Optional, Tuple

import tensorflow as tf
from tensorflow import keras

from schemas.backbones import Backbone

HEAD = "head"
# The ImageNet channel standard deviations EfficientNet's original implementation divides
# by on top of its Normalization layer (keras.applications.efficientnet.IMAGENET_STDDEV_RGB).
_EFFICIENTNET_STDDEV_RGB = (0.229, 0.224, 0.225)


def _preprocess_fn(mode: str) -> Callable[[tf.Tensor], tf.Tensor]:
  if mode in ("caffe", "tf"):
    return lambda x: keras.applications.imagenet_utils.preprocess_input(x, mode=mode)
  if mode == "unit":
    return lambda x: x / 255.0
  if mode == "none":
    return lambda x: x
  raise ValueError(f"Unknown preprocessing. Received: preprocessing={mode!r}")


@keras.utils.register_keras_serializable(package="transfer_toolkit")
class Preprocess(keras.layers.Layer):
  """Maps float RGB pixels in [0, 255] to what the named backbone expects (its table row's
  `preprocessing`)."""

  def __init__(self, backbone: str, **kwargs):
    super().__init__(**kwargs)
    self.backbone = backbone
    from schemas.backbones import get_backbone  # pylint: disable=import-outside-toplevel
    self._fn = _preprocess_fn(get_backbone(backbone).preprocessing)

  def call(self, inputs):
    return self._fn(tf.cast(inputs, tf.float32))

  def get_config(self):
    return {**super().get_config(), "backbone": self.backbone}


def build_base(backbone: Backbone, image_size: int, weights_path: Optional[str],
               imagenet: bool = False) -> keras.Model:
  """The convolutional base without its classifier, loaded from `weights_path` if given.

  `imagenet` says the file holds Keras's ImageNet weights of this backbone: they load as
  `keras.applications` loads them after its download (`model.load_weights(path)`), and for
  EfficientNet the extra ImageNet scaling that Keras adds to the graph only when it is asked
  for weights="imagenet" is folded into its Normalization layer's variance.
  """
  shape = (image_size, image_size, 3)
  if backbone.application is None:
    return _small_convnet(shape)
  constructor = getattr(keras.applications, backbone.application)
  base = constructor(include_top=False, weights=None, input_shape=shape)
  if weights_path:
    base.load_weights(weights_path)
    if imagenet and backbone.application.startswith("EfficientNet"):
      _fold_efficientnet_imagenet_scaling(base)
  return base


def _fold_efficientnet_imagenet_scaling(base: keras.Model) -> None:
  """(x - mean) / sqrt(var) / std == (x - mean) / sqrt(var * std^2)."""
  normalization = next(layer for layer in base.layers
                       if isinstance(layer, keras.layers.Normalization))
  std = tf.constant(_EFFICIENTNET_STDDEV_RGB, normalization.adapt_variance.dtype)
  normalization.adapt_variance.assign(
      normalization.adapt_variance * tf.reshape(tf.square(std),
                                                normalization.adapt_variance.shape))
  normalization.finalize_state()


def _small_convnet(shape) -> keras.Model:
  """Chollet's ch. 5 convnet: depth grows 32 -> 128 while the feature map shrinks."""
  inputs = keras.Input(shape)
  x = inputs
  for i, filters in enumerate((32, 64, 128), start=1):
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            name=f"block{i}_conv")(x)
    x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
  return keras.Model(inputs, x, name="small_convnet")


def build_classifier(backbone: Backbone, num_classes: int, image_size: int,
                     weights_path: Optional[str], dense_units: int,
                     dropout: float, imagenet: bool = False) -> Tuple[keras.Model, keras.Model]:
  """Returns (model, base). The model takes float RGB pixels in [0, 255]."""
  inputs = keras.Input((image_size, image_size, 3), name="pixels")
  x = Preprocess(backbone.name, name="preprocess")(inputs)
  base = build_base(backbone, image_size, weights_path, imagenet)
  if backbone.transfer:
    base.trainable = False
    # training=False keeps BatchNorm in inference mode, also once the base is unfrozen.
    x = base(x, training=False)
  else:
    x = base(x)
  x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
  head = build_head(x.shape[-1], num_classes, dense_units, dropout)
  return keras.Model(inputs, head(x), name=f"{backbone.name}_classifier"), base


def build_head(feature_dim: int, num_classes: int, dense_units: int,
               dropout: float) -> keras.Model:
  """The classifier over pooled base features; a model of its own so that phase 1 can train
  it on cached features and the full model shares its weights."""
  features = keras.Input((feature_dim,), name="pooled_features")
  x = keras.layers.Dense(dense_units, activation="relu", name="head_dense")(features)
  x = keras.layers.Dropout(dropout, name="head_dropout")(x)
  outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(features, outputs, name=HEAD)


def feature_extractor(model: keras.Model) -> keras.Model:
  """Pixels -> pooled features: preprocessing and the frozen base, as inside `model`."""
  return keras.Model(model.inputs, model.get_layer("head_pool").output)


def top_block_names(backbone: Backbone, n_blocks: int) -> Tuple[str, ...]:
  if not 0 <= n_blocks <= len(backbone.blocks):
    raise ValueError(f"{backbone.name} has {len(backbone.blocks)} blocks. "
                     f"Received: fine_tune_blocks={n_blocks}")
  return backbone.blocks[len(backbone.blocks) - n_blocks:]


def unfreeze_top_blocks(base: keras.Model, backbone: Backbone, n_blocks: int) -> None:
  """Makes exactly the top `n_blocks` conv blocks trainable; BatchNorm layers stay frozen.

  Layers are in topological order, so a block's layers that the backbone's pattern does not
  place (Xception's residual shortcut convolutions, the head of MobileNetV2 and
  EfficientNet) are the ones after the last layer of the blocks below it.
  """
  top = top_block_names(backbone, n_blocks)
  lower = set(backbone.blocks[:len(backbone.blocks) - n_blocks])
  last_lower = max((i for i, layer in enumerate(base.layers)
                    if backbone.block_of(layer.name) in lower), default=-1)
  base.trainable = True
  for i, layer in enumerate(base.layers):
    in_top = bool(top) and i > last_lower
    layer.trainable = in_top and not isinstance(layer, keras.layers.BatchNormalization)
