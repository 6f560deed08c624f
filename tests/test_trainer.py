"""Trainer: the two-phase recipe, weights loading, and the exported serving signatures."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import pipeline_config
from components.image_example_gen import executor
from tests.example_gen_helpers import ingest_tiny_folder
from schemas import backbones
from trainer.image import image_decoding, image_trainer, model as model_lib, weights


def weighted_trainable(layers):
  return {l.name for l in layers if l.trainable and l.weights}


def test_vgg16_phase1_trains_only_the_head_and_phase2_exactly_block5():
  vgg = backbones.get_backbone("vgg16")
  model, base = model_lib.build_classifier(vgg, 3, 32, None, dense_units=16, dropout=0.2)
  head_weights = {w.name for w in model.get_layer("head").weights}
  assert len(head_weights) == 4   # two Dense layers: kernels and biases
  assert {w.name for w in model.trainable_weights} == head_weights
  assert not base.trainable

  model_lib.unfreeze_top_blocks(base, vgg, 1)
  assert weighted_trainable(base.layers) == {"block5_conv1", "block5_conv2", "block5_conv3"}
  assert all(not base.get_layer(f"block4_conv{i}").trainable for i in (1, 2, 3))
  base_trainable = {id(w) for w in base.trainable_weights}
  assert len(base_trainable) == 6   # three kernels, three biases

  model_lib.unfreeze_top_blocks(base, vgg, 2)
  assert weighted_trainable(base.layers) == {f"block{b}_conv{i}" for b in (4, 5)
                                              for i in (1, 2, 3)}


def test_xception_phase2_unfreezes_block13_and_block14_keeping_batchnorm_frozen():
  xception = backbones.get_backbone("xception")
  model, base = model_lib.build_classifier(xception, 2, 71, None, 8, 0.0)
  assert {w.name.split("/")[0] for w in model.trainable_weights} <= {"head_dense",
                                                                     "probabilities"}
  model_lib.unfreeze_top_blocks(base, xception, xception.default_fine_tune_blocks)
  trainable = weighted_trainable(base.layers)
  named_top = {l.name for l in base.layers if l.weights
               and l.name.split("_")[0] in ("block13", "block14")
               and not isinstance(l, keras.layers.BatchNormalization)}
  assert named_top and named_top <= trainable
  # Besides the named layers, only block13's residual shortcut conv (unnamed in Keras).
  extra = trainable - named_top
  assert len(extra) == 1
  assert isinstance(base.get_layer(extra.pop()), keras.layers.Conv2D)
  assert not any(n.startswith("block12_") for n in trainable)
  assert not any(isinstance(l, keras.layers.BatchNormalization) and l.trainable
                 for l in base.layers)


def test_unfreeze_rejects_more_blocks_than_the_backbone_has():
  vgg = backbones.get_backbone("vgg16")
  _, base = model_lib.build_classifier(vgg, 2, 32, None, 8, 0.0)
  with pytest.raises(ValueError, match="fine_tune_blocks=6"):
    model_lib.unfreeze_top_blocks(base, vgg, 6)


def test_weights_file_is_loaded_into_the_base(tmp_path):
  keras.utils.set_random_seed(7)
  source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
  path = str(tmp_path / "my_vgg16_notop.h5")
  source.save_weights(path)
  vgg = backbones.get_backbone("vgg16")

  keras.utils.set_random_seed(8)
  _, base = model_lib.build_classifier(
      vgg, 2, 32, weights.resolve_weights(vgg, path), dense_units=8, dropout=0.0)
  saved = source.get_weights()
  loaded = base.get_weights()
  assert len(saved) == len(loaded) == 26
  for a, b in zip(saved, loaded):
    np.testing.assert_array_equal(a, b)

  keras.utils.set_random_seed(8)
  _, random_base = model_lib.build_classifier(vgg, 2, 32, None, 8, 0.0)
  assert not np.array_equal(random_base.get_weights()[0], saved[0])


def test_weights_path_on_a_tf_filesystem_is_copied_locally(tmp_path):
  source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
  local = str(tmp_path / "w.h5")
  source.save_weights(local)
  remote = "ram://weights/vgg16_notop.h5"
  tf.io.gfile.makedirs("ram://weights")
  tf.io.gfile.copy(local, remote, overwrite=True)
  resolved = weights.resolve_weights(backbones.get_backbone("vgg16"), remote)
  assert os.path.isfile(resolved)
  with open(resolved, "rb") as a, open(local, "rb") as b:
    assert a.read() == b.read()


def test_missing_imagenet_weights_name_the_file_and_never_fall_back(tmp_path):
  vgg = backbones.get_backbone("vgg16")
  cache = str(tmp_path / "keras_home")
  with pytest.raises(pipeline_config.ToolkitError) as error:
    weights.resolve_weights(vgg, "imagenet", cache_dir=cache)
  message = str(error.value)
  assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
  assert os.path.join(cache, "models") in message


def test_missing_weights_file_is_a_toolkit_error(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="does not exist"):
    weights.resolve_weights(backbones.get_backbone("xception"), str(tmp_path / "nope.h5"))
  assert weights.resolve_weights(backbones.get_backbone("vgg16"), "none") is None


@pytest.fixture(scope="module")
def tiny_examples(tmp_path_factory):
  examples, root = ingest_tiny_folder(tmp_path_factory.mktemp("tiny"), ("circle", "square"), 12)
  return examples.uri, root


def test_fine_tuning_recompiles_with_the_configured_learning_rate(tiny_examples, tmp_path):
  uri, _ = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="vgg16", weights="none", image_size=32, batch_size=8, head_epochs=1,
      fine_tune_epochs=1, fine_tune_learning_rate=3e-5, dense_units=8)
  model = image_trainer.train(
      config, [os.path.join(uri, "Split-train", "*")], [os.path.join(uri, "Split-eval", "*")],
      executor.read_label_names(uri), str(tmp_path / "serving"), str(tmp_path / "run"))
  assert isinstance(model.optimizer, keras.optimizers.RMSprop)
  assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(3e-5)
  base = model.get_layer("vgg16")
  assert weighted_trainable(base.layers) == {"block5_conv1", "block5_conv2", "block5_conv3"}
  assert os.path.isfile(tmp_path / "run" / "history.json")


def test_exported_model_classifies_raw_image_bytes(tiny_examples, tmp_path):
  uri, root = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="small_convnet", weights="none", image_size=24, batch_size=8, head_epochs=2,
      dense_units=8)
  export_dir = str(tmp_path / "serving")
  image_trainer.train(config, [os.path.join(uri, "Split-train", "*")],
                      [os.path.join(uri, "Split-eval", "*")],
                      executor.read_label_names(uri), export_dir, str(tmp_path / "run"))
  loaded = tf.saved_model.load(export_dir)
  files = [os.path.join(root, "circle", "000.png"), os.path.join(root, "square", "001.png")]
  images = tf.constant([open(f, "rb").read() for f in files])
  out = loaded.signatures["serving_default"](images=images)
  assert out["probabilities"].shape == (2, 2)
  np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
  assert set(out["label"].numpy().tolist()) <= {b"circle", b"square"}

  example = tf.train.Example(features=tf.train.Features(feature={
      "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[images[0].numpy()]))}))
  via_examples = loaded.signatures["serving_examples"](
      examples=tf.constant([example.SerializeToString()]))
  np.testing.assert_allclose(via_examples["probabilities"].numpy()[0],
                             out["probabilities"].numpy()[0], rtol=1e-5)


def test_trainer_config_rejects_what_a_backbone_cannot_take():
  with pytest.raises(pipeline_config.ToolkitError, match="image_size >= 71"):
    pipeline_config.TrainerConfig(backbone="xception", image_size=64).validate()
  with pytest.raises(pipeline_config.ToolkitError, match="Unknown backbone"):
    pipeline_config.TrainerConfig(backbone="resnet").validate()


def test_class_weights_follow_label_counts():
  from trainer.common.hygiene import class_weights  # pylint: disable=import-outside-toplevel
  assert class_weights(np.array([50, 50]), "auto") is None
  weights_by_class = class_weights(np.array([90, 10]), "auto")
  assert weights_by_class == pytest.approx({0: 100 / 180, 1: 100 / 20})
  assert class_weights(np.array([90, 10]), "none") is None
  assert class_weights(np.array([50, 50]), "balanced") == pytest.approx({0: 1.0, 1: 1.0})


def test_training_writes_tensorboard_logs_checkpoints_and_reports(tiny_examples, tmp_path):
  uri, _ = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="small_convnet", weights="none", image_size=24, batch_size=8, head_epochs=2,
      dense_units=8)
  run_dir = tmp_path / "run"
  image_trainer.train(config, [os.path.join(uri, "Split-train", "*")],
                      [os.path.join(uri, "Split-eval", "*")],
                      executor.read_label_names(uri), str(tmp_path / "serving"), str(run_dir))
  events = list((run_dir / "logs" / "head").rglob("events.out.tfevents.*"))
  assert events
  assert (run_dir / "checkpoints" / "head_best.h5").is_file()
  names = sorted(p.name for p in (run_dir / "reports").iterdir())
  assert names == ["confusion_matrix.png", "grad_cam.png", "model.png", "training_curves.png"]
  for name in names:
    from PIL import Image  # pylint: disable=import-outside-toplevel
    with Image.open(run_dir / "reports" / name) as image:
      assert image.format == "PNG"
      pixels = np.asarray(image.convert("L"), dtype=float)
      assert pixels.std() > 5, f"{name} looks blank"


def test_feature_cache_hits_on_rerun_and_never_reuses_stale_features(tiny_examples, tmp_path):
  from trainer.image import feature_cache  # pylint: disable=import-outside-toplevel
  uri, _ = tiny_examples
  files = [os.path.join(uri, "Split-*", "*")]
  vgg = backbones.get_backbone("vgg16")
  cache_root = str(tmp_path / "cache")

  def extract(image_size, seed, background=image_decoding.DEFAULT_BACKGROUND):
    keras.utils.set_random_seed(seed)
    model, base = model_lib.build_classifier(vgg, 2, image_size, None, 8, 0.0)
    cache = feature_cache.FeatureCache(
        cache_root, "vgg16", image_size, feature_cache.weights_fingerprint(base),
        decoding_fingerprint=feature_cache.decoding_fingerprint(background))
    extractor = model_lib.feature_extractor(model)
    features, labels = feature_cache.extract_from_files(extractor, cache, files, image_size, 8,
                                                        background)
    return cache.stats(), features, labels, extractor

  cold, features, labels, extractor = extract(32, seed=1)
  assert (cold["hits"], cold["misses"]) == (0, 24) and features.shape == (24, 512)
  warm, cached, cached_labels, _ = extract(32, seed=1)
  assert (warm["hits"], warm["misses"]) == (24, 0)
  np.testing.assert_array_equal(cached, features)
  np.testing.assert_array_equal(cached_labels, labels)
  # The cached features are exactly what the frozen base computes inside the model.
  from trainer.image import data as data_lib  # pylint: disable=import-outside-toplevel
  batch = next(iter(data_lib.record_batches(files, 4)))
  direct = extractor(data_lib.decode_images(batch["image"], 32), training=False).numpy()
  np.testing.assert_allclose(direct, features[:4], rtol=1e-5, atol=1e-5)

  other_size, _, _, _ = extract(40, seed=1)
  assert (other_size["hits"], other_size["misses"]) == (0, 24)
  other_weights, _, _, _ = extract(32, seed=2)
  assert (other_weights["hits"], other_weights["misses"]) == (0, 24)
  # Another background changes the pixels of every transparent file: no stale features.
  other_background, _, _, _ = extract(32, seed=1, background=(0, 0, 0))
  assert (other_background["hits"], other_background["misses"]) == (0, 24)
  assert len({cold["namespace"], other_size["namespace"], other_weights["namespace"],
              other_background["namespace"]}) == 4


def test_phase1_trains_the_head_on_cached_features(tiny_examples, tmp_path):
  uri, _ = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="vgg16", weights="none", image_size=32, batch_size=8, head_epochs=2,
      fine_tune_epochs=0, dense_units=8, feature_cache_dir=str(tmp_path / "cache"))
  args = ([os.path.join(uri, "Split-train", "*")],
          [os.path.join(uri, f"Split-{split}", "*") for split in ("validation", "eval")],
          executor.read_label_names(uri))
  image_trainer.train(config, *args, str(tmp_path / "s1"), str(tmp_path / "r1"))
  image_trainer.train(config, *args, str(tmp_path / "s2"), str(tmp_path / "r2"))
  import json  # pylint: disable=import-outside-toplevel
  with open(tmp_path / "r1" / image_trainer.FEATURE_CACHE_STATS) as f:
    first = json.load(f)
  with open(tmp_path / "r2" / image_trainer.FEATURE_CACHE_STATS) as f:
    second = json.load(f)
  assert first["hits"] == 0 and first["misses"] == 24
  assert second["hits"] == 24 and second["misses"] == 0
  loaded = tf.saved_model.load(str(tmp_path / "s2"))
  assert "serving_default" in loaded.signatures


def test_feature_cache_keys_variants_by_augmentation_parameters(tmp_path):
  from trainer.image import feature_cache  # pylint: disable=import-outside-toplevel
  mild = pipeline_config.AugmentationConfig(rotation_range=5)
  strong = pipeline_config.AugmentationConfig(rotation_range=40)
  more_variants = pipeline_config.AugmentationConfig(rotation_range=5, variants=5)
  assert feature_cache.config_fingerprint(mild) != feature_cache.config_fingerprint(strong)
  assert (feature_cache.config_fingerprint(mild)
          == feature_cache.config_fingerprint(more_variants))
  root, value = str(tmp_path), np.arange(4, dtype=np.float32)
  decoding = feature_cache.decoding_fingerprint(image_decoding.DEFAULT_BACKGROUND)
  first = feature_cache.FeatureCache(root, "vgg16", 32, "w" * 64,
                                     feature_cache.config_fingerprint(mild),
                                     decoding_fingerprint=decoding)
  first.put("ab" * 32, 0, value)
  first.put("ab" * 32, 1, value)
  second = feature_cache.FeatureCache(root, "vgg16", 32, "w" * 64,
                                      feature_cache.config_fingerprint(strong),
                                      decoding_fingerprint=decoding)
  np.testing.assert_array_equal(second.get("ab" * 32, 0), value)   # the original image
  assert second.get("ab" * 32, 1) is None                          # a different variant
  assert (second.hits, second.misses) == (1, 1)


def test_reports_keep_only_a_sample_of_eval_images(tiny_examples):
  from trainer.image import data as data_lib, image_reports as reports  # pylint: disable=import-outside-toplevel
  uri, _ = tiny_examples
  model, _ = model_lib.build_classifier(backbones.get_backbone("small_convnet"), 2, 24, None,
                                        8, 0.0)
  dataset = data_lib.make_dataset([os.path.join(uri, "Split-*", "*")], 24, 5, False, 0)
  images, labels, probabilities = reports.predict(model, dataset, keep_images=7)
  assert images.shape == (7, 24, 24, 3)
  assert len(labels) == len(probabilities) == 24


NEW_BACKBONES = ("mobilenet", "mobilenet_v2", "efficientnet_b0", "resnet50", "inception_v3")


@pytest.mark.parametrize("name", sorted(set(backbones.BACKBONES) - {"small_convnet"}))
def test_every_block_of_the_table_places_layers_in_order_and_phase2_unfreezes_only_the_top(
    name):
  backbone = backbones.get_backbone(name)
  model, base = model_lib.build_classifier(backbone, 3, backbone.min_size, None, 8, 0.0)
  placed = [backbone.block_of(l.name) for l in base.layers]
  order = [b for i, b in enumerate(placed) if b and b not in placed[:i]]
  assert order == list(backbone.blocks)
  assert {w.name.split("/")[0] for w in model.trainable_weights} <= {"head_dense",
                                                                     "probabilities"}
  blocks = backbone.default_fine_tune_blocks
  model_lib.unfreeze_top_blocks(base, backbone, blocks)
  top = set(backbone.blocks[-blocks:])
  lower = set(backbone.blocks[:-blocks])
  trainable = [l for l in base.layers if l.trainable and l.weights]
  assert trainable
  assert not any(backbone.block_of(l.name) in lower for l in trainable)
  last_lower = max(i for i, l in enumerate(base.layers) if backbone.block_of(l.name) in lower)
  above = [l for l in base.layers[last_lower + 1:]
           if l.weights and not isinstance(l, keras.layers.BatchNormalization)]
  assert above and all(l.trainable for l in above)
  assert any(backbone.block_of(l.name) in top for l in base.layers[last_lower + 1:])
  assert not any(isinstance(l, keras.layers.BatchNormalization) and l.trainable
                 for l in base.layers)
  first_trainable = min(i for i, l in enumerate(base.layers) if l.trainable and l.weights)
  assert all(not l.trainable for l in base.layers[:first_trainable] if l.weights)


def test_the_config_reads_minimum_sizes_and_block_counts_from_the_backbone_table():
  for name, backbone in backbones.BACKBONES.items():
    pipeline_config.TrainerConfig(backbone=name, image_size=backbone.min_size,
                                  weights="none").validate()
    with pytest.raises(pipeline_config.ToolkitError, match=f"image_size >= {backbone.min_size}"):
      pipeline_config.TrainerConfig(backbone=name, image_size=backbone.min_size - 1).validate()
    with pytest.raises(pipeline_config.ToolkitError, match="conv blocks to fine-tune"):
      pipeline_config.TrainerConfig(backbone=name, image_size=backbone.min_size,
                                    fine_tune_blocks=len(backbone.blocks) + 1).validate()


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW_BACKBONES)
def test_every_new_backbone_trains_both_phases_and_serves_raw_bytes(name, tiny_examples,
                                                                    tmp_path):
  uri, root = tiny_examples
  backbone = backbones.get_backbone(name)
  config = pipeline_config.TrainerConfig(
      backbone=name, weights="none", image_size=backbone.min_size, batch_size=8,
      head_epochs=1, fine_tune_epochs=1, dense_units=8, feature_cache_dir="")
  export_dir = str(tmp_path / "serving")
  model = image_trainer.train(
      config, [os.path.join(uri, "Split-train", "*")], [os.path.join(uri, "Split-eval", "*")],
      executor.read_label_names(uri), export_dir, str(tmp_path / "run"))
  history = __import__("json").load(open(tmp_path / "run" / "history.json"))
  assert set(history) >= {"head", "fine_tune"}
  assert isinstance(model.optimizer, keras.optimizers.RMSprop)
  loaded = tf.saved_model.load(export_dir)
  png = open(os.path.join(root, "circle", "000.png"), "rb").read()
  served = loaded.signatures["serving_default"](images=tf.constant([png]))
  pixels = image_trainer.data.decode_images(tf.constant([png]), backbone.min_size)
  np.testing.assert_allclose(served["probabilities"].numpy(),
                             model(pixels, training=False).numpy(), atol=1e-5)


def test_efficientnet_imagenet_weights_fold_keras_extra_scaling_into_normalization(tmp_path):
  """Keras adds x / IMAGENET_STDDEV_RGB after EfficientNet's Normalization only when asked
  for weights="imagenet"; the toolkit loads the same file by path, so it folds that scaling
  into the layer's variance: the base computes what Keras's own ImageNet model computes."""
  keras.utils.set_random_seed(3)
  source = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                             input_shape=(32, 32, 3))
  normalization = next(l for l in source.layers if isinstance(l, keras.layers.Normalization))
  normalization.adapt_mean.assign(tf.reshape([0.485, 0.456, 0.406], normalization.adapt_mean.shape))
  normalization.adapt_variance.assign(
      tf.reshape([0.229 ** 2, 0.224 ** 2, 0.225 ** 2], normalization.adapt_variance.shape))
  normalization.finalize_state()
  path = str(tmp_path / "efficientnetb0_notop.h5")
  source.save_weights(path)
  base = model_lib.build_base(backbones.get_backbone("efficientnet_b0"), 32, path,
                              imagenet=True)
  pixels = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=1)
  rescaled = source.get_layer(normalization.name).output
  inner = keras.Model(source.input, rescaled)
  loaded = next(l for l in base.layers if isinstance(l, keras.layers.Normalization))
  expected = inner(pixels) / tf.constant([0.229, 0.224, 0.225])
  np.testing.assert_allclose(keras.Model(base.input, loaded.output)(pixels).numpy(),
                             expected.numpy(), rtol=1e-4, atol=1e-4)

def test_phase2_that_makes_the_model_worse_is_undone_and_both_phases_are_recorded(
    tiny_examples, tmp_path):
  """A fine-tuning rate of 0.5 wrecks the base; the phase 1 model is what gets exported."""
  import json  # pylint: disable=import-outside-toplevel
  uri, _ = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="vgg16", weights="none", image_size=32, batch_size=8, head_epochs=3,
      fine_tune_epochs=2, fine_tune_learning_rate=0.5, dense_units=8, feature_cache_dir="")
  validation = [os.path.join(uri, "Split-eval", "*")]
  model = image_trainer.train(
      config, [os.path.join(uri, "Split-train", "*")], validation,
      executor.read_label_names(uri), str(tmp_path / "serving"), str(tmp_path / "run"))
  with open(tmp_path / "run" / image_trainer.PHASES_FILE) as f:
    phases = json.load(f)
  assert set(phases) == {"head", "fine_tune", "kept"}
  assert phases["fine_tune"]["val_loss"] > phases["head"]["val_loss"]
  assert phases["kept"] == "head"
  found = model.evaluate(image_trainer.data.make_dataset(validation, 32, 8, False, 0),
                         verbose=0, return_dict=True)
  assert found["loss"] == pytest.approx(phases["head"]["val_loss"], rel=1e-4)


def test_phase2_is_kept_when_it_is_at_least_as_good():
  from trainer.common import hygiene  # pylint: disable=import-outside-toplevel
  head = {"val_accuracy": 0.8, "val_loss": 0.5}
  assert hygiene.better_or_equal({"val_accuracy": 0.85, "val_loss": 0.9}, head)
  assert hygiene.better_or_equal({"val_accuracy": 0.8, "val_loss": 0.4}, head)
  assert not hygiene.better_or_equal({"val_accuracy": 0.8, "val_loss": 0.6}, head)
  assert not hygiene.better_or_equal({"val_accuracy": 0.75, "val_loss": 0.1}, head)


def test_callbacks_wait_in_proportion_to_the_epochs_asked():
  """Small data: 40 epochs asked once stopped at epoch 6 and restored epoch 1 (chance)."""
  from trainer.common import hygiene  # pylint: disable=import-outside-toplevel
  config = pipeline_config.TrainerConfig()
  when = hygiene.patience_for(config, 40)
  assert when == {"start_from_epoch": 10, "early_stopping_patience": 8,
                  "reduce_lr_patience": 4}
  assert hygiene.patience_for(config, 5) == {
      "start_from_epoch": 1, "early_stopping_patience": 5, "reduce_lr_patience": 3}
  callbacks = hygiene.training_callbacks(config, "/tmp/unused-run", "head", 40)
  early = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
  reduce = next(c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau))
  assert (early.start_from_epoch, early.patience) == (10, 8)
  assert (reduce.start_from_epoch, reduce.patience) == (10, 4)


def test_no_callback_acts_on_noise_before_the_minimum_epochs(tmp_path):
  """A validation loss that is best at epoch 1 and worse after: before, EarlyStopping stopped
  at epoch 6 and restored epoch 1; now it judges from epoch 10 of 40 on."""
  from trainer.common import hygiene  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
  y = (x[:, 0] > 0).astype(np.int64)
  noisy = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
  model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64, activation="relu"),
                            keras.layers.Dense(2, activation="softmax")])
  hygiene.compile_classifier(model, keras.optimizers.Adam(0.05))
  # Labels the model cannot learn: the validation loss rises as it fits the train split.
  history = hygiene.fit_phase(model, pipeline_config.TrainerConfig(), str(tmp_path), "head", x,
                              (noisy, np.ones(16, np.int64)), 40, y=y, batch_size=16)
  assert len(history["loss"]) >= 10 + 8


def test_the_scratch_baseline_scores_both_models_on_the_eval_split(tiny_examples, tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  from trainer.image import image_baselines  # pylint: disable=import-outside-toplevel
  uri, _ = tiny_examples
  config = pipeline_config.TrainerConfig(
      backbone="vgg16", weights="none", image_size=32, batch_size=8, head_epochs=2,
      fine_tune_epochs=0, dense_units=8, scratch_baseline=True, scratch_epochs=2)
  split = {name: [os.path.join(uri, f"Split-{name}", "*")] for name in ("train", "eval")}
  model = image_trainer.train(config, split["train"], split["train"],
                              executor.read_label_names(uri), str(tmp_path / "serving"),
                              str(tmp_path / "run"), eval_files=split["eval"])
  with open(tmp_path / "run" / image_baselines.BASELINES_FILE) as f:
    scores = json.load(f)
  eval_data = image_trainer.data.make_dataset(split["eval"], 32, 8, False, 0)
  expected = image_baselines.eval_accuracy(model, eval_data)
  assert scores["model_eval_accuracy"] == pytest.approx(expected["accuracy"])
  assert scores["eval_examples"] == expected["examples"] > 0
  assert 0.0 <= scores["from_scratch_accuracy"] <= 1.0
  assert scores["from_scratch_epochs"] == 2
  with pytest.raises(pipeline_config.ToolkitError, match="scratch_epochs must be >= 1"):
    pipeline_config.TrainerConfig(scratch_baseline=True, scratch_epochs=0).validate()
