"""TFX Tuner module: Keras Tuner random search over the transfer-learning recipe.

Use with `Tuner(tuner_fn="trainer.image.image_tuner.tuner_fn", custom_config={"image_trainer": {...},
"image_tuning": {...}})`; the Trainer receives the best values as `fn_args.hyperparameters` and
`apply_hyperparameters` folds them into its TrainerConfig.

Searched: the head's learning rate, dropout, dense units and, for VGG16/Xception, the number
of top conv blocks unfrozen. A trial trains the head with those blocks already unfrozen
(BatchNorm stays frozen), a short proxy for the two-phase run the Trainer then does.
"""


import keras_tuner
from tensorflow import keras
from tfx import v1 as tfx

import pipeline_config
from trainer.common.examples import examples_uri, read_label_names
from schemas import backbones
from trainer.image import data, model as model_lib, weights
from trainer.image import image_trainer
from trainer.image.image_trainer import compile_model


class _RandomSearch(keras_tuner.engine.base_tuner.BaseTuner):
  """Random search over tf_keras models.

  keras-tuner's Tuner classes accept only Keras 3 models once TensorFlow is 2.16 or newer,
  even with TF_USE_LEGACY_KERAS=1 (keras-team/keras-tuner#1039), so trials run here.
  """

  def __init__(self, build, **kwargs):
    super().__init__(**kwargs)
    self._build = build

  def run_trial(self, trial, x, validation_data, epochs, verbose=2):
    model = self._build(trial.hyperparameters)
    history = model.fit(x, validation_data=validation_data, epochs=epochs, verbose=verbose)
    return {"val_accuracy": max(history.history["val_accuracy"])}


# The tuned values replace the configured ones in the Trainer (image_trainer.py owns the
# mapping; the tuner imports the trainer, never the other way round).
apply_hyperparameters = image_trainer.apply_hyperparameters


def tuner_fn(fn_args) -> tfx.components.TunerFnResult:
  """TFX Tuner entry point."""
  config = pipeline_config.from_dict(
      pipeline_config.TrainerConfig, fn_args.custom_config["image_trainer"])
  tuning = pipeline_config.from_dict(
      pipeline_config.TuningConfig, fn_args.custom_config["image_tuning"])
  background = pipeline_config.from_dict(
      pipeline_config.IngestConfig, fn_args.custom_config.get("ingest", {})).background_color
  label_names = read_label_names(examples_uri(fn_args.train_files))
  backbone = backbones.get_backbone(config.backbone)
  weights_path = (weights.resolve_weights(backbone, config.weights)
                  if backbone.transfer else None)

  def build(hp: keras_tuner.HyperParameters) -> keras.Model:
    model, base = model_lib.build_classifier(
        backbone, len(label_names), config.image_size, weights_path,
        hp.Choice("dense_units", list(tuning.dense_units)),
        hp.Choice("dropout", list(tuning.dropouts)), imagenet=config.weights == "imagenet")
    if backbone.transfer:
      blocks = hp.Int("fine_tune_blocks", 0,
                      min(tuning.max_fine_tune_blocks, len(backbone.blocks)))
      model_lib.unfreeze_top_blocks(base, backbone, blocks)
    compile_model(model, keras.optimizers.Adam(
        hp.Choice("learning_rate", list(tuning.learning_rates))))
    return model

  tuner = _RandomSearch(
      build, oracle=keras_tuner.oracles.RandomSearchOracle(
          objective=keras_tuner.Objective("val_accuracy", "max"),
          max_trials=tuning.max_trials, seed=config.seed),
      directory=fn_args.working_dir, project_name="image_tuning", overwrite=True)
  return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={
      "x": data.make_dataset(fn_args.train_files, config.image_size, config.batch_size,
                             shuffle=True, seed=config.seed, background=background),
      # fn_args.eval_files is the validation split (the pipeline's EvalArgs).
      "validation_data": data.make_dataset(fn_args.eval_files, config.image_size,
                                           config.batch_size, shuffle=False, seed=config.seed,
                                           background=background),
      "epochs": tuning.epochs_per_trial,
      "verbose": 2,
  })
