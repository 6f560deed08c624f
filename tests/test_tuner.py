"""Hyperparameter search: the Tuner module's search and how its result reaches the Trainer."""

import dataclasses
import os

import keras_tuner
from tfx.components.trainer.fn_args_utils import FnArgs

import pipeline_config
from pipeline import factory
from tests.example_gen_helpers import ingest_tiny_folder
from trainer.image import image_tuner


def test_tuner_searches_the_configured_space(tmp_path):
  examples, _ = ingest_tiny_folder(tmp_path, ("a", "b"), 10)
  trainer = pipeline_config.TrainerConfig(backbone="vgg16", weights="none", image_size=32,
                                          batch_size=8)
  tuning = pipeline_config.TuningConfig(enabled=True, max_trials=2, epochs_per_trial=1,
                                        learning_rates=(1e-3, 1e-4), dropouts=(0.2,),
                                        dense_units=(8, 16), max_fine_tune_blocks=1)
  fn_args = FnArgs(
      train_files=[os.path.join(examples.uri, "Split-train", "*")],
      eval_files=[os.path.join(examples.uri, "Split-eval", "*")],
      working_dir=str(tmp_path / "tuning"),
      custom_config={"image_trainer": dataclasses.asdict(trainer),
                     "image_tuning": dataclasses.asdict(tuning)})
  result = image_tuner.tuner_fn(fn_args)
  result.tuner.search(**result.fit_kwargs)
  best = result.tuner.get_best_hyperparameters()[0]
  assert set(best.values) == {"dense_units", "dropout", "learning_rate", "fine_tune_blocks"}
  assert best.values["learning_rate"] in (1e-3, 1e-4)
  assert best.values["dense_units"] in (8, 16)
  assert best.values["fine_tune_blocks"] in (0, 1)
  assert len(result.tuner.oracle.trials) == 2

  # What the Trainer receives (fn_args.hyperparameters) becomes its config.
  received = keras_tuner.HyperParameters.from_config(best.get_config()).values
  tuned = image_tuner.apply_hyperparameters(trainer, received)
  assert tuned.head_learning_rate == best.values["learning_rate"]
  assert tuned.dense_units == best.values["dense_units"]
  assert tuned.fine_tune_blocks == best.values["fine_tune_blocks"]
  assert tuned.fine_tune_learning_rate == trainer.fine_tune_learning_rate


def test_tuning_is_off_by_default_and_feeds_the_trainer_when_on(tmp_path):
  config = pipeline_config.PipelineConfig(data_root=str(tmp_path), work_dir=str(tmp_path))
  ids = [c.id for c in factory.create_pipeline(config).components]
  assert "Tuner" not in ids
  config.tuning.enabled = True
  components = {c.id: c for c in factory.create_pipeline(config).components}
  assert ids.index("Trainer") == list(components).index("Trainer") - 1
  assert "hyperparameters" in components["Trainer"].inputs
  assert components["Trainer"].inputs["hyperparameters"].producer_component_id == "Tuner"
