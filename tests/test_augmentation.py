"""Augmentation: each transform does what its parameter says; the step never touches eval."""

import dataclasses
import glob
import os

import numpy as np
import pytest
from PIL import Image
from tfx.types import standard_artifacts

import pipeline_config
from components.image_augmentation import executor as augmentation_executor
from tests.example_gen_helpers import ingest_tiny_folder, read_examples
from trainer.image import augmentation

NOTHING = pipeline_config.AugmentationConfig(
    rotation_range=0, width_shift_range=0, height_shift_range=0, zoom_range=0)


def gradient_image(size=32):
  x = np.tile(np.arange(size, dtype=np.float32)[None, :, None] * 8, (size, 1, 3))
  x[:, :, 1] = np.arange(size, dtype=np.float32)[:, None] * 4
  return x


def test_horizontal_flip_mirrors():
  augmenter = augmentation.Augmenter(dataclasses.replace(NOTHING, horizontal_flip=True))
  image = gradient_image()
  outcomes = set()
  for seed in range(20):
    out = augmenter(image, seed)
    if np.array_equal(out, image):
      outcomes.add("same")
    else:
      np.testing.assert_array_equal(out, image[:, ::-1])
      outcomes.add("mirrored")
  assert outcomes == {"same", "mirrored"}


def test_same_seed_same_variant_and_no_transform_is_identity():
  config = pipeline_config.AugmentationConfig()
  image = gradient_image()
  augmenter = augmentation.Augmenter(config)
  np.testing.assert_array_equal(augmenter(image, 3), augmenter(image, 3))
  assert not np.array_equal(augmenter(image, 3), augmenter(image, 4))
  np.testing.assert_array_equal(augmentation.Augmenter(NOTHING)(image, 3), image)


def test_rotations_stay_inside_the_range():
  generator = augmentation._generator(dataclasses.replace(NOTHING, rotation_range=20))
  angles = [generator.get_random_transform((32, 32, 3), seed=s)["theta"] for s in range(300)]
  assert max(abs(a) for a in angles) <= 20
  assert max(angles) > 15 and min(angles) < -15


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
def test_fill_mode_fills_exposed_pixels_as_named(fill_mode):
  config = dataclasses.replace(NOTHING, width_shift_range=8.0, fill_mode=fill_mode, cval=7.0)
  augmenter = augmentation.Augmenter(config)
  image = gradient_image()
  generator = augmentation._generator(config)
  # The Augmenter draws Keras's transform with a seed derived like this; ty is the width shift.
  seed = next(s for s in range(100)
              if abs(generator.get_random_transform(image.shape, seed=int(
                  np.random.default_rng(s).integers(2**31)))["ty"]) >= 4)
  out = augmenter(image, seed)
  if fill_mode == "constant":
    assert (out == 7.0).all(axis=2).any()
  elif fill_mode == "nearest":
    assert not (out == 7.0).all(axis=2).any()
    assert set(np.unique(out[:, :, 0])) <= set(np.unique(image[:, :, 0]))
  else:
    assert not (out == 7.0).all(axis=2).any()
    nearest = augmentation.Augmenter(dataclasses.replace(config, fill_mode="nearest"))(image,
                                                                                        seed)
    assert not np.array_equal(out, nearest)


@pytest.fixture(scope="module")
def examples_uri(tmp_path_factory):
  examples, _ = ingest_tiny_folder(tmp_path_factory.mktemp("aug"), ("a", "b"), 10)
  return examples


def augment(examples, out, config):
  target = standard_artifacts.Examples()
  target.uri = str(out)
  augmentation_executor.Executor().Do(
      {augmentation_executor.EXAMPLES_KEY: [examples]},
      {augmentation_executor.AUGMENTED_KEY: [target]},
      {augmentation_executor.AUGMENTATION_CONFIG_KEY: pipeline_config.to_json(config),
       augmentation_executor.AUGMENTER_KEY: "trainer.image.augmentation"})
  return target


def files_bytes(uri, split):
  out = {}
  for path in sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*"))):
    with open(path, "rb") as f:
      out[os.path.basename(path)] = f.read()
  return out


def test_offline_writes_k_variants_and_leaves_eval_byte_identical(examples_uri, tmp_path):
  config = pipeline_config.AugmentationConfig(mode="offline", variants=3)
  target = augment(examples_uri, tmp_path / "aug", config)
  for split in ("validation", "eval"):
    assert files_bytes(target.uri, split) == files_bytes(examples_uri.uri, split)
  train_in = read_examples(examples_uri.uri, "train")
  train_out = read_examples(target.uri, "train")
  assert len(train_out) == 3 * len(train_in)
  assert sorted(r["variant"] for r in train_out) == sorted([1, 2, 3] * len(train_in))
  assert {r["sha256"] for r in train_out} == {r["sha256"] for r in train_in}
  with Image.open(os.path.join(target.uri, augmentation_executor.PREVIEW_FILE)) as preview:
    assert preview.format == "PNG"
    assert np.asarray(preview.convert("L"), dtype=float).std() > 5
  assert target.get_int_custom_property("variants") == 3


def test_online_and_off_pass_train_through(examples_uri, tmp_path):
  config = pipeline_config.AugmentationConfig(mode="online")
  target = augment(examples_uri, tmp_path / "aug", config)
  assert files_bytes(target.uri, "train") == files_bytes(examples_uri.uri, "train")
  assert files_bytes(target.uri, "eval") == files_bytes(examples_uri.uri, "eval")
  assert os.path.isfile(os.path.join(target.uri, augmentation_executor.PREVIEW_FILE))
