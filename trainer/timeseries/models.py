"""Forecasting models (Chollet ch. 10) on raw windows: sampling every `step` rows and the
train-split normalisation are layers of the model, so the exported graph takes raw values.

forecast = y[t] + std * f(window)   (residual: the change from the last observed target)
forecast = mean + std * f(window)   (level)
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras

import pipeline_config


def fill_gaps(window: tf.Tensor) -> tf.Tensor:
  """What ingestion does to missing values, in the graph: per feature, values between two
  observed ones are interpolated linearly along time, and values before the first (after
  the last) observed one take its value. A feature with no value in the window stays NaN.
  Ingestion never trains on gaps longer than max_fill; serving fills any gap it is sent."""
  x = tf.transpose(window, [0, 2, 1])                       # [batch, features, time]
  valid = tf.math.is_finite(x)
  length = tf.shape(x)[-1]
  positions = tf.range(length)
  # Positions of the observed values first, in time order, then the missing ones.
  order = tf.argsort(tf.where(valid, positions, positions + length), axis=-1, stable=True)
  seen = tf.cumsum(tf.cast(valid, tf.int32), axis=-1)       # observed values up to here
  last = tf.maximum(seen[..., -1:] - 1, 0)
  prev_k = tf.maximum(seen - 1, 0)
  next_k = tf.minimum(tf.where(valid, seen - 1, seen), last)
  prev_pos = tf.gather(order, prev_k, batch_dims=2)
  next_pos = tf.gather(order, next_k, batch_dims=2)
  prev_val = tf.gather(x, prev_pos, batch_dims=2)
  next_val = tf.gather(x, next_pos, batch_dims=2)
  span = tf.cast(next_pos - prev_pos, x.dtype)
  fraction = tf.math.divide_no_nan(tf.cast(positions - prev_pos, x.dtype), span)
  fraction = tf.where(span > 0, fraction, tf.zeros_like(fraction))
  filled = tf.where(valid, x, prev_val + (next_val - prev_val) * fraction)
  return tf.transpose(filled, [0, 2, 1])


class FillGaps(keras.layers.Layer):
  """fill_gaps as a layer: serving fills a client's missing values as ingestion did."""

  def call(self, window):
    return fill_gaps(window)


class SampleRows(keras.layers.Layer):
  """Keeps every `step`-th row of the window, ending at its last row."""

  def __init__(self, positions, **kwargs):
    super().__init__(**kwargs)
    self.positions = [int(p) for p in positions]

  def call(self, window):
    return tf.gather(window, self.positions, axis=1)

  def get_config(self):
    return {**super().get_config(), "positions": self.positions}


class ForecastHead(keras.layers.Layer):
  """Scales the network's output to target units, from the last observed target (residual)
  or from the train-split mean (level)."""

  def __init__(self, target_index: int, mean: float, std: float, residual: bool, **kwargs):
    super().__init__(**kwargs)
    self.target_index, self.mean, self.std, self.residual = (
        int(target_index), float(mean), float(std), bool(residual))

  def call(self, inputs):
    change, window = inputs
    anchor = window[:, -1, self.target_index] if self.residual else self.mean
    return anchor + self.std * change[:, 0]

  def get_config(self):
    return {**super().get_config(), "target_index": self.target_index, "mean": self.mean,
            "std": self.std, "residual": self.residual}


def build_forecaster(config: pipeline_config.TimeseriesTrainerConfig, lookback: int,
                     positions: np.ndarray, mean: np.ndarray, variance: np.ndarray,
                     target_index: int) -> keras.Model:
  """Raw window [batch, lookback, features] -> forecast [batch] in target units. `mean` and
  `variance` are per feature, from the train split only."""
  features = len(mean)
  window = keras.Input((lookback, features), name="window")
  filled = FillGaps(name="fill_gaps")(window)
  x = SampleRows(positions, name="sample_rows")(filled)
  x = keras.layers.Normalization(axis=-1, mean=mean, variance=np.maximum(variance, 1e-12),
                                 name="train_normalisation")(x)
  x = _body(config, x)
  # Residual: zero-initialised, so training starts from the persistence forecast.
  change = keras.layers.Dense(1, kernel_initializer="zeros" if config.residual else
                              "glorot_uniform", name="change" if config.residual else "level")(x)
  std = float(np.sqrt(max(variance[target_index], 1e-12)))
  forecast = ForecastHead(target_index, mean[target_index], std, config.residual,
                          name="forecast")([change, filled])
  return keras.Model(window, forecast, name=f"{config.model}_forecaster")


def _body(config: pipeline_config.TimeseriesTrainerConfig, x):
  units, rd = config.units, config.recurrent_dropout
  layers = keras.layers
  if config.model == "dense":
    x = layers.Flatten()(x)
    x = layers.Dense(config.dense_units, activation="relu")(x)
  elif config.model == "gru":
    x = layers.GRU(units)(x)
  elif config.model == "gru_dropout":
    x = layers.GRU(units, dropout=rd, recurrent_dropout=rd)(x)
  elif config.model == "stacked_gru":
    x = layers.GRU(units, dropout=rd / 2, recurrent_dropout=rd, return_sequences=True)(x)
    x = layers.GRU(units * 2, dropout=rd / 2, recurrent_dropout=rd)(x)
  elif config.model == "bigru":
    x = layers.Bidirectional(layers.GRU(units))(x)
  elif config.model == "conv1d_gru":
    x = layers.Conv1D(units, 5, activation="relu", padding="same")(x)
    x = layers.MaxPooling1D(3)(x)
    x = layers.Conv1D(units, 5, activation="relu", padding="same")(x)
    x = layers.GRU(units, dropout=rd / 2, recurrent_dropout=rd)(x)
  elif config.model == "lstm":
    x = layers.LSTM(units)(x)
  else:
    raise ValueError(f"Unknown model {config.model!r}")
  if config.dropout:
    x = layers.Dropout(config.dropout)(x)
  return x


# --- warm start -------------------------------------------------------------------------

def refit_to_statistics(model: keras.Model, old_mean: np.ndarray, old_variance: np.ndarray,
                        mean: np.ndarray, variance: np.ndarray, target_index: int,
                        residual: bool) -> str:
  """Re-expresses weights learnt under the old normalisation statistics for the new ones, so
  that the warm-started model forecasts what the blessed model did before it trains at all.

  The model normalises with the new window's train-split statistics (x_new = (x - m') / s').
  The old weights expect x_old = (x - m) / s = x_new * s'/s + (m' - m)/s: the first layer's
  input weights are scaled per feature by s'/s and its bias takes W (m' - m)/s (exact for
  Dense, GRU and LSTM; for Conv1D exact away from the window's edges, where "same" padding
  pads zeros). The output scales back to target units with the new target std (and mean,
  for a level head): its Dense is scaled by std/std' (and shifted by (mean - mean')/std')."""
  scale = np.sqrt(np.maximum(variance, 1e-12) / np.maximum(old_variance, 1e-12))
  shift = (mean - old_mean) / np.sqrt(np.maximum(old_variance, 1e-12))
  first = _first_weighted_after(model, "train_normalisation")
  for layer in (first.forward_layer, first.backward_layer) if isinstance(
      first, keras.layers.Bidirectional) else (first,):
    _refit_input_layer(layer, scale, shift)
  head = model.get_layer("change" if residual else "level")
  kernel, bias = head.get_weights()
  std_ratio = float(np.sqrt(max(old_variance[target_index], 1e-12) /
                            max(variance[target_index], 1e-12)))
  bias = bias * std_ratio
  if not residual:
    bias = bias + (old_mean[target_index] - mean[target_index]) / float(
        np.sqrt(max(variance[target_index], 1e-12)))
  head.set_weights([kernel * std_ratio, bias])
  ratio = float(max(np.max(scale), 1.0 / max(np.min(scale), 1e-12)))
  return (f"weights re-expressed for the new normalisation statistics (feature stds changed "
          f"by up to {ratio:.2f}x, means by up to {float(np.max(np.abs(shift))):.2f} old stds)")


def _first_weighted_after(model: keras.Model, name: str) -> keras.layers.Layer:
  """The first layer with weights after `name` in the model's layer order."""
  layers = model.layers
  start = [layer.name for layer in layers].index(name)
  return next(layer for layer in layers[start + 1:] if layer.get_weights())


def _refit_input_layer(layer: keras.layers.Layer, scale: np.ndarray, shift: np.ndarray
                       ) -> None:
  weights = layer.get_weights()
  features = len(scale)
  if isinstance(layer, keras.layers.Dense):        # after Flatten: rows [time, feature]
    kernel, bias = weights
    rows = kernel.shape[0] // features
    s, b = np.tile(scale, rows), np.tile(shift, rows)
    layer.set_weights([kernel * s[:, None], bias + b @ kernel])
  elif isinstance(layer, keras.layers.Conv1D):
    kernel, bias = weights                          # [width, features, filters]
    layer.set_weights([kernel * scale[None, :, None],
                       bias + np.einsum("wfc,f->c", kernel, shift)])
  elif isinstance(layer, (keras.layers.GRU, keras.layers.LSTM)):
    kernel, recurrent, bias = weights               # kernel [features, gates * units]
    extra = shift @ kernel
    if bias.ndim == 2:                              # GRU reset_after: [input, recurrent] biases
      bias = bias.copy()
      bias[0] += extra
    else:
      bias = bias + extra
    layer.set_weights([kernel * scale[:, None], recurrent, bias])
  else:
    raise ValueError(f"No rule to re-express {type(layer).__name__} for new statistics")
