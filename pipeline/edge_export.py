"""`python -m pipeline export --format tflite`: a pushed classifier as a TFLite model for
devices, with its preprocessing contract beside it.

TFLite cannot run a serving graph's decoding (file decoders, Exif handling, string lookups),
so the TFLite model takes the classifier's own input: the SavedModel's `serving_model_input`
signature (docs/use.md says what each task's is). How a device computes that input from a
file is the model's assets/edge_input.json, copied into `<output>.json` with the labels, the
quantization and, with --check, the measured agreement with the SavedModel: each file's `serving_default`
probabilities (from its bytes) against the TFLite model's on the same file's
`serving_preprocess` output.
"""

import json
import os
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

import pipeline_config
from components.inference import signature as predict_signature
from schemas import contracts

QUANTIZATIONS = ("none", "float16", "int8")
BUILTIN_OPS = "TFLite builtins"
SELECT_OPS = "TFLite builtins and TF Select ops (the runtime needs the Flex delegate)"
REPRESENTATIVE_FILES = 100


def _tf():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf


def _read_json(path: str):
  tf = _tf()
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _preprocessed(loaded, files: List[str]) -> Iterable[tuple]:
  """(path, model_input row, serving_default probabilities) of every file the signature
  takes (a refused file is skipped: it has no model input either)."""
  tf = _tf()
  preprocess = loaded.signatures[contracts.PREPROCESS_SIGNATURE]
  serve = loaded.signatures[contracts.SERVING_SIGNATURE]
  (input_name, _), = serve.structured_input_signature[1].items()
  for path in files:
    try:
      raw = tf.constant([predict_signature.read_bytes(path)])
      model_input = preprocess(**{input_name: raw})["model_input"].numpy()
      probabilities = serve(**{input_name: raw})["probabilities"].numpy()
    except Exception:  # pylint: disable=broad-except
      continue
    yield path, model_input[0], probabilities[0]


def calibration_files(representative: List[str]) -> List[str]:
  """At most REPRESENTATIVE_FILES of them, spread evenly over the list (class folders are
  listed in order: the first 100 could be one class)."""
  step = max(1, -(-len(representative) // REPRESENTATIVE_FILES))
  return representative[::step][:REPRESENTATIVE_FILES]


def convert(loaded, quantize: str = "none",
            representative: Optional[List[str]] = None) -> Tuple[bytes, str, int]:
  """The TFLite flatbuffer of a loaded SavedModel's serving_model_input signature, the op
  sets it needs (BUILTIN_OPS, or SELECT_OPS where builtins alone cannot convert it) and the
  number of inputs int8 calibration used. int8 with representative files is full-integer
  quantization of weights and activations (float input and output kept); without them, int8
  weights (dynamic range)."""
  tf = _tf()
  if quantize not in QUANTIZATIONS:
    raise pipeline_config.ToolkitError(
        f"--quantize must be one of {', '.join(QUANTIZATIONS)}. Received: {quantize!r}")
  if contracts.MODEL_INPUT_SIGNATURE not in loaded.signatures:
    raise pipeline_config.ToolkitError(
        f"The model has no {contracts.MODEL_INPUT_SIGNATURE} signature: "
        "TFLite export takes classifiers exported by this version of the toolkit (train "
        "again to export an older one); forecasters are not exported.")
  # From the signature's concrete function alone, not the SavedModel: a model's lookup tables
  # (a vocabulary, Unicode normalisation) are initialised for the other signatures, and
  # TFLite has no such ops.
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [loaded.signatures[contracts.MODEL_INPUT_SIGNATURE]])
  calibrated = 0
  if quantize == "float16":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == "int8":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative:
      inputs = [row for _, row, _ in _preprocessed(loaded, calibration_files(representative))]
      if not inputs:
        raise pipeline_config.ToolkitError(
            f"None of the {len(representative)} --representative files is one the serving "
            "signature takes; pass files a client would send (e.g. training files).")
      converter.representative_dataset = lambda: ([row[None]] for row in inputs)
      calibrated = len(inputs)
  try:
    return converter.convert(), BUILTIN_OPS, calibrated
  except Exception as error:  # pylint: disable=broad-except
    # Recurrent layers over a dynamic batch (a GRU or LSTM) keep TensorList ops that
    # TFLite's builtins cannot lower: those run through TF Select (the Flex delegate, which
    # the TensorFlow pip package's interpreter has; a device runtime must link it too).
    print(f"[export] TFLite builtins alone cannot convert this model ({_first_line(error)}); "
          "converting with TF Select ops", flush=True)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    converter._experimental_lower_tensor_list_ops = False  # pylint: disable=protected-access
    return converter.convert(), SELECT_OPS, calibrated


def _first_line(error: Exception) -> str:
  lines = [line for line in str(error).splitlines() if line.strip()]
  return lines[0][:200] if lines else type(error).__name__


class TFLiteClassifier:
  """A converted model (one input, model_input; one output, probabilities) run by the TFLite
  interpreter, any batch size."""

  def __init__(self, content: bytes):
    tf = _tf()
    self._interpreter = tf.lite.Interpreter(model_content=content)
    (self._input,), (self._output,) = (self._interpreter.get_input_details(),
                                       self._interpreter.get_output_details())
    self._shape = None

  def __call__(self, model_input: np.ndarray) -> np.ndarray:
    if self._shape != model_input.shape:
      self._interpreter.resize_tensor_input(self._input["index"], model_input.shape)
      self._interpreter.allocate_tensors()
      self._shape = model_input.shape
    self._interpreter.set_tensor(self._input["index"],
                                 model_input.astype(self._input["dtype"]))
    self._interpreter.invoke()
    return self._interpreter.get_tensor(self._output["index"])


def agreement(loaded, content: bytes, files: List[str]) -> Dict[str, object]:
  """Top-1 agreement and the largest probability difference between the SavedModel
  (serving_default on each file's bytes) and the TFLite model (on serving_preprocess's output
  for the same bytes), over the files serving takes."""
  lite = TFLiteClassifier(content)
  same = total = 0
  largest = 0.0
  for _, model_input, expected in _preprocessed(loaded, files):
    got = lite(model_input[None])[0]
    same += int(np.argmax(got) == np.argmax(expected))
    largest = max(largest, float(np.max(np.abs(got - expected))))
    total += 1
  return {"files": len(files), "compared": total,
          "top1_agreement": same / total if total else None,
          "max_probability_difference": largest if total else None}


def export(model_dir: str, output: str, quantize: str = "none",
           check: Optional[List[str]] = None,
           representative: Optional[List[str]] = None) -> dict:
  """Writes `output` (the .tflite) and `output`.json (its contract); returns the contract."""
  tf = _tf()
  loaded = tf.saved_model.load(model_dir)
  content, ops, calibrated = convert(loaded, quantize, representative)
  edge_input = _read_json(os.path.join(model_dir, "assets", contracts.EDGE_INPUT_ASSET))
  labels = _read_json(os.path.join(model_dir, "assets", contracts.LABELS_FILE))
  record = {
      "format": "tflite", "source_model": model_dir, "signature":
      contracts.MODEL_INPUT_SIGNATURE, "quantize": quantize, "ops": ops,
      **({"int8": "full integer (weights and activations; float input and output), "
                  f"calibrated on {calibrated} files"
          if representative else "weights only (dynamic range)"} if quantize == "int8"
         else {}),
      "labels": labels, "input": edge_input,
      "output": {"name": "probabilities", "shape": [-1, len(labels)], "dtype": "float32"},
      "bytes": len(content)}
  if check:
    record["agreement"] = agreement(loaded, content, check)
  folder = os.path.dirname(output)
  if folder:
    tf.io.gfile.makedirs(folder)
  with tf.io.gfile.GFile(output, "wb") as f:
    f.write(content)
  with tf.io.gfile.GFile(output + ".json", "w") as f:
    json.dump(record, f, indent=1, ensure_ascii=False)
  return record
