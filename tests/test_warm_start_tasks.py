"""Warm starts for text and time series (issue 22): a blessed model's weights carried into a
new window's model, so that before any training the warm-started model answers as the blessed
one did, on the same raw input."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import pipeline_config
from trainer.common import warm_start
from trainer.text import models as text_models, text_trainer, vectorization
from trainer.timeseries import models as ts_models, timeseries_trainer

LOOKBACK, FEATURES = 12, 3


def _randomised(model, seed):
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    weights = layer.get_weights()
    if weights:
      layer.set_weights([rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in weights])
  return model


@pytest.mark.parametrize("model, residual", [
    ("dense", True), ("dense", False), ("gru", True), ("lstm", True), ("bigru", False),
    ("stacked_gru", True)])
def test_a_warm_forecaster_forecasts_as_the_blessed_one_under_new_statistics(
    model, residual, tmp_path):
  config = pipeline_config.TimeseriesTrainerConfig(model=model, residual=residual, units=4,
                                                   dense_units=8, dropout=0.0)
  positions = np.arange(1, LOOKBACK, 2)
  old_mean, old_var = np.array([10.0, 50.0, -3.0]), np.array([4.0, 25.0, 1.0])
  new_mean, new_var = np.array([14.0, 41.0, -2.5]), np.array([9.0, 16.0, 2.25])
  blessed = _randomised(ts_models.build_forecaster(config, LOOKBACK, positions, old_mean,
                                                   old_var, 0), seed=1)
  described = {"features": ["t", "h", "p"], "target": "t", "lookback": LOOKBACK, "step": 2,
               "delay": 3}
  serving = str(tmp_path / "serving")
  warm_start.save(blessed, [], serving, {timeseries_trainer.FORECASTER_FILE:
                                         timeseries_trainer.forecaster_record(
                                             config, described, old_mean, old_var)})
  fresh = ts_models.build_forecaster(config, LOOKBACK, positions, new_mean, new_var, 0)
  record = timeseries_trainer.warm_start_from(config, described, serving, fresh, positions,
                                              new_mean, new_var, str(tmp_path / "run"))
  assert record and "re-expressed" in record["mode"]
  window = np.random.default_rng(2).normal(12, 3, (16, LOOKBACK, FEATURES)).astype(np.float32)
  expected = blessed(window, training=False).numpy()
  np.testing.assert_allclose(fresh(window, training=False).numpy(), expected, rtol=1e-4,
                             atol=1e-3)
  # Copied weights alone (no re-expression) would not forecast the same.
  copied = ts_models.build_forecaster(config, LOOKBACK, positions, new_mean, new_var, 0)
  copied.set_weights(blessed.get_weights())
  assert np.max(np.abs(copied(window, training=False).numpy() - expected)) > 0.1


def test_a_forecaster_with_other_inputs_or_architecture_starts_cold(tmp_path, capsys):
  config = pipeline_config.TimeseriesTrainerConfig(model="dense", dense_units=8)
  positions = np.arange(LOOKBACK)
  mean, var = np.zeros(FEATURES), np.ones(FEATURES)
  described = {"features": ["t", "h", "p"], "target": "t", "lookback": LOOKBACK, "step": 1,
               "delay": 3}
  serving = str(tmp_path / "serving")
  blessed = ts_models.build_forecaster(config, LOOKBACK, positions, mean, var, 0)
  warm_start.save(blessed, [], serving, {timeseries_trainer.FORECASTER_FILE:
                                         timeseries_trainer.forecaster_record(
                                             config, described, mean, var)})
  reordered = {**described, "features": ["h", "t", "p"]}
  fresh = ts_models.build_forecaster(config, LOOKBACK, positions, mean, var, 1)
  assert timeseries_trainer.warm_start_from(config, reordered, serving, fresh, positions,
                                            mean, var, str(tmp_path / "run")) is None
  assert "differs in features" in capsys.readouterr().out
  wider = pipeline_config.TimeseriesTrainerConfig(model="dense", dense_units=16)
  fresh = ts_models.build_forecaster(wider, LOOKBACK, positions, mean, var, 0)
  assert timeseries_trainer.warm_start_from(wider, described, serving, fresh, positions,
                                            mean, var, str(tmp_path / "run")) is None
  assert "dense_units (8 -> 16)" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["bow", "gru"])
def test_a_warm_text_model_keeps_each_tokens_weights_under_a_new_vocabulary(model, tmp_path):
  config = pipeline_config.TextTrainerConfig(model=model, max_tokens=50, ngrams=1,
                                             sequence_length=8, embedding_dim=4,
                                             dense_units=6, dropout=0.0)
  old_docs = ["the cat sat", "a dog ran", "the dog sat on a mat"]
  new_docs = ["a bird sang", "the cat ran far", "the dog sat on a mat", "zebra"]
  old_vec = vectorization.adapted_vectorizer(config, tf.data.Dataset.from_tensor_slices(
      old_docs).batch(2))
  new_vec = vectorization.adapted_vectorizer(config, tf.data.Dataset.from_tensor_slices(
      new_docs).batch(2))
  assert old_vec.get_vocabulary() != new_vec.get_vocabulary()
  labels = ["a", "b"]
  blessed = _randomised(text_models.build_classifier(
      config, len(old_vec.get_vocabulary()), 2), seed=3)
  serving = str(tmp_path / "serving")
  warm_start.save(blessed, labels, serving, {
      text_trainer.TOKENS_FILE: old_vec.get_vocabulary(),
      text_trainer.ARCHITECTURE_FILE: text_trainer.architecture(config, blessed)})
  fresh = text_models.build_classifier(config, len(new_vec.get_vocabulary()), 2)
  record = text_trainer.warm_start_from(config, fresh, new_vec.get_vocabulary(), labels,
                                        serving, str(tmp_path / "run"))
  assert record and "weights reused" in record["mode"]
  # A document of tokens both vocabularies know: the same answer, raw strings in.
  known = tf.constant(["the dog sat on a mat", "the cat"])
  np.testing.assert_allclose(
      vectorization.end_to_end(new_vec, fresh)(known).numpy(),
      vectorization.end_to_end(old_vec, blessed)(known).numpy(), rtol=1e-5, atol=1e-6)
  layer = text_trainer.token_layer(config)
  old_rows = blessed.get_layer(layer).get_weights()[0]
  new_rows = fresh.get_layer(layer).get_weights()[0]
  old_index = {t: i for i, t in enumerate(old_vec.get_vocabulary())}
  for i, token in enumerate(new_vec.get_vocabulary()):
    if token in old_index:
      np.testing.assert_array_equal(new_rows[i], old_rows[old_index[token]])
  # A new label set that the old one is no prefix of: cold.
  fresh = text_models.build_classifier(config, len(new_vec.get_vocabulary()), 2)
  assert text_trainer.warm_start_from(config, fresh, new_vec.get_vocabulary(), ["b", "a"],
                                      serving, str(tmp_path / "run")) is None


def test_warm_start_epochs_is_a_share_of_each_phase():
  assert warm_start.fewer_epochs(20, 0.2) == 4 and warm_start.fewer_epochs(3, 0.2) == 1
  assert warm_start.fewer_epochs(0, 0.2) == 0
  with pytest.raises(pipeline_config.ToolkitError, match="warm_start_epochs"):
    pipeline_config.TextTrainerConfig(warm_start_epochs=0).validate()
