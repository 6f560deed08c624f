"""The transfer-learning model: preprocessing, convolutional base, and a classifier head.

The recipe (Chollet, ch. 5; keras-io's transfer-learning guide):
  1. freeze the base and call it with training=False, train the head;
  2. unfreeze the top conv blocks, keep BatchNorm in inference mode, recompile with a low
     learning rate, fine-tune.
"""

from typing import Optional, Tuple

from tensorflow import keras

from trainer.backbones import Backbone, Preprocess, build_base


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
  x = keras.layers.Dense(dense_units, activation="relu", name="head_dense")(x)
  x = keras.layers.Dropout(dropout, name="head_dropout")(x)
  outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier"), base


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
