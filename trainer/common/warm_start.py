"""Warm start (data drops): the Trainer starts from the latest blessed model's weights.

Every task's Trainer saves its Keras weights and labels inside the serving model, in
`<serving model>/assets.extra/warm_start/{weights.h5,labels.json}` plus what the task needs
to map them onto a new model (the text vocabulary's tokens, a forecaster's features and
normalisation statistics: `extra` JSON files) (assets.extra is the
SavedModel folder for extra files that serving ignores), so the Pusher's copy of the model
carries them. Models trained before that kept them beside the serving model
(`<model artifact>/warm_start/`); `load` looks there too. With the same label vocabulary every
weight is reused; with an extended vocabulary (--on-new-class extend) every layer but the
output layer. A model whose labels are not a prefix of the current ones (a vocabulary reset)
is not used.

Every path may be a URI (gs://): Keras writes and reads HDF5 through h5py, on local files
only, so the weights go through a local temporary file copied with tf.io.gfile.
"""

import json
import math
import os
import tempfile
from typing import Callable, Dict, List, Optional

import tensorflow as tf
from tensorflow import keras

EXTRA_DIR = "assets.extra"
WARM_START_DIR = "warm_start"
WEIGHTS_FILE = "weights.h5"
LABELS_FILE = "labels.json"
RECORD_FILE = "warm_start.json"


def warm_start_dir(serving_model_dir: str) -> str:
  """Where `save` puts the weights: inside the serving model, which the Pusher copies."""
  return os.path.join(serving_model_dir.rstrip("/"), EXTRA_DIR, WARM_START_DIR)


def _legacy_warm_start_dir(serving_model_dir: str) -> str:
  """Where models trained before the weights moved into the serving model kept them."""
  return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), WARM_START_DIR)


def save(model: keras.Model, label_names: List[str], serving_model_dir: str,
         extra: Optional[Dict[str, object]] = None) -> None:
  """Writes the weights and labels into the exported serving model (call after the export:
  the SavedModel writer owns the rest of that folder); `extra`: file name -> JSON value."""
  folder = warm_start_dir(serving_model_dir)
  tf.io.gfile.makedirs(folder)
  with tempfile.TemporaryDirectory(prefix="warm-start-") as local:
    local_weights = os.path.join(local, WEIGHTS_FILE)
    model.save_weights(local_weights)            # HDF5 through h5py: a local file
    tf.io.gfile.copy(local_weights, os.path.join(folder, WEIGHTS_FILE), overwrite=True)
  for name, value in {LABELS_FILE: label_names, **(extra or {})}.items():
    with tf.io.gfile.GFile(os.path.join(folder, name), "w") as f:
      json.dump(value, f, ensure_ascii=False)


def read_extra(base_model: Optional[str], name: str) -> Optional[object]:
  """A JSON file `save` wrote with the base model's weights, or None (no base model, or one
  saved without it)."""
  folder = _saved_folder(base_model) if base_model else None
  path = folder and os.path.join(folder, name)
  if not path or not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def fewer_epochs(epochs: int, fraction: float) -> int:
  """A warm-started phase's epochs: `fraction` of them, at least one (none stays none)."""
  return max(1, math.ceil(epochs * fraction)) if epochs else 0


def _transfer(source: keras.Model, target: keras.Model) -> int:
  """Copies weights layer by layer where the shapes agree (nested models too); returns the
  number of layers copied."""
  copied = 0
  for a, b in zip(source.layers, target.layers):
    if isinstance(a, keras.Model) and isinstance(b, keras.Model):
      copied += _transfer(a, b)
      continue
    wa, wb = a.get_weights(), b.get_weights()
    if wa and len(wa) == len(wb) and all(x.shape == y.shape for x, y in zip(wa, wb)):
      b.set_weights(wa)
      copied += 1
  return copied


def _saved_folder(base_model: str) -> Optional[str]:
  """The base model's warm-start folder (the current place first), or None."""
  for folder in (warm_start_dir(base_model), _legacy_warm_start_dir(base_model)):
    if tf.io.gfile.exists(os.path.join(folder, WEIGHTS_FILE)):
      return folder
  return None


def _load_weights(model: keras.Model, weights: str) -> None:
  with tempfile.TemporaryDirectory(prefix="warm-start-") as local:
    local_weights = os.path.join(local, WEIGHTS_FILE)
    tf.io.gfile.copy(weights, local_weights, overwrite=True)
    model.load_weights(local_weights)


def load(model: keras.Model, label_names: List[str], base_model: Optional[str],
         build: Callable[[int], keras.Model], model_run_dir: str,
         adapt: Optional[Callable[[keras.Model, keras.Model], Optional[str]]] = None
         ) -> Optional[dict]:
  """Starts `model` from the base model's weights when they fit; returns what was done (also
  written to model_run_dir/warm_start.json), or None for a cold start. `build(n)` builds the
  base model's architecture with n outputs; `adapt(previous, model)`, run after the layers
  that fit were copied, maps the rest (rows of a vocabulary, normalisation statistics) and
  returns a note for the record (or None)."""
  if not base_model:
    return None
  folder = _saved_folder(base_model)
  if folder is None:
    print(f"[Trainer] cold start: the blessed model {base_model} has no saved weights",
          flush=True)
    return None
  with tf.io.gfile.GFile(os.path.join(folder, LABELS_FILE)) as f:
    base_labels = json.load(f)
  if label_names[:len(base_labels)] == base_labels:
    try:
      previous = build(len(base_labels))
      _load_weights(previous, os.path.join(folder, WEIGHTS_FILE))
    except (ValueError, OSError) as error:     # another architecture (backbone, head size)
      print(f"[Trainer] cold start: the blessed model's weights do not fit ({error})",
            flush=True)
      return None
    copied = _transfer(previous, model)
    note = adapt(previous, model) if adapt else None
    if not copied and not note:
      print("[Trainer] cold start: no layer of the blessed model fits", flush=True)
      return None
    mode = "full" if base_labels == label_names else "all but the output layer"
    if note:
      mode = f"{mode}; {note}"
  else:
    print("[Trainer] cold start: the blessed model's labels are not a prefix of the label "
          "vocabulary", flush=True)
    return None
  record = {"from": os.path.dirname(base_model.rstrip("/")), "mode": mode,
            "base_labels": len(base_labels), "labels": len(label_names)}
  tf.io.gfile.makedirs(model_run_dir)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, RECORD_FILE), "w") as f:
    json.dump(record, f, indent=1)
  print(f"[Trainer] warm start from {record['from']} ({mode})", flush=True)
  return record
