"""The transfer-learning model: preprocessing, convolutional base, and a classifier head.

The recipe (Chollet, ch. 5; keras-io's transfer-learning guide):
  1. freeze the base and call it with training=False, train the head;
  2. unfreeze the top conv blocks, keep BatchNorm in inference mode, recompile with a low
     learning rate, fine-tune.
"""

from typing import Optional, Tuple

from tensorflow import keras

from trainer.backbones import Backbone, Preprocess, build_base

HEAD = "head"


def build_classifier(backbone: Backbone, num_classes: int, image_size: int,
                     weights_path: Optional[str], dense_units: int,
                     dropout: float) -> Tuple[keras.Model, keras.Model]:
  """Returns (model, base). The model takes float RGB pixels in [0, 255]."""
  inputs = keras.Input((image_size, image_size, 3), name="pixels")
  x = Preprocess(backbone.name, name="preprocess")(inputs)
  base = build_base(backbone.name, image_size, weights_path)
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

  Layers are in topological order, so a block's unnamed layers (Xception's residual
  shortcut convolutions) are the ones after the last layer of the blocks below it.
  """
  top = top_block_names(backbone, n_blocks)
  lower = backbone.blocks[:len(backbone.blocks) - n_blocks]
  last_lower = max((i for i, layer in enumerate(base.layers)
                    if layer.name.split("_")[0] in lower), default=-1)
  base.trainable = True
  for i, layer in enumerate(base.layers):
    in_top = bool(top) and i > last_lower
    layer.trainable = in_top and not isinstance(layer, keras.layers.BatchNormalization)
