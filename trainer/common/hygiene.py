"""Callbacks, class weights, compiling and fitting: the training hygiene of Chollet's ch. 7,
configured once for every task."""

import dataclasses
import math
import os
import shutil
import tempfile
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow import keras

from schemas import patches
from trainer.common import distribution


# tf_keras's own functions are not converted by AutoGraph (17 s off every first fit).
patches.skip_autograph_for_tf_keras()


class _CopyCheckpoint(keras.callbacks.Callback):
  """Copies a local checkpoint file to its URI after every epoch that rewrote it, and removes
  the local folder when training ends. Keras writes HDF5 through h5py, to local files only
  (tf_keras 2.16 saves a gs:// .h5 path to a temporary file and never uploads it)."""

  def __init__(self, local: str, uri: str):
    super().__init__()
    self._local, self._uri, self._copied = local, uri, None

  def on_epoch_end(self, epoch, logs=None):
    if os.path.isfile(self._local):
      info = os.stat(self._local)
      stamp = (info.st_mtime_ns, info.st_size)
      if stamp != self._copied:
        tf.io.gfile.copy(self._local, self._uri, overwrite=True)
        self._copied = stamp

  def on_train_end(self, logs=None):
    shutil.rmtree(os.path.dirname(self._local), ignore_errors=True)


def _best_checkpoint(config, path: str) -> List[keras.callbacks.Callback]:
  """ModelCheckpoint of the best weights (by `config.monitor`) to `path`, a local path or a
  URI (written locally, then copied)."""
  local = path
  if "://" in path:
    local = os.path.join(tempfile.mkdtemp(prefix="checkpoint-"), os.path.basename(path))
  checkpoint = keras.callbacks.ModelCheckpoint(local, monitor=config.monitor,
                                               save_best_only=True, save_weights_only=True)
  return [checkpoint] if local == path else [checkpoint, _CopyCheckpoint(local, path)]


class _ReduceLROnPlateauAfter(keras.callbacks.ReduceLROnPlateau):
  """ReduceLROnPlateau that neither counts nor acts before `start_from_epoch` (as
  EarlyStopping's own argument of that name)."""

  def __init__(self, start_from_epoch: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.start_from_epoch = start_from_epoch

  def on_epoch_end(self, epoch, logs=None):
    if epoch >= self.start_from_epoch:
      super().on_epoch_end(epoch, logs)


def patience_for(config, epochs: int) -> Dict[str, int]:
  """When the callbacks may act in a phase of `epochs`: `start_from_epoch` (the first epoch
  they judge), and the EarlyStopping and ReduceLROnPlateau patience, each at least the
  configured one and `patience_fraction` of the epochs. ReduceLROnPlateau keeps fewer
  epochs of patience than EarlyStopping, so a phase cuts the rate before it gives up."""
  relative = math.ceil(config.patience_fraction * epochs)
  early = max(config.early_stopping_patience, relative)
  reduce = max(config.reduce_lr_patience, math.ceil(relative / 2))
  return {"start_from_epoch": int(config.min_epochs_fraction * epochs),
          "early_stopping_patience": early, "reduce_lr_patience": min(reduce, early)}


def training_callbacks(config, model_run_dir: str, phase: str,
                       epochs: int = 0) -> List[keras.callbacks.Callback]:
  """EarlyStopping, ModelCheckpoint (best by `config.monitor`), ReduceLROnPlateau and
  TensorBoard logs under `<model_run_dir>/logs/<phase>` (where TFX users look for them).
  On small validation splits the callbacks judge noise, so none acts before
  `min_epochs_fraction` of the phase's `epochs` and their patience grows with the epochs
  asked (patience_for)."""
  checkpoints = os.path.join(model_run_dir, "checkpoints")
  tf.io.gfile.makedirs(checkpoints)
  when = patience_for(config, epochs)
  return [
      keras.callbacks.EarlyStopping(monitor=config.monitor,
                                    patience=when["early_stopping_patience"],
                                    start_from_epoch=when["start_from_epoch"],
                                    restore_best_weights=True, verbose=1),
      *_best_checkpoint(config, os.path.join(checkpoints, f"{phase}_best.h5")),
      _ReduceLROnPlateauAfter(monitor=config.monitor, factor=config.reduce_lr_factor,
                              patience=when["reduce_lr_patience"],
                              start_from_epoch=when["start_from_epoch"], verbose=1),
      keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs", phase)),
  ]


def class_weights(counts: np.ndarray, mode: str,
                  imbalance_threshold: float = 1.5) -> Optional[Dict[int, float]]:
  """Balanced weights n / (k * n_c), or None.

  mode: 'balanced' always weighs; 'auto' weighs only when the largest class is more than
  `imbalance_threshold` times the smallest; 'none' never does.
  """
  if mode not in ("auto", "balanced", "none"):
    raise ValueError(f"class_weights must be auto, balanced or none. Received: {mode!r}")
  present = counts[counts > 0]
  if mode == "none" or present.size == 0:
    return None
  if mode == "auto" and present.max() <= imbalance_threshold * present.min():
    return None
  total, k = counts.sum(), present.size
  # Every id gets a weight (Keras wants them all); an id with no example (a class of the
  # vocabulary missing from the window) weighs 1.
  return {i: float(total / (k * c)) if c > 0 else 1.0 for i, c in enumerate(counts)}


def compile_classifier(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
  """Sparse categorical cross-entropy on integer labels, accuracy reported as `accuracy`.

  Under a strategy of several replicas the accuracy is a weighted metric, so the padding
  rows of distribution.full_batches (weight 0) do not count."""
  accuracy = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
  weighted = tf.distribute.get_strategy().num_replicas_in_sync > 1
  model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                metrics=None if weighted else accuracy,
                weighted_metrics=accuracy if weighted else None)


def fit_phase(model: keras.Model, config, model_run_dir: str, phase: str, x, validation,
              epochs: int, class_weight=None, **kwargs) -> dict:
  """One training phase with the standard callbacks; returns its history dict. Under a
  strategy of several replicas every batch is padded to the global batch size
  (distribution.full_batches), so that no replica is handed an empty batch."""
  if tf.distribute.get_strategy().num_replicas_in_sync > 1:
    x, validation, kwargs = _full_batches(x, validation, config, kwargs)
  return model.fit(x, validation_data=validation, epochs=epochs, verbose=2,
                   class_weight=class_weight,
                   callbacks=training_callbacks(config, model_run_dir, phase, epochs),
                   **kwargs).history


def _full_batches(x, validation, config, kwargs):
  kwargs = dict(kwargs)
  batch_size = kwargs.pop("batch_size", None) or config.batch_size
  y = kwargs.pop("y", None)
  shuffle = kwargs.pop("shuffle", False)
  x = distribution.full_batches(x, batch_size, y=y, shuffle=shuffle, seed=config.seed)
  if isinstance(validation, tuple) and not isinstance(validation[0], tf.data.Dataset):
    validation = distribution.full_batches(validation[0], batch_size, y=validation[1])
  elif validation is not None:
    validation = distribution.full_batches(validation, batch_size)
  return x, validation, kwargs


def evaluate_phase(model: keras.Model, validation, config) -> Dict[str, float]:
  """The model's loss and metrics on the validation split, as the callbacks saw them
  (`val_loss`, and `val_accuracy` for a classifier); padded under several replicas as
  fit_phase pads."""
  if tf.distribute.get_strategy().num_replicas_in_sync > 1:
    validation = distribution.full_batches(validation, config.batch_size)
  found = model.evaluate(validation, verbose=0, return_dict=True)
  return {f"val_{name}": float(value) for name, value in found.items()}


def warm_started(config):
  """A warm-started phase's config: the callbacks judge from its first epoch. The model
  starts from trained weights, so its first epochs are not the noise of a random start
  that min_epochs_fraction waits out, and the best of them may be the one to keep."""
  return dataclasses.replace(config, min_epochs_fraction=0.0)


def better_or_equal(candidate: Dict[str, float], incumbent: Dict[str, float]) -> bool:
  """Whether `candidate` is at least as good as `incumbent` on the validation split:
  accuracy first (what the Evaluator blesses on), the loss breaking a tie."""
  if candidate["val_accuracy"] != incumbent["val_accuracy"]:
    return candidate["val_accuracy"] > incumbent["val_accuracy"]
  return candidate["val_loss"] <= incumbent["val_loss"]
