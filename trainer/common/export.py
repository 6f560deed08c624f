"""Exports the serving SavedModel of any task (the contract: docs/serving.md).

Classifiers (image, text) have these signatures; a forecaster has the same two names with a
`window` input and a `forecast` output (trainer/timeseries/timeseries_trainer.py, export_forecaster):
  serving_default(<input>: 1-D tf.string of what a client sends: encoded image files, raw
      documents) -> probabilities [batch, classes], label [batch] (class names), label_id
  serving_examples(examples: 1-D tf.string of serialized tf.Examples with the task's feature)
      -> the same outputs; TFMA's Evaluator uses it. It calls serving_default's function, so
      the task's preprocessing exists once.
  serving_preprocess(<input>) -> model_input, serving_model_input(model_input) ->
      probabilities: serving_default split at the classifier's own input (image pixels, text
      token vectors), with assets/edge_input.json saying how model_input is computed, for
      edge runtimes that cannot run the decoding (`python -m pipeline export`).
"""

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf
from tensorflow import keras

from schemas import contracts

SERVING_SIGNATURE = contracts.SERVING_SIGNATURE
LABELS_ASSET = "labels.json"
EXAMPLES_SIGNATURE = contracts.EXAMPLES_SIGNATURE
# An edge runtime (TFLite) cannot run the serving graph's decoding (image decoders, string
# lookups): these signatures split serving_default at the classifier's own input, and
# assets/edge_input.json says how a client on a device computes that input.
MODEL_INPUT_SIGNATURE = contracts.MODEL_INPUT_SIGNATURE
PREPROCESS_SIGNATURE = contracts.PREPROCESS_SIGNATURE
EDGE_INPUT_ASSET = contracts.EDGE_INPUT_ASSET


@dataclasses.dataclass
class EdgeInput:
  """serving_default split at `model`'s input: serving_preprocess (the client's 1-D string
  batch -> `model_input`, by `to_input`) and serving_model_input (`model_input` ->
  probabilities). `contract`: how that input is computed (written to edge_input.json)."""
  model: keras.Model
  spec: tf.TensorSpec
  to_input: Callable[[tf.Tensor], tf.Tensor]
  contract: dict


def export_classifier(model: keras.Model, label_names: List[str], export_dir: str,
                      input_name: str, example_key: str,
                      preprocess: Callable[[tf.Tensor], tf.Tensor] = lambda x: x,
                      edge: Optional[EdgeInput] = None) -> None:
  """Saves `model` with both signatures. `preprocess` maps the client's 1-D string batch to
  the model's input: image decoding, or for text what ingestion did to the documents (the
  model's own first layer vectorises strings). A tf.Module preprocess (one that owns lookup
  tables) is attached to the model so that the SavedModel carries its resources."""
  labels = tf.constant(label_names)
  if isinstance(preprocess, tf.Module):
    model.serving_preprocess = preprocess

  raw_spec = tf.TensorSpec([None], tf.string, name=input_name)
  extra = {}
  if edge is None:
    forward = lambda raw: model(preprocess(raw), training=False)
  else:
    # serving_default is the two halves called in turn: each is traced once, so the split
    # costs the export no second trace of the decoding or of the network. edge.model is
    # `model` or one of its layers: the saved model tracks its variables.
    spec = tf.TensorSpec(edge.spec.shape, edge.spec.dtype, name="model_input")
    to_input = tf.function(edge.to_input, input_signature=[raw_spec])
    classify = tf.function(lambda x: edge.model(x, training=False), input_signature=[spec])
    forward = lambda raw: classify(to_input(raw))
    extra[MODEL_INPUT_SIGNATURE] = tf.function(
        lambda x: {"probabilities": classify(x)}, input_signature=[spec]).get_concrete_function()
    extra[PREPROCESS_SIGNATURE] = tf.function(
        lambda raw: {"model_input": to_input(raw)},
        input_signature=[raw_spec]).get_concrete_function()

  def serve(raw):
    # An empty batch failed with internal shape errors deep in decoding or the model.
    with tf.control_dependencies([tf.debugging.assert_positive(
        tf.size(raw), message=f"{input_name} holds no inputs (an empty batch); send at least "
                              "one")]):
      raw = tf.identity(raw)
    probabilities = forward(raw)
    label_id = tf.argmax(probabilities, axis=-1)
    return {"probabilities": probabilities, "label": tf.gather(labels, label_id),
            "label_id": label_id}

  export_with_signatures(
      model, export_dir, serve, raw_spec,
      lambda examples: tf.io.parse_example(
          examples, {example_key: tf.io.FixedLenFeature([], tf.string)})[example_key], extra)
  # The label vocabulary (id = index) beside the graph: what `label_id` means.
  write_asset(export_dir, LABELS_ASSET, label_names)
  if edge is not None:
    write_asset(export_dir, EDGE_INPUT_ASSET, {
        "input": "model_input", "shape": edge.spec.shape.as_list(),
        "dtype": edge.spec.dtype.name, **edge.contract})


def write_asset(export_dir: str, name: str, value) -> None:
  """A JSON file in the SavedModel's assets/ folder (the Pusher copies it with the model)."""
  folder = os.path.join(export_dir, "assets")
  tf.io.gfile.makedirs(folder)
  with tf.io.gfile.GFile(os.path.join(folder, name), "w") as f:
    json.dump(value, f, indent=1, ensure_ascii=False)


def export_with_signatures(model: tf.Module, export_dir: str,
                           serve: Callable[[tf.Tensor], dict], input_spec: tf.TensorSpec,
                           parse_examples: Callable[[tf.Tensor], tf.Tensor],
                           extra: Optional[Dict[str, object]] = None) -> None:
  """Saves `model` with serving_default = `serve` on `input_spec`, and serving_examples, which
  parses serialized tf.Examples into that input and calls the same function (any task)."""

  @tf.function(input_signature=[input_spec])
  def serve_raw(raw):
    return serve(raw)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve_examples(examples):
    return serve_raw(parse_examples(examples))

  tf.saved_model.save(model, export_dir, signatures={
      SERVING_SIGNATURE: serve_raw.get_concrete_function(),
      EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
      **(extra or {}),
  })
