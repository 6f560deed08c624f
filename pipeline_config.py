"""One typed configuration for the whole toolkit, with defaults that work out of the box.

Config flows one way: this module -> pipeline factory -> component parameters and the
Trainer's ``custom_config`` -> trainer. Users override fields with CLI flags or with their own
Python file passed as ``--config path/to/my_config.py`` that defines ``CONFIG``
(a :class:`PipelineConfig`).

This module never imports TensorFlow, so reading a configuration is cheap.
"""

import dataclasses
import json
import math
import os
import re
import runpy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


class ToolkitError(Exception):
  """An expected failure (bad data, missing weights, a breached gate, ...).

  The message says what went wrong and how to fix it; the CLI prints it without a traceback.
  """


from trainer.backbones import BACKBONES  # the backbone table (no TensorFlow)

TASKS = ("image", "text", "timeseries")
# The three splits (contract): `train` fits, `validation` drives callbacks, checkpoint choice
# and tuning, `eval` is only for the Evaluator's blessing.
SPLITS = ("train", "validation", "eval")
DEFAULT_PIPELINE_NAME = "transfer-learning"
# Kubeflow's rule, applied to every command: the name is a directory under the pipeline
# root and serving/, and MLMD node contexts are "<pipeline>.<node>" (no dots, no slashes).
PIPELINE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


def check_pipeline_name(name: str) -> None:
  if not isinstance(name, str) or not PIPELINE_NAME_PATTERN.fullmatch(name):
    raise ToolkitError(
        "Pipeline names take lowercase letters, digits and hyphens (no underscores, dots or "
        "slashes), start with a letter or digit and have at most 128 characters (the "
        f"Kubeflow rule; the name is a folder under the work dir). Received: {name!r}")


@dataclass
class IngestConfig:
  """How ImageExampleGen reads ``<data_root>/<class>/<file>``."""
  # Split name -> percentage of the content-hash space: exactly train, validation and eval,
  # positive, summing to 100.
  split_percentages: Dict[str, int] = field(
      default_factory=lambda: {"train": 70, "validation": 10, "eval": 20})
  # Pillow format names accepted; nothing that runs an external program (EPS, PDF).
  allowed_formats: Tuple[str, ...] = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
  # Decompression-bomb guard, checked from the header before pixels are decoded.
  max_pixels: int = 50_000_000
  max_file_bytes: int = 50 * 1024 * 1024
  min_side: int = 8
  # RGB colour that transparent pixels are composited onto.
  background_color: Tuple[int, int, int] = (255, 255, 255)
  # TFRecord compression of the examples: "none" (default; JPEG/PNG bytes do not shrink, and
  # GZIP cost as much CPU as decoding) or "gzip". TFX readers detect either from the suffix.
  compression: str = "none"
  # Threads decoding images inside each Beam worker; 0 means one per CPU core.
  decode_threads: int = 0
  # Data drops (<root>/span-<N>/... or <root>/<YYYY-MM-DD>/...): train on the newest `window`
  # spans (None: all); the Evaluator judges the newest span's eval split.
  window: Optional[int] = None
  # A class first seen in a new span: "fail" stops the run; "extend" gives it the next id in
  # the label vocabulary (and the run is not compared with the last blessed model).
  on_new_class: str = "fail"

  def validate(self):
    if self.window is not None and self.window < 1:
      raise ToolkitError(f"window must be >= 1 span. Received: window={self.window}")
    if self.on_new_class not in ("fail", "extend"):
      raise ToolkitError("on_new_class must be fail or extend. "
                         f"Received: on_new_class={self.on_new_class!r}")
    if self.compression not in ("none", "gzip"):
      raise ToolkitError(
          f"compression must be 'none' or 'gzip'. Received: compression={self.compression!r}")
    if (sorted(self.split_percentages) != sorted(SPLITS)
        or sum(self.split_percentages.values()) != 100
        or any(not isinstance(p, int) or p <= 0 for p in self.split_percentages.values())):
      raise ToolkitError(
          "split_percentages must give train, validation and eval each a positive whole "
          "percentage, summing to 100 (e.g. --splits 70,10,20). "
          f"Received: split_percentages={self.split_percentages}")
    if len(self.background_color) != 3 or any(
        not isinstance(c, int) or not 0 <= c <= 255 for c in self.background_color):
      raise ToolkitError("background_color must be three integers in 0-255. "
                         f"Received: background_color={self.background_color}")
    for name in ("max_pixels", "max_file_bytes", "min_side"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")


DISTRIBUTIONS = ("auto", "none", "mirrored", "multi_worker")


@dataclass
class FitConfig:
  """What every task's training shares (trainer/common/hygiene.py): batches, the head, the
  callbacks (EarlyStopping and ReduceLROnPlateau watch `monitor` on the validation split;
  ModelCheckpoint keeps the best weights by it) and class weights."""
  batch_size: int = 32
  dense_units: int = 256
  dropout: float = 0.5
  seed: int = 42
  monitor: str = "val_loss"
  early_stopping_patience: int = 5
  reduce_lr_patience: int = 3
  reduce_lr_factor: float = 0.1
  # Small data: on a validation split of a few dozen examples one epoch's figure is noise, so
  # neither EarlyStopping nor ReduceLROnPlateau acts (nor is a best epoch chosen) before this
  # share of a phase's epochs has run, and both wait at least this share of the epochs
  # (patience relative to the epochs asked) besides their own patience.
  min_epochs_fraction: float = 0.25
  patience_fraction: float = 0.2
  # 'auto' (weigh classes when the largest is over 1.5x the smallest), 'balanced' or 'none'.
  class_weights: str = "auto"
  # tf.distribute strategy (trainer/common/distribution.py): "auto" (MirroredStrategy when
  # more than one GPU is visible, else none), "none", "mirrored" (every visible GPU, or the
  # CPU) or "multi_worker" (MultiWorkerMirroredStrategy from TF_CONFIG). batch_size is the
  # global batch, split across the replicas.
  distribution: str = "auto"

  def validate_fit(self):
    if self.distribution not in DISTRIBUTIONS:
      raise ToolkitError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}. "
                         f"Received: distribution={self.distribution!r}")
    for name in ("batch_size", "dense_units"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    for name in ("min_epochs_fraction", "patience_fraction"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ToolkitError(f"{name} must be between 0 and 1. "
                           f"Received: {name}={getattr(self, name)}")
    if self.monitor not in ("val_loss", "val_accuracy"):
      raise ToolkitError("monitor must be val_loss or val_accuracy (the validation split). "
                         f"Received: monitor={self.monitor!r}")
    if self.class_weights not in ("auto", "balanced", "none"):
      raise ToolkitError("class_weights must be auto, balanced or none. "
                         f"Received: class_weights={self.class_weights!r}")
    if not 0.0 <= self.dropout < 1.0:
      raise ToolkitError(f"dropout must be in [0, 1). Received: dropout={self.dropout}")


TEXT_MODELS = ("bow", "conv1d", "lstm", "bilstm", "gru")
TIMESERIES_MODELS = ("dense", "gru", "gru_dropout", "stacked_gru", "bigru", "conv1d_gru",
                     "lstm")
# EvalConfig.min_accuracy when it is None, per task.
MIN_ACCURACY = {"image": 0.6, "text": 0.0, "timeseries": 0.0}


@dataclass
class TextIngestConfig:
  """What TextExampleGen does to each document beyond the shared IngestConfig rules."""
  # Tried when a file is not valid UTF-8 (and has no UTF-16/32 BOM), e.g. "cp1252" or
  # "latin-1"; None rejects such files as not_utf8.
  fallback_encoding: Optional[str] = None
  # Longer documents are truncated to this many characters (after NFC) or rejected.
  max_chars: int = 100_000
  on_too_long: str = "truncate"     # "truncate" | "reject"
  # A document is binary when it has a NUL character or more than this share of control
  # characters (other than tab, newline, carriage return, form feed): "mostly" control
  # characters, since real text has some (backspace overstriking in old Unix texts: 8-17%).
  max_control_fraction: float = 0.3

  def validate(self):
    if self.on_too_long not in ("truncate", "reject"):
      raise ToolkitError("on_too_long must be truncate or reject. "
                         f"Received: on_too_long={self.on_too_long!r}")
    if self.max_chars < 1:
      raise ToolkitError(f"max_chars must be >= 1. Received: max_chars={self.max_chars}")
    if not 0.0 <= self.max_control_fraction <= 1.0:
      raise ToolkitError("max_control_fraction must be in [0, 1]. "
                         f"Received: max_control_fraction={self.max_control_fraction}")
    if self.fallback_encoding:
      try:
        b"a".decode(self.fallback_encoding)     # text encodings only: not hex, base64
      except LookupError:
        raise ToolkitError(
            f"Unknown fallback_encoding {self.fallback_encoding!r}; use a Python text "
            "encoding such as cp1252 or latin-1.") from None


@dataclass
class TextTrainerConfig(FitConfig):
  """Chollet's text recipes (ch. 11): a TextVectorization adapted on the train split only,
  then a bag-of-n-grams model (the strong baseline) or a sequence model on embeddings."""
  model: str = "bow"                # bow | conv1d | lstm | bilstm | gru
  max_tokens: int = 20_000          # vocabulary size, including the OOV token
  # bow: n-grams up to this size, encoded as `bow_output_mode` (multi_hot, count, tf_idf).
  # multi_hot is the default: on short documents (headlines) TF-IDF weights learned on a
  # small train split made the dense head seed-sensitive (0.66-0.74 vs 0.76 multi-hot).
  ngrams: int = 2
  bow_output_mode: str = "multi_hot"
  # Sequence models: documents cut or padded to this many tokens.
  sequence_length: int = 400
  embedding_dim: int = 128
  # A GloVe-format text file ("word v1 v2 ... vN" per line, local or gs://) for the
  # Embedding: frozen in phase 1, unfrozen at fine_tune_learning_rate in phase 2 when
  # fine_tune_epochs > 0. None learns the embedding from scratch.
  embeddings: Optional[str] = None
  epochs: int = 20
  learning_rate: float = 1e-3
  fine_tune_epochs: int = 0
  fine_tune_learning_rate: float = 1e-4
  dense_units: int = 64
  early_stopping_patience: int = 3
  reduce_lr_patience: int = 2
  # Documents listed in the "most confidently wrong" report.
  wrong_examples: int = 20

  def validate(self):
    if self.model not in TEXT_MODELS:
      raise ToolkitError(f"Unknown text model. Choose one of {', '.join(TEXT_MODELS)}. "
                         f"Received: model={self.model!r}")
    if self.bow_output_mode not in ("multi_hot", "count", "tf_idf"):
      raise ToolkitError("bow_output_mode must be multi_hot, count or tf_idf. "
                         f"Received: bow_output_mode={self.bow_output_mode!r}")
    self.validate_fit()
    for name in ("max_tokens", "ngrams", "sequence_length", "embedding_dim", "epochs"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if self.max_tokens < 3:
      raise ToolkitError(f"max_tokens must be >= 3. Received: max_tokens={self.max_tokens}")
    if self.fine_tune_epochs < 0:
      raise ToolkitError(
          f"fine_tune_epochs must be >= 0. Received: fine_tune_epochs={self.fine_tune_epochs}")
    for name in ("learning_rate", "fine_tune_learning_rate"):
      if not 0 < getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be in (0, 1). Received: {name}={getattr(self, name)}")
    if self.embeddings is not None and self.model == "bow":
      raise ToolkitError("Pretrained embeddings need a sequence model (conv1d, lstm, bilstm "
                         "or gru); bow has no Embedding layer. Received: model='bow'")


@dataclass
class TimeseriesConfig:
  """How TimeseriesExampleGen reads `<data_root>/*.csv` (one series per file, a header row)
  and how windows are cut (ingestion writes the eval windows the Evaluator judges; the
  Trainer cuts train and validation windows the same way)."""
  time_column: str = "timestamp"
  # The column to forecast; required (flag --target-column or this field).
  target_column: Optional[str] = None
  # Model inputs, in this order; None: every numeric column ingestion keeps. The target is
  # always an input (the persistence baseline and the residual head read its last value).
  features: Optional[Tuple[str, ...]] = None
  # Rows of history in a window (what a client sends), sampled every `step` rows inside the
  # model, and the forecast `delay` rows after the window's last row.
  lookback: int = 120
  step: int = 1
  delay: int = 1
  # Seasonal-naive baseline period in rows; None: one day of rows when the inferred sampling
  # interval divides a day (24 for hourly data), else no seasonal baseline.
  seasonal_period: Optional[int] = None
  # Runs of up to this many missing rows (or values) are linearly interpolated; longer runs
  # break the series into segments that no window crosses.
  max_fill: int = 6
  # A column missing in more than this share of rows (over all files) is left out.
  max_column_missing: float = 0.05
  delimiter: str = ","
  # The served model's inputs (its assets/features.json) are the contract: a data root with
  # the same columns in another order is reordered to it; new or missing columns stop the
  # run ("fail"), or with "accept" the model is trained on the columns found and judged on
  # its own thresholds only (the served model cannot read them).
  on_feature_change: str = "fail"

  def validate(self):
    if self.on_feature_change not in ("fail", "accept"):
      raise ToolkitError("on_feature_change must be fail or accept. "
                         f"Received: on_feature_change={self.on_feature_change!r}")
    if not self.target_column:
      raise ToolkitError(
          "--task timeseries needs the column to forecast: pass --target-column NAME (or set "
          "timeseries.target_column in a --config file).")
    for name in ("lookback", "step", "delay"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if self.step > self.lookback:
      raise ToolkitError(f"step must be at most lookback ({self.lookback}). "
                         f"Received: step={self.step}")
    if self.seasonal_period is not None and self.seasonal_period < 1:
      raise ToolkitError("seasonal_period must be >= 1 (rows). "
                         f"Received: seasonal_period={self.seasonal_period}")
    if self.max_fill < 0:
      raise ToolkitError(f"max_fill must be >= 0. Received: max_fill={self.max_fill}")
    if not 0.0 <= self.max_column_missing <= 1.0:
      raise ToolkitError("max_column_missing must be in [0, 1]. "
                         f"Received: max_column_missing={self.max_column_missing}")
    if len(self.delimiter) != 1:
      raise ToolkitError(f"delimiter must be one character. Received: {self.delimiter!r}")
    if self.time_column == self.target_column:
      raise ToolkitError("The target column cannot be the time column. "
                         f"Received: {self.target_column!r}")


@dataclass
class TimeseriesTrainerConfig(FitConfig):
  """Chollet's forecasting recipes (ch. 10): train-only normalisation inside the model, a
  network judged against the common-sense baselines. `residual` predicts the change from the
  last observed target (forecast = y[t] + model(window)), which keeps persistence as a floor."""
  model: str = "dense"
  residual: bool = True
  units: int = 32
  epochs: int = 20
  learning_rate: float = 1e-3
  # gru_dropout: dropout and recurrent_dropout of the GRU (FitConfig.dropout: the head's).
  recurrent_dropout: float = 0.25
  dense_units: int = 32
  # The head's dropout: 0.3 cut the demo's eval MAE from 6.34 to 6.07 (persistence 6.97).
  dropout: float = 0.3
  batch_size: int = 256
  early_stopping_patience: int = 4
  reduce_lr_patience: int = 2
  class_weights: str = "none"
  # Eval rows shown in the forecast-vs-actual plot.
  plot_rows: int = 14 * 24

  def validate(self):
    if self.model not in TIMESERIES_MODELS:
      raise ToolkitError(f"Unknown timeseries model. Choose one of "
                         f"{', '.join(TIMESERIES_MODELS)}. Received: model={self.model!r}")
    self.validate_fit()
    for name in ("units", "epochs", "plot_rows"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if not 0 < self.learning_rate < 1:
      raise ToolkitError(f"learning_rate must be in (0, 1). "
                         f"Received: learning_rate={self.learning_rate}")
    if not 0.0 <= self.recurrent_dropout < 1.0:
      raise ToolkitError("recurrent_dropout must be in [0, 1). "
                         f"Received: recurrent_dropout={self.recurrent_dropout}")


@dataclass
class GateConfig:
  """Quality gates between validation and training; a breach stops the pipeline."""
  max_rejected_fraction: float = 0.05
  # Kept files (images, documents) per class; the name predates the other tasks.
  min_images_per_class: int = 10
  # Largest class over smallest class, in images kept.
  max_class_imbalance: float = 10.0
  # Files with identical content filed under two classes.
  max_label_conflicts: int = 0
  fail_on_anomalies: bool = True
  # Data drops: how far the latest blessed model's accuracy on the newest span's labels may
  # fall below its accuracy on the window's older eval files (shuffled or mislabelled drops).
  max_label_agreement_drop: float = 0.2
  # Classes in the window: one class (a layout read wrongly, a drop of one class) is no
  # classifier.
  min_classes: int = 2
  # Every class needs at least this many examples in each of train, validation and eval.
  min_examples_per_split: int = 1
  # Text: every kept document needs at least this many whitespace-separated tokens.
  min_tokens_per_document: int = 1
  # Against the last accepted data drop; the first drop always passes.
  max_label_drift: float = 0.2      # L-infinity distance of the label distributions
  # L-infinity distance of the task's categorical mix (image format, text encoding).
  max_format_drift: float = 0.5
  # Relative change of the task's medians (image width and height, document length).
  max_size_drift: float = 1.0
  # Time series: share of values (kept columns x time steps) that were missing, filled or not.
  max_missing_fraction: float = 0.1
  # Time series: segments a series may break into (runs of missing rows over max_fill).
  max_segments_per_series: int = 20
  # Time series: every kept series needs this many whole windows in each split.
  min_windows_per_split: int = 1
  # Time series: Jensen-Shannon divergence of each feature's distribution against the last
  # accepted drop, over that drop's percentile bins (TFDV's numeric drift measure).
  max_feature_drift: float = 0.3

  def validate(self):
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if f.type is bool:
        continue
      # NaN compares false with everything, so it would turn the gate off.
      if (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)
          or value < 0):
        raise ToolkitError(f"Gate {f.name} must be a number >= 0. "
                           f"Received: {f.name}={value!r}")
    for name in ("max_rejected_fraction", "max_label_drift", "max_format_drift",
                 "max_missing_fraction", "max_feature_drift", "max_label_agreement_drop"):
      if getattr(self, name) > 1:
        raise ToolkitError(f"Gate {name} is a fraction in [0, 1]. "
                           f"Received: {name}={getattr(self, name)}")


MAX_AUGMENTATION_VARIANTS = 50


@dataclass
class AugmentationConfig:
  """The augmentation step (train split only, seeded; see trainer/augmentation.py)."""
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
  # Warm start (from the latest blessed model): each phase runs this share of its epochs.
  warm_start_epochs: float = 0.2
  # Also train the small convnet from scratch on the same splits and report both models' eval
  # accuracy (trainer/image_baselines.py): what the pretrained base is worth on this data.
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


@dataclass
class EvalConfig:
  """When the Evaluator blesses a model. Every task's model must also beat the majority-class
  baseline on the eval split (`majority_margin` > 0), whatever these say."""
  # Absolute lower bound on eval accuracy; None: the task's default (MIN_ACCURACY), 0.6 for
  # images and none for text, where the attainable accuracy depends on the corpus far more
  # (fortune-cookie topics: 0.59 for TF-IDF + logistic regression; news: 0.98) and the
  # majority-class baseline is the floor.
  min_accuracy: Optional[float] = None
  # How much accuracy may drop against the latest blessed model (0.0: must not be worse).
  max_accuracy_drop: float = 0.0
  # Optional lower bound on every class's recall on the eval split (None: reported only).
  min_class_recall: Optional[float] = None
  # Time series: how much the eval MAE may rise above the latest blessed model's, in target
  # units (0.0: must not be worse). The model must also beat the best common-sense baseline.
  max_mae_increase: float = 0.0

  def min_accuracy_for(self, task: str) -> float:
    return self.min_accuracy if self.min_accuracy is not None else MIN_ACCURACY[task]

  def validate(self):
    for name in ("min_accuracy", "max_accuracy_drop", "min_class_recall"):
      value = getattr(self, name)
      if value is not None and not 0.0 <= value <= 1.0:
        raise ToolkitError(f"{name} must be in [0, 1]. Received: {name}={value}")
    if self.max_mae_increase < 0:
      raise ToolkitError("max_mae_increase must be >= 0. "
                         f"Received: max_mae_increase={self.max_mae_increase}")


@dataclass
class PipelineConfig:
  """Everything `python -m pipeline run` needs."""
  data_root: str = ""
  work_dir: str = "work"
  task: str = "image"
  # Image runs keep this name; other tasks append theirs ("transfer-learning-text").
  pipeline_name: str = DEFAULT_PIPELINE_NAME
  enable_cache: bool = True
  # Passed through to Beam, e.g. ['--direct_num_workers=2',
  # '--direct_running_mode=multi_threading']. Empty means DirectRunner in-process; any value
  # also makes TFX package itself for remote workers (about 2 s per Beam component).
  beam_args: List[str] = field(default_factory=list)
  # "auto": the Trainer starts from the latest blessed model when there is one (image task);
  # "off": every run trains from scratch.
  warm_start: str = "auto"
  ingest: IngestConfig = field(default_factory=IngestConfig)
  gates: GateConfig = field(default_factory=GateConfig)
  augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
  trainer: TrainerConfig = field(default_factory=TrainerConfig)
  tuning: TuningConfig = field(default_factory=TuningConfig)
  evaluation: EvalConfig = field(default_factory=EvalConfig)
  text_ingest: TextIngestConfig = field(default_factory=TextIngestConfig)
  text_trainer: TextTrainerConfig = field(default_factory=TextTrainerConfig)
  timeseries: TimeseriesConfig = field(default_factory=TimeseriesConfig)
  timeseries_trainer: TimeseriesTrainerConfig = field(default_factory=TimeseriesTrainerConfig)

  # Where everything the pipeline writes lives when it is not a local work dir: a URI
  # (gs://bucket/prefix) given to `compile --pipeline-root`. Unset: <work_dir>/pipeline_root.
  pipeline_root_uri: Optional[str] = None
  # How drops are named under the data root (components/ingest/spans.py): "auto" looks at
  # the data root (a local one; a URI that cannot be listed is taken as "span"), "flat",
  # "span" (span-<N>/) or "dated" (YYYY-MM-DD/).
  drop_layout: str = "auto"

  def _local(self, name: str) -> str:
    return os.path.join(os.path.abspath(self.work_dir), name)

  @property
  def pipeline_root(self) -> str:
    return self.pipeline_root_uri.rstrip("/") if self.pipeline_root_uri else self._local(
        "pipeline_root")

  def _under_root(self, name: str) -> str:
    """A location that follows the pipeline root: local beside it, else under the URI."""
    if self.pipeline_root_uri:
      return f"{self.pipeline_root}/{name}"
    return self._local(name)

  @property
  def metadata_path(self) -> str:
    return self._local("metadata.sqlite")

  @property
  def serving_dir(self) -> str:
    """Pushed models, per pipeline: several pipelines (tasks) may share a work dir or a root,
    and a model server (or LatestPushedModel) loads the highest version of one pipeline:
    `<work-dir>/serving/<pipeline name>/<version>`."""
    if self.pipeline_root_uri:
      return f"{self.pipeline_root}/{self.pipeline_name}/serving"
    return os.path.join(self._local("serving"), self.pipeline_name)

  @property
  def feature_cache_dir(self) -> str:
    return self._under_root("feature_cache")

  @property
  def gate_history_dir(self) -> str:
    """Where the data gate keeps the profile of the last accepted data drop: with the
    pipeline's artifacts, per pipeline (so per task)."""
    return f"{self.pipeline_root}/{self.pipeline_name}/data_gate"

  @property
  def last_run_path(self) -> str:
    return self._local("last_run.json")

  def validate(self):
    if self.pipeline_name == DEFAULT_PIPELINE_NAME and self.task != "image":
      # One work dir can hold several tasks: each has its own MLMD pipeline context, so the
      # Evaluator's baseline and the cache never cross tasks.
      self.pipeline_name = f"{DEFAULT_PIPELINE_NAME}-{self.task}"
    check_pipeline_name(self.pipeline_name)
    self._check_work_dir()
    if self.task not in TASKS:
      raise ToolkitError(
          f"Unknown task. Choose one of {', '.join(TASKS)}. Received: task={self.task!r}")
    if self.drop_layout not in ("auto", "flat", "span", "dated"):
      raise ToolkitError("drop_layout must be auto, flat, span or dated. Received: "
                         f"{self.drop_layout!r}")
    if self.warm_start not in ("auto", "off"):
      raise ToolkitError(f"warm_start must be auto or off. Received: {self.warm_start!r}")
    self.ingest.validate()
    self.gates.validate()
    self.evaluation.validate()
    if self.task == "image":
      self.augmentation.validate()
      self.trainer.validate()
      return
    if self.tuning.enabled:
      raise ToolkitError(
          "Hyperparameter search (--tune) is available for --task image only; for "
          f"{self.task}, set the trainer's fields (--text-model, --forecast-model, --epochs, ...).")
    if self.task == "text":
      self.text_ingest.validate()
      self.text_trainer.validate()
    else:
      self.timeseries.validate()
      self.timeseries_trainer.validate()


  def _check_work_dir(self) -> None:
    """A work dir that is a file, lies under a file or cannot be created fails here, before
    anything runs (not as an OSError from MLMD or Beam)."""
    if self.pipeline_root_uri or "://" in self.work_dir:
      return
    path = os.path.abspath(self.work_dir)
    probe = path
    while not os.path.exists(probe):
      parent = os.path.dirname(probe)
      if parent == probe:
        break
      probe = parent
    if not os.path.isdir(probe):
      raise ToolkitError(
          f"The work dir {self.work_dir} cannot be created: {probe} is a file, not a folder. "
          "Pass --work-dir with a folder path.")
    if not os.access(probe, os.W_OK):
      raise ToolkitError(
          f"The work dir {self.work_dir} cannot be written: {probe} is not writable. Pass "
          "--work-dir with a folder you can write.")


def to_json(section) -> str:
  """Serialises a config section for a component parameter (parameters must be primitives)."""
  return json.dumps(dataclasses.asdict(section))


def from_dict(cls, values: dict):
  """Rebuilds a config section from the dict that :func:`to_json` or ``asdict`` wrote."""
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = set(values) - names
  if unknown:
    raise ToolkitError(f"Unknown {cls.__name__} fields: {sorted(unknown)}")
  # JSON has no tuples; every sequence field of these sections is a tuple.
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_config(path: Optional[str] = None) -> PipelineConfig:
  """Returns the defaults, or the ``CONFIG`` defined by the user's Python file at `path`."""
  if not path:
    return PipelineConfig()
  if not os.path.isfile(path):
    raise ToolkitError(f"Config file {path} does not exist. Pass a Python file that "
                       "defines CONFIG = PipelineConfig(...).")
  namespace = runpy.run_path(path)
  config = namespace.get("CONFIG")
  if not isinstance(config, PipelineConfig):
    raise ToolkitError(
        f"Config file {path} must define CONFIG as a pipeline_config.PipelineConfig. "
        f"Received: CONFIG={type(config).__name__}")
  return config
