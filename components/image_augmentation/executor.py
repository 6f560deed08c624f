"""ImageAugmentation executor.

Output layout ({augmented_examples.uri}):
  Split-eval/...          the input's eval files, copied byte for byte (never augmented)
  Split-train/...         offline: K augmented variants per training image (PNG), each a
                          tf.Example with the input's features plus `variant` (1..K);
                          online/off: the input's train files, copied byte for byte
  labels.json             the label vocabulary, copied
  augmentation_preview.png  originals and augmented samples side by side
"""

import importlib
import io
import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import numpy as np
import tensorflow as tf
from PIL import Image
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import pipeline_config
from components.ingest.example_encoding import encode_example
from components.ingest.executor import LABELS_FILE

EXAMPLES_KEY = "examples"
AUGMENTED_KEY = "augmented_examples"
AUGMENTATION_CONFIG_KEY = "augmentation_config"
# The module whose Augmenter(config) and variant_seed(seed, sha256, variant) draw the
# transforms: the Trainer's own (named by the pipeline, as TFX names a run_fn), so that
# offline and online augmentation draw the same ones.
AUGMENTER_KEY = "augmenter"
PREVIEW_FILE = "augmentation_preview.png"
_FEATURES = ("image", "label", "label_name", "height", "width", "sha256")


def _parse(serialized: bytes) -> dict:
  example = tf.train.Example.FromString(serialized)
  out = {}
  for name in _FEATURES:
    feature = example.features.feature[name]
    out[name] = (feature.bytes_list.value or feature.int64_list.value)[0]
  return out


class _Variants(beam.DoFn):
  """K augmented copies of one training example, each seeded by (sha256, variant)."""

  def __init__(self, config, augmenter_module: str):
    self._config = config
    self._module = augmenter_module
    self._augmenter = None
    self._seed = None

  def setup(self):
    module = importlib.import_module(self._module)
    self._augmenter, self._seed = module.Augmenter(self._config), module.variant_seed

  def process(self, serialized: bytes):
    features = _parse(serialized)
    pixels = np.asarray(Image.open(io.BytesIO(features["image"])).convert("RGB"))
    sha = features["sha256"].decode()
    for variant in range(1, self._config.variants + 1):
      augmented = self._augmenter(pixels, self._seed(self._config.seed, sha, variant))
      buffer = io.BytesIO()
      Image.fromarray(augmented.round().astype(np.uint8)).save(buffer, format="PNG")
      yield encode_example({**features, "image": buffer.getvalue(), "variant": variant})


def _copy_split(source_uri: str, target_uri: str, split: str) -> None:
  source = os.path.join(source_uri, f"Split-{split}")
  target = os.path.join(target_uri, f"Split-{split}")
  tf.io.gfile.makedirs(target)
  for name in tf.io.gfile.listdir(source):
    tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)


def _records(uri: str, split: str) -> List[str]:
  return sorted(tf.io.gfile.glob(os.path.join(uri, f"Split-{split}", "*")))


def write_preview(train_files: List[str], config, path: str, augmenter_module: str,
                  samples: int = 6) -> str:
  """A grid: each row one training image, then augmented samples of it."""
  compression = "GZIP" if train_files[0].endswith(".gz") else ""
  augmentation = importlib.import_module(augmenter_module)
  augmenter = augmentation.Augmenter(config)
  rows = []
  for record in tf.data.TFRecordDataset(train_files, compression_type=compression).take(
      samples):
    features = _parse(record.numpy())
    image = Image.open(io.BytesIO(features["image"])).convert("RGB").resize((96, 96))
    pixels = np.asarray(image)
    sha = features["sha256"].decode()
    tiles = [pixels] + [
        augmenter(pixels, augmentation.variant_seed(config.seed, sha, v)).astype(np.uint8)
        for v in range(1, 5)]
    rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                for t in tiles], axis=1))
  grid = np.concatenate(rows, axis=0)
  buffer = io.BytesIO()
  Image.fromarray(grid).save(buffer, format="PNG")
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())
  return path


class Executor(base_beam_executor.BaseBeamExecutor):
  """Copies eval untouched; materialises K variants per training image in offline mode."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    config = pipeline_config.from_dict(
        pipeline_config.AugmentationConfig,
        json.loads(exec_properties[AUGMENTATION_CONFIG_KEY]))
    config.validate()
    source = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    target = artifact_utils.get_single_instance(output_dict[AUGMENTED_KEY])
    target.split_names = source.split_names
    splits = artifact_utils.decode_split_names(source.split_names)
    tf.io.gfile.makedirs(target.uri)
    tf.io.gfile.copy(os.path.join(source.uri, LABELS_FILE),
                     os.path.join(target.uri, LABELS_FILE), overwrite=True)
    for split in splits:
      if split != "train" or config.mode != "offline":
        _copy_split(source.uri, target.uri, split)
    train_files = _records(source.uri, "train")
    if config.mode == "offline":
      compression = (beam.io.filesystem.CompressionTypes.GZIP if train_files[0].endswith(".gz")
                     else beam.io.filesystem.CompressionTypes.UNCOMPRESSED)
      with self._make_beam_pipeline() as p:
        _ = (
            p
            | "ReadTrain" >> beam.io.ReadFromTFRecord(
                os.path.join(source.uri, "Split-train", "*"), compression_type=compression)
            | "Augment" >> beam.ParDo(_Variants(config, exec_properties[AUGMENTER_KEY]))
            | "WriteTrain" >> beam.io.WriteToTFRecord(
                os.path.join(target.uri, "Split-train", "data_tfrecord")))
    write_preview(train_files, config, os.path.join(target.uri, PREVIEW_FILE),
                  exec_properties[AUGMENTER_KEY])
    target.set_string_custom_property("augmentation_mode", config.mode)
    target.set_int_custom_property("variants", config.variants if config.mode == "offline"
                                   else 0)
    print(f"[ImageAugmentation] mode {config.mode}"
          + (f", {config.variants} variants per training image" if config.mode == "offline"
             else "") + "; eval copied unchanged", flush=True)
