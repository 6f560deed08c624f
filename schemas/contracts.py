"""The contracts components and trainers share, in one light module: no TensorFlow, Beam or
TFX at import (TensorFlow's gfile is imported inside the readers, so the files may live on
gs://). Components and trainers import this module, never each other.

  {examples.uri}/labels.json        the label vocabulary (label id = list index)
  {examples.uri}/features.json      a forecaster's inputs: features, target, lookback, ...
  <model>/assets.extra/eval_figures.json   the model's accuracy on its eval split
  <pushed model>/model_card.json, .md      what the model is (components/model_card/)
  signatures: serving_default (what a client sends), serving_examples (tf.Examples, TFMA)
"""

import json
import os
from typing import List, Optional

LABELS_FILE = "labels.json"
FEATURES_FILE = "features.json"
EVAL_FIGURES = os.path.join("assets.extra", "eval_figures.json")
SERVING_SIGNATURE = "serving_default"
EXAMPLES_SIGNATURE = "serving_examples"
# A classifier's input after the serving graph's decoding, for edge runtimes (TFLite):
# serving_preprocess (what a client sends -> model_input), serving_model_input
# (model_input -> probabilities), and assets/edge_input.json (how model_input is computed).
PREPROCESS_SIGNATURE = "serving_preprocess"
MODEL_INPUT_SIGNATURE = "serving_model_input"
EDGE_INPUT_ASSET = "edge_input.json"
SPLITS = ("train", "validation", "eval")
# The Evaluator's slices: per class (its accuracy is the class's recall) and per series.
PER_CLASS_FEATURE = "label_name"
PER_SERIES_FEATURE = "series"
# The model card beside a pushed model (components/model_card/): not part of the model.
MODEL_CARD_FILES = ("model_card.json", "model_card.md")


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def _read_json(path: str):
  with _gfile().GFile(path) as f:
    return json.load(f)


def read_label_names(examples_uri: str) -> List[str]:
  """The label vocabulary written beside the examples (label id = list index)."""
  return _read_json(os.path.join(examples_uri, LABELS_FILE))


def read_features(examples_uri: str) -> dict:
  """What a forecaster's rows hold (features.json beside the examples)."""
  return _read_json(os.path.join(examples_uri, FEATURES_FILE))


def write_eval_figures(export_dir: str, accuracy: float, examples: int) -> None:
  """The model's accuracy on its eval split, recorded with it (assets.extra/ travels with
  the pushed model and is not loaded by a server): the data gate judges a new drop's
  labels against it when no older span is in the window."""
  gfile = _gfile()
  path = os.path.join(export_dir, EVAL_FIGURES)
  gfile.makedirs(os.path.dirname(path))
  with gfile.GFile(path, "w") as f:
    json.dump({"accuracy": float(accuracy), "examples": int(examples)}, f)


def read_eval_figures(export_dir: str) -> Optional[dict]:
  path = os.path.join(export_dir, EVAL_FIGURES)
  return _read_json(path) if _gfile().exists(path) else None
