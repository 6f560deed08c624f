"""TFX Trainer module for image classification by transfer learning.

Use with `Trainer(run_fn="trainer.image.image_trainer.run_fn", custom_config={"image_trainer": {...},
"image_augmentation": {...}, "ingest": {...}})`, where the dicts hold the fields of
`pipeline_config.TrainerConfig`, `AugmentationConfig` and `IngestConfig` (its
`background_color` is what the serving decoder composites transparency onto). The Trainer's
eval split is `validation`: callbacks and checkpoint selection never see the `eval` split
that the Evaluator blesses on.

The recipe reads top to bottom in `train`:
  phase 1: frozen base (called with training=False), train the head; on cached features of
           the base when the feature cache is on (the base then never runs twice on an image);
  phase 2: unfreeze the top conv blocks, recompile at a low learning rate, fine-tune.
"""

import dataclasses
import json
import os
import posixpath
from typing import List, Optional, Sequence

import tensorflow as tf
from tensorflow import keras

import pipeline_config
from schemas import backbones
from trainer.image import data, export, feature_cache, image_baselines, image_decoding
from trainer.image import image_reports
from trainer.image import model as model_lib, weights
from trainer.common import warm_start
from trainer.common import distribution, examples, hygiene, reports
from schemas import contracts

FEATURE_CACHE_STATS = "feature_cache.json"
# Validation figures after each phase and which phase's model was kept.
PHASES_FILE = "phases.json"


def run_fn(fn_args) -> None:
  """TFX Trainer entry point."""
  config = pipeline_config.from_dict(
      pipeline_config.TrainerConfig, fn_args.custom_config["image_trainer"])
  augmentation = pipeline_config.from_dict(
      pipeline_config.AugmentationConfig, fn_args.custom_config.get("image_augmentation", {}))
  ingest = pipeline_config.from_dict(
      pipeline_config.IngestConfig, fn_args.custom_config.get("ingest", {}))
  if fn_args.hyperparameters:
    import keras_tuner  # pylint: disable=import-outside-toplevel
    best = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
    print(f"[Trainer] tuned hyperparameters: {best}", flush=True)
    config = apply_hyperparameters(config, best)
  uri = examples.examples_uri(fn_args.train_files)
  label_names = examples.read_label_names(uri)
  train(config, fn_args.train_files, fn_args.eval_files, label_names,
        fn_args.serving_model_dir, fn_args.model_run_dir, augmentation,
        background=ingest.background_color, base_model=fn_args.base_model,
        eval_files=[posixpath.join(uri, "Split-eval", "*")],
        limits=image_decoding.Limits.of(ingest))


def apply_hyperparameters(config: pipeline_config.TrainerConfig,
                          values: dict) -> pipeline_config.TrainerConfig:
  """The TrainerConfig with the Tuner's values in place of the configured ones."""
  fields = {"learning_rate": "head_learning_rate", "dropout": "dropout",
            "dense_units": "dense_units", "fine_tune_blocks": "fine_tune_blocks"}
  return dataclasses.replace(config, **{fields[k]: v for k, v in values.items() if k in fields})


def train(config: pipeline_config.TrainerConfig, train_files: List[str],
          validation_files: List[str], label_names: List[str], serving_model_dir: str,
          model_run_dir: str,
          augmentation: Optional[pipeline_config.AugmentationConfig] = None,
          background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND,
          base_model: Optional[str] = None,
          eval_files: Optional[List[str]] = None,
          limits: Optional[image_decoding.Limits] = None) -> keras.Model:
  """Trains the classifier in two phases and exports the serving SavedModel. With
  `base_model` (the latest blessed model's serving dir) the model starts from its weights
  and each phase runs `warm_start_epochs` of its epochs (trainer/common/warm_start.py).

  `validation_files` drive EarlyStopping, ReduceLROnPlateau and the checkpoint choice;
  `eval_files` are only scored, for the from-scratch baseline (trainer/image/image_baselines.py).
  """
  config.validate()
  # First: MultiWorkerMirroredStrategy configures collective ops before TensorFlow's eager
  # context starts (datasets, layers).
  strategy = distribution.start(config.distribution, model_run_dir)
  keras.utils.set_random_seed(config.seed)
  tf.io.gfile.makedirs(model_run_dir)
  online = augmentation if augmentation and augmentation.mode == "online" else None
  backbone = backbones.get_backbone(config.backbone)
  weights_path = (weights.resolve_weights(backbone, config.weights)
                  if backbone.transfer else None)
  train_data = data.make_dataset(train_files, config.image_size, config.batch_size,
                                 shuffle=True, seed=config.seed, augmentation=online,
                                 background=background)
  validation_data = data.make_dataset(validation_files, config.image_size, config.batch_size,
                                      shuffle=False, seed=config.seed, background=background)

  # Built, compiled and fitted under the configured tf.distribute strategy (the feature
  # cache's extraction too); exported after it.
  with strategy.scope():
    model, base = model_lib.build_classifier(
        backbone, len(label_names), config.image_size, weights_path,
        config.dense_units, config.dropout, imagenet=config.weights == "imagenet")
    warm = warm_start.load(model, label_names, base_model, lambda n: model_lib.build_classifier(
        backbone, n, config.image_size, None, config.dense_units, config.dropout)[0],
        model_run_dir)
    if warm:
      share = config.warm_start_epochs
      config = dataclasses.replace(
          config, head_epochs=warm_start.fewer_epochs(config.head_epochs, share),
          fine_tune_epochs=warm_start.fewer_epochs(config.fine_tune_epochs, share))
    counts = data.label_counts(train_files, len(label_names))
    class_weight = hygiene.class_weights(counts, config.class_weights)
    print(f"[Trainer] {counts.sum()} training images per class {counts.tolist()}; class "
          f"weights {'off' if class_weight is None else 'on'}", flush=True)

    def fit(trainee, phase, x, validation, epochs, **kwargs):
      return hygiene.fit_phase(trainee, config, model_run_dir, phase, x, validation, epochs,
                               class_weight, **kwargs)

    print(f"[Trainer] phase 1: {backbone.name} base "
          f"{'frozen' if backbone.transfer else 'trained from scratch'}, up to "
          f"{config.head_epochs} epochs at learning rate {config.head_learning_rate}", flush=True)
    if backbone.transfer and config.feature_cache_dir and not online:
      cache = feature_cache.FeatureCache(
          config.feature_cache_dir, backbone.name, config.image_size,
          feature_cache.weights_fingerprint(base),
          feature_cache.config_fingerprint(augmentation) if augmentation else "",
          decoding_fingerprint=feature_cache.decoding_fingerprint(background))
      extractor = model_lib.feature_extractor(model)
      train_x, train_y = feature_cache.extract_from_files(
          extractor, cache, train_files, config.image_size, config.batch_size, background)
      validation_x, validation_y = feature_cache.extract_from_files(
          extractor, cache, validation_files, config.image_size, config.batch_size, background)
      stats = cache.stats()
      print(f"[Trainer] feature cache: {stats['hits']} hits, {stats['misses']} misses "
            f"({stats['namespace']})", flush=True)
      with tf.io.gfile.GFile(os.path.join(model_run_dir, FEATURE_CACHE_STATS), "w") as f:
        json.dump(stats, f, indent=1)
      head = model.get_layer(model_lib.HEAD)
      compile_model(head, keras.optimizers.Adam(config.head_learning_rate))
      history = {"head": fit(head, "head", train_x, (validation_x, validation_y),
                             config.head_epochs,
                             y=train_y, batch_size=config.batch_size, shuffle=True)}
    else:
      compile_model(model, keras.optimizers.Adam(config.head_learning_rate))
      history = {"head": fit(model, "head", train_data, validation_data, config.head_epochs)}

    blocks = fine_tune_block_count(config, backbone)
    phases = {}
    if blocks and config.fine_tune_epochs:
      # Fine-tuning can wreck what phase 1 learnt (BatchNorm backbones on small data are
      # the usual case): the phase 1 model is measured and kept unless phase 2 is at least
      # as good on the validation split.
      compile_model(model, keras.optimizers.Adam(config.head_learning_rate))
      phases["head"] = hygiene.evaluate_phase(model, validation_data, config)
      after_head = model.get_weights()
      model_lib.unfreeze_top_blocks(base, backbone, blocks)
      print(f"[Trainer] phase 2: fine-tuning {model_lib.top_block_names(backbone, blocks)}, "
            f"up to {config.fine_tune_epochs} epochs at learning rate "
            f"{config.fine_tune_learning_rate}", flush=True)
      compile_model(model, keras.optimizers.RMSprop(config.fine_tune_learning_rate))
      history["fine_tune"] = fit(model, "fine_tune", train_data, validation_data,
                                 config.fine_tune_epochs)
      phases["fine_tune"] = hygiene.evaluate_phase(model, validation_data, config)
      phases["kept"] = ("fine_tune" if hygiene.better_or_equal(phases["fine_tune"],
                                                               phases["head"]) else "head")
      if phases["kept"] == "head":
        model.set_weights(after_head)
      before, tuned = phases["head"], phases["fine_tune"]
      print(f"[Trainer] validation accuracy / loss after phase 1 {before['val_accuracy']:.4f} / "
            f"{before['val_loss']:.4f}, after phase 2 {tuned['val_accuracy']:.4f} / "
            f"{tuned['val_loss']:.4f}: kept the model of "
            f"{'phase 2' if phases['kept'] == 'fine_tune' else 'phase 1 (fine-tuning made it worse)'}",
            flush=True)

    evaluated = (image_baselines.model_eval_accuracy(config, model, eval_files, background)
                 if eval_files else None)
    if config.scratch_baseline and eval_files:
      image_baselines.write_scratch_baseline(
          config, model, train_files, validation_files, eval_files, len(label_names),
          background, model_run_dir, class_weight, evaluated)

  if phases:
    with tf.io.gfile.GFile(os.path.join(model_run_dir, PHASES_FILE), "w") as f:
      json.dump(phases, f, indent=1)

  with tf.io.gfile.GFile(os.path.join(model_run_dir, "history.json"), "w") as f:
    json.dump(history, f, indent=1, default=float)
  write_reports(model, base.name, history, validation_data, label_names, model_run_dir)
  export.export_serving_model(model, label_names, config.image_size, serving_model_dir,
                              background, limits)
  # After the export: the weights go into the exported model's assets.extra/ folder.
  warm_start.save(model, label_names, serving_model_dir)
  if evaluated:
    contracts.write_eval_figures(serving_model_dir, evaluated["accuracy"], evaluated["examples"])
  return model


def write_reports(model: keras.Model, feature_layer: str, history: dict,
                  validation_data, label_names: List[str], model_run_dir: str) -> dict:
  """Training curves, then the confusion matrix and Grad-CAM overlays on the validation
  split, and the model plot (PNG files)."""
  folder = reports.reports_dir(model_run_dir)
  images, labels, probabilities = image_reports.predict(model, validation_data)
  written = {
      **reports.classifier_reports(model, history, labels, probabilities, label_names, folder),
      "grad_cam": image_reports.grad_cam(model, feature_layer, images, labels, probabilities,
                                         label_names, os.path.join(folder, "grad_cam.png")),
  }
  print(f"[Trainer] reports written to {folder}", flush=True)
  return written


def fine_tune_block_count(config: pipeline_config.TrainerConfig,
                          backbone: backbones.Backbone) -> int:
  if not backbone.transfer:
    return 0
  if config.fine_tune_blocks is None:
    return backbone.default_fine_tune_blocks
  return config.fine_tune_blocks


compile_model = hygiene.compile_classifier
