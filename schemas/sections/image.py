"""The image task's config sections (`image_trainer`, `image_augmentation`, `image_tuning`;
formerly `trainer`, `augmentation`, `tuning`) and the flags that set them;
pipeline/tasks/image.py names them. No TensorFlow: components and trainers read these, and
backbone facts come from the backbone table only (schemas/backbones.py)."""

from dataclasses import dataclass
from typing import Optional, Tuple

from pipeline_config import FitConfig, Flag, ToolkitError, register_sections
from schemas.backbones import BACKBONES

MAX_AUGMENTATION_VARIANTS = 50


@dataclass
class AugmentationConfig:
  """The augmentation step (train split only, seeded; see trainer/image/augmentation.py)."""
  # 'offline': K materialised variants per training image (the feature cache reuses them);
  # 'online': new random transforms every epoch in the trainer; 'off': none.
  mode: str = "offline"
  variants: int = 2
  rotation_range: float = 15.0
  width_shift_range: float = 0.1
  height_shift_range: float = 0.1
  shear_range: float = 0.0
  zoom_range: float = 0.1
  # Off by default: a flip changes the meaning of text and digits.
  horizontal_flip: bool = False
  vertical_flip: bool = False
  fill_mode: str = "nearest"
  cval: float = 0.0
  brightness_range: Optional[Tuple[float, float]] = None
  contrast_range: Optional[Tuple[float, float]] = None
  seed: int = 42

  def validate(self):
    if self.mode not in ("offline", "online", "off"):
      raise ToolkitError(
          f"augmentation mode must be offline, online or off. Received: mode={self.mode!r}")
    if self.fill_mode not in ("nearest", "reflect", "wrap", "constant"):
      raise ToolkitError("fill_mode must be nearest, reflect, wrap or constant. "
                         f"Received: fill_mode={self.fill_mode!r}")
    if self.mode == "offline" and not 1 <= self.variants <= MAX_AUGMENTATION_VARIANTS:
      raise ToolkitError(
          f"variants must be between 1 and {MAX_AUGMENTATION_VARIANTS} (each variant is "
          "another copy of the training split on disk and in every epoch; for more variety "
          f"use mode='online'). Received: variants={self.variants}")


@dataclass
class TrainerConfig(FitConfig):
  """The transfer-learning recipe: frozen base + head, then fine-tune the top blocks."""
  backbone: str = "vgg16"
  # 'imagenet', 'none', or a path (local or gs://) to a weights file for the base.
  weights: str = "imagenet"
  image_size: int = 150
  head_epochs: int = 10
  fine_tune_epochs: int = 10
  head_learning_rate: float = 1e-3
  fine_tune_learning_rate: float = 1e-5
  # Number of top conv blocks unfrozen in phase 2; None means the backbone's default
  # (VGG16: block5; Xception: block13 and block14). 0 skips fine-tuning.
  fine_tune_blocks: Optional[int] = None
  # Where phase 1 caches the frozen base's features (any tf.io.gfile path); None: the
  # pipeline uses <work_dir>/feature_cache, "" turns the cache off.
  feature_cache_dir: Optional[str] = None
  # Also train the small convnet from scratch on the same splits and report both models' eval
  # accuracy (trainer/image/image_baselines.py): what the pretrained base is worth on this data.
  scratch_baseline: bool = False
  scratch_epochs: int = 30

  def validate(self):
    self.validate_fit()
    if self.backbone not in BACKBONES:
      raise ToolkitError(
          f"Unknown backbone. Choose one of {', '.join(BACKBONES)}. "
          f"Received: backbone={self.backbone!r}")
    backbone = BACKBONES[self.backbone]
    if self.image_size < backbone.min_size:
      raise ToolkitError(
          f"{self.backbone} needs image_size >= {backbone.min_size}. "
          f"Received: image_size={self.image_size}")
    blocks = len(backbone.blocks)
    if self.fine_tune_blocks is not None and not 0 <= self.fine_tune_blocks <= blocks:
      raise ToolkitError(
          f"{self.backbone} has {blocks} conv blocks to fine-tune, so fine_tune_blocks must "
          f"be between 0 and {blocks}"
          + (" (it is trained from scratch in one phase)" if not blocks else "")
          + f". Received: fine_tune_blocks={self.fine_tune_blocks}")
    if not backbone.transfer and self.weights not in ("none", "imagenet"):
      raise ToolkitError(
          f"{self.backbone} is trained from scratch and takes no weights file. "
          f"Received: weights={self.weights!r}")
    for name in ("head_learning_rate", "fine_tune_learning_rate"):
      if not 0 < getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be in (0, 1). Received: {name}={getattr(self, name)}")
    for name in ("head_epochs",):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if self.fine_tune_epochs < 0:
      raise ToolkitError(
          f"fine_tune_epochs must be >= 0. Received: fine_tune_epochs={self.fine_tune_epochs}")
    if self.scratch_baseline and self.scratch_epochs < 1:
      raise ToolkitError("scratch_epochs must be >= 1 with scratch_baseline. "
                         f"Received: scratch_epochs={self.scratch_epochs}")


@dataclass
class TuningConfig:
  """Hyperparameter search with TFX's Tuner and Keras Tuner (off by default)."""
  enabled: bool = False
  max_trials: int = 5
  epochs_per_trial: int = 3
  learning_rates: Tuple[float, ...] = (1e-3, 3e-4, 1e-4)
  dropouts: Tuple[float, ...] = (0.3, 0.5)
  dense_units: Tuple[int, ...] = (128, 256)
  max_fine_tune_blocks: int = 2



register_sections("image", {"image_trainer": TrainerConfig,
                            "image_augmentation": AugmentationConfig,
                            "image_tuning": TuningConfig},
                  renamed={"trainer": "image_trainer", "augmentation": "image_augmentation",
                           "tuning": "image_tuning"},
                  pipeline_name="transfer-learning")

FLAGS = (
    Flag("backbone", "image_trainer", "backbone"),
    Flag("weights", "image_trainer", "weights"),
    Flag("image_size", "image_trainer", "image_size", int),
    Flag("head_epochs", "image_trainer", "head_epochs", int),
    Flag("fine_tune_blocks", "image_trainer", "fine_tune_blocks", int),
    Flag("head_learning_rate", "image_trainer", "head_learning_rate", float),
    Flag("feature_cache_dir", "image_trainer", "feature_cache_dir"),
    Flag("augmentation", "image_augmentation", "mode"),
    Flag("augmentation_variants", "image_augmentation", "variants", int),
    Flag("tune", "image_tuning", "enabled", bool,
         help="search hyperparameters with TFX's Tuner before training"),
)
