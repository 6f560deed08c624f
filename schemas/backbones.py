"""The convolutional bases, one table row each: everything the toolkit knows about a backbone.

A row says which `keras.applications` constructor builds it, the preprocessing its ImageNet
weights expect (applied inside the model by `trainer.image.model.Preprocess`, so training,
evaluation and serving cannot disagree), its minimum input size, how its layers group into
the conv blocks that phase 2 unfreezes from the top, and the ImageNet weights file Keras
downloads for it. Nothing else in the toolkit repeats these facts: the config checks, the
CLI's choices and the trainer all read this table. It imports no TensorFlow, so the CLI and
`pipeline_config` read it instantly.

Preprocessing modes are Keras's (`keras.applications.imagenet_utils.preprocess_input`):
  caffe  RGB -> BGR, ImageNet channel means subtracted (VGG16, ResNet50)
  tf     scaled to [-1, 1] (Xception, MobileNet, MobileNetV2, InceptionV3)
  none   the model normalises its own [0, 255] input (EfficientNet's Rescaling and
         Normalization layers)
  unit   scaled to [0, 1] (the small convnet trained from scratch)
"""

import dataclasses
import re
from typing import Dict, Optional, Tuple

_WEIGHTS_ROOT = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class Backbone:
  name: str
  # The keras.applications constructor (None: built by trainer.image.model).
  application: Optional[str]
  preprocessing: str
  min_size: int
  # Ordered conv block names, bottom to top; phase 2 unfreezes a suffix of this tuple.
  blocks: Tuple[str, ...]
  # Which block a layer belongs to: the regex's groups, joined, name the block. Layers it
  # does not match (Xception's shortcut convolutions, ResNet's pooling) belong to the block
  # above the last matched layer below them.
  block_pattern: str = r"^$"
  default_fine_tune_blocks: int = 0
  # A transfer base is frozen for phase 1 and fine-tuned in phase 2; otherwise the whole
  # network trains from scratch in one phase.
  transfer: bool = True
  # ImageNet weights of the base without its top, as Keras names, locates and pins them
  # (md5, as keras.utils.get_file checks it; Keras pins no hash for the MobileNets).
  imagenet_file: Optional[str] = None
  imagenet_url: Optional[str] = None
  imagenet_md5: Optional[str] = None
  # Shipped ImageNet weights that `python -m pipeline weights install NAME` writes into the
  # Keras cache on a machine that cannot download them.
  installable: bool = False

  def block_of(self, layer_name: str) -> Optional[str]:
    """The block `layer_name` belongs to, or None when the pattern does not place it."""
    found = re.match(self.block_pattern, layer_name)
    return "".join(found.groups()) if found else None


def _keras_file(folder: str, file: str, md5: Optional[str] = None) -> Dict[str, str]:
  return {"imagenet_file": file, "imagenet_url": f"{_WEIGHTS_ROOT}{folder}/{file}",
          "imagenet_md5": md5}


BACKBONES = {
    "vgg16": Backbone(
        name="vgg16", application="VGG16", preprocessing="caffe", min_size=32,
        blocks=tuple(f"block{i}" for i in range(1, 6)), block_pattern=r"^(block\d+)_",
        default_fine_tune_blocks=1,
        **_keras_file("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "6d6bbae143d832006294945121d1f1fc")),
    "xception": Backbone(
        name="xception", application="Xception", preprocessing="tf", min_size=71,
        blocks=tuple(f"block{i}" for i in range(1, 15)), block_pattern=r"^(block\d+)_",
        default_fine_tune_blocks=2,
        **_keras_file("xception", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "b0042744bf5b25fce3cb969f33bebb97")),
    # MobileNet v1 1.0: Keras names its file by input size (128/160/192/224), but the conv
    # weights do not depend on it; the toolkit loads the 224-px ImageNet network at every
    # size (the one `weights install mobilenet` converts), as Keras itself does at sizes
    # outside those four.
    "mobilenet": Backbone(
        name="mobilenet", application="MobileNet", preprocessing="tf", min_size=32,
        blocks=tuple(f"conv_{i}" for i in range(1, 14)),
        block_pattern=r"^(conv_)(?:dw|pw|pad)_(\d+)", default_fine_tune_blocks=2,
        installable=True, **_keras_file("mobilenet", "mobilenet_1_0_224_tf_no_top.h5")),
    "mobilenet_v2": Backbone(
        name="mobilenet_v2", application="MobileNetV2", preprocessing="tf", min_size=32,
        blocks=tuple(f"block_{i}" for i in range(1, 17)), block_pattern=r"^(block_\d+)_",
        default_fine_tune_blocks=2,
        **_keras_file("mobilenet_v2",
                      "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")),
    "efficientnet_b0": Backbone(
        name="efficientnet_b0", application="EfficientNetB0", preprocessing="none",
        min_size=32, blocks=tuple(f"block{i}" for i in range(1, 8)),
        block_pattern=r"^(block\d)[a-z]_", default_fine_tune_blocks=1,
        imagenet_file="efficientnetb0_notop.h5",
        imagenet_url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        imagenet_md5="50bc09e76180e00e4465e1a485ddc09d"),
    "resnet50": Backbone(
        name="resnet50", application="ResNet50", preprocessing="caffe", min_size=32,
        blocks=tuple(f"conv{i}" for i in range(1, 6)), block_pattern=r"^(conv\d)_",
        default_fine_tune_blocks=1,
        **_keras_file("resnet", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "4d473c1dd8becc155b73f8504c6f6626")),
    # InceptionV3's layers are numbered, not named by block; each `mixedN` concatenation ends
    # a block, so the pattern places only those ends (mixed9_1 lies inside mixed10).
    "inception_v3": Backbone(
        name="inception_v3", application="InceptionV3", preprocessing="tf", min_size=75,
        blocks=tuple(f"mixed{i}" for i in range(11)), block_pattern=r"^(mixed\d+)$",
        default_fine_tune_blocks=2,
        **_keras_file("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "bcbd6486424b2319ff4ef7d526e38f63")),
    "small_convnet": Backbone(
        name="small_convnet", application=None, preprocessing="unit", min_size=16, blocks=(),
        transfer=False),
}


def get_backbone(name: str) -> Backbone:
  if name not in BACKBONES:
    raise ValueError(f"Unknown backbone. Choose one of {', '.join(BACKBONES)}. "
                     f"Received: backbone={name!r}")
  return BACKBONES[name]
