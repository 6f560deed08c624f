"""TFX Trainer module for time-series forecasting (Chollet ch. 10).

Use with `Trainer(run_fn="trainer.timeseries.timeseries_trainer.run_fn", custom_config={
"timeseries_trainer": {...}, "timeseries_ingest": {...}})`, the dicts holding the fields of
`pipeline_config.TimeseriesTrainerConfig` and `TimeseriesConfig`. The Trainer's eval split is
`validation`: callbacks and checkpoint choice never see `eval`, which only the baselines and
the reports read here (the Evaluator blesses on the eval windows ingestion wrote).

The recipe reads top to bottom in `train`:
  rows:      each split's rows back into series ordered by time (trainer/timeseries/data.py);
  normalise: per-feature mean and variance of the train split only, a layer of the model;
  fit:       windows gathered batch by batch from the rows (train shuffled), MAE loss in
             target units, the shared callbacks on the validation split;
  then the eval-split baselines (persistence, seasonal naive) against the model on the same
  windows, the reports, and the export: `window` [batch, lookback, features] raw -> `forecast`.

Written under model_run_dir: history.json, training_time.json, baselines.json,
reports/{training_curves,forecast_vs_actual,mae_vs_baselines,model}.png, checkpoints/, logs/
(TensorBoard).
"""

import json
import os
import posixpath
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow import keras

import pipeline_config
from schemas import contracts, windows as windowing
from trainer.common import distribution, examples, export, hygiene, reports, warm_start
from trainer.timeseries import data, models

CONFIG_KEY = "timeseries_trainer"
FEATURES_ASSET = "features.json"


def run_fn(fn_args) -> None:
  """TFX Trainer entry point."""
  config = pipeline_config.from_dict(pipeline_config.TimeseriesTrainerConfig,
                                     fn_args.custom_config[CONFIG_KEY])
  uri = examples.examples_uri(fn_args.train_files)
  train(config, fn_args.train_files, fn_args.eval_files,
        [posixpath.join(uri, "Split-eval", "*")], contracts.read_features(uri),
        fn_args.serving_model_dir, fn_args.model_run_dir,
        base_model=getattr(fn_args, "base_model", None))


def absolute_errors(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
  """The loss per window (their mean is the MAE). Keras's "mae" averages over the last axis,
  which for forecasts of shape [batch] is the whole batch: one number that per-window weights
  (the zero-weight padding of distribution.full_batches) cannot reach."""
  return tf.abs(tf.cast(y_true, y_pred.dtype) - y_pred)


def train(config: pipeline_config.TimeseriesTrainerConfig, train_files: List[str],
          validation_files: List[str], eval_files: List[str], described: dict,
          serving_model_dir: str, model_run_dir: str,
          base_model: Optional[str] = None) -> keras.Model:
  """Trains, scores the baselines, reports and exports; returns the model (raw windows in).
  `described` is the features.json ingestion wrote (features, target, lookback, step, delay,
  seasonal_period). With `base_model` (the latest blessed model's serving dir) of the same
  inputs and architecture, the model starts from its weights, re-expressed for this window's
  normalisation statistics (models.refit_to_statistics), and trains `warm_start_epochs` of
  its epochs."""
  config.validate()
  # First: MultiWorkerMirroredStrategy configures collective ops before TensorFlow's eager
  # context starts (datasets, layers).
  strategy = distribution.start(config.distribution, model_run_dir)
  keras.utils.set_random_seed(config.seed)
  tf.io.gfile.makedirs(model_run_dir)
  started = time.time()
  features, lookback, delay = described["features"], described["lookback"], described["delay"]
  target = features.index(described["target"])
  splits = {name: data.read_rows(files, len(features)) for name, files in (
      ("train", train_files), ("validation", validation_files), ("eval", eval_files))}
  ends = {name: data.window_ends(rows, lookback, delay) for name, rows in splits.items()}
  for name, found in ends.items():
    if not len(found):
      raise pipeline_config.ToolkitError(
          f"The {name} split has no whole window of {lookback} rows + {delay} ahead; lower "
          "--lookback or --delay, or bring longer series.")
  train_rows = splits["train"].values
  mean, variance = train_rows.mean(axis=0), train_rows.var(axis=0)
  print(f"[Trainer] {config.model} ({'residual' if config.residual else 'level'} head): "
        f"{len(ends['train'])} train, {len(ends['validation'])} validation, "
        f"{len(ends['eval'])} eval windows of {lookback} rows (every {described['step']}), "
        f"{delay} ahead; {len(features)} features normalised with train-split statistics",
        flush=True)

  def windows(name, shuffle=False):
    return data.window_dataset(splits[name].values, ends[name], lookback, delay, target,
                               config.batch_size, shuffle=shuffle, seed=config.seed)

  # Built, compiled and fitted under the configured tf.distribute strategy.
  with strategy.scope():
    positions = windowing.sampled_rows(lookback, described["step"])
    model = models.build_forecaster(config, lookback, positions, mean, variance, target)
    epochs = config.epochs
    warm = warm_start_from(config, described, base_model, model, positions, mean, variance,
                           model_run_dir)
    if warm:
      epochs = warm_start.fewer_epochs(config.epochs, config.warm_start_epochs)
      config = hygiene.warm_started(config)
      print(f"[Trainer] warm start: {epochs} of {config.epochs} epochs "
            f"(warm_start_epochs={config.warm_start_epochs})", flush=True)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss=absolute_errors)
    validation = windows("validation")
    start = {"weights": model.get_weights(),
             "val_loss": hygiene.evaluate_phase(model, validation, config)["val_loss"]}
    history = {"train": hygiene.fit_phase(model, config, model_run_dir, "train",
                                          windows("train", shuffle=True), validation, epochs)}
    if warm or config.residual:       # a cold level head starts from random weights
      keep_the_start_if_better(model, start, validation, config, model_run_dir,
                               "the blessed model" if warm else "persistence")
  reports.write_history(model_run_dir, history, started)

  eval_rows = splits["eval"]
  forecast = np.concatenate([model(x, training=False).numpy() for x, _ in windows("eval")])
  actual = eval_rows.values[ends["eval"] + delay, target]
  lag = windowing.seasonal_lag(delay, described.get("seasonal_period"), lookback)
  scores = write_baselines(actual, forecast, data.baseline_forecasts(
      eval_rows.values, ends["eval"], target, lag), described, model_run_dir)
  print("[Trainer] eval MAE: model {model_eval_mae:.4f}, persistence {persistence_mae:.4f}"
        .format(**scores) + (f", seasonal naive {scores['seasonal_naive_mae']:.4f}"
                             if scores.get("seasonal_naive_mae") is not None else "")
        + f" ({scores['eval_windows']} eval windows)", flush=True)
  write_reports(model, history, eval_rows, ends["eval"], forecast, scores, described,
                config.plot_rows, model_run_dir)
  export_forecaster(model, described, serving_model_dir)
  warm_start.save(model, [], serving_model_dir,
                  {FORECASTER_FILE: forecaster_record(config, described, mean, variance)})
  return model


KEPT_FILE = "kept.json"


def keep_the_start_if_better(model: keras.Model, start: dict, validation, config,
                             model_run_dir: str, what: str) -> None:
  """The floor of a residual head: the model starts as persistence (zero-initialised
  change) or, warm, as the blessed model; where training ends worse than that start on the
  validation windows, the start's weights are kept (written to kept.json). EarlyStopping
  only judges epochs after min_epochs_fraction, so without this a forecaster whose first
  epochs were its best would be exported worse than the forecast it started from."""
  fitted = hygiene.evaluate_phase(model, validation, config)["val_loss"]
  kept = "start" if start["val_loss"] < fitted else "trained"
  if kept == "start":
    model.set_weights(start["weights"])
    print(f"[Trainer] kept the starting weights ({what}): validation MAE "
          f"{start['val_loss']:.4f} against {fitted:.4f} after training", flush=True)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, KEPT_FILE), "w") as f:
    json.dump({"kept": kept, "start": what, "start_validation_mae": start["val_loss"],
               "trained_validation_mae": fitted}, f, indent=1)


FORECASTER_FILE = "forecaster.json"
# What must agree for a blessed forecaster's weights to mean the same in this one.
_SAME_INPUTS = ("features", "target", "lookback", "step", "delay")
_SAME_ARCHITECTURE = ("model", "residual", "units", "dense_units")


def forecaster_record(config: pipeline_config.TimeseriesTrainerConfig, described: dict,
                      mean: np.ndarray, variance: np.ndarray) -> dict:
  """Saved with the weights: what a warm start checks, and the statistics they were fitted
  under."""
  return {**{k: described[k] for k in _SAME_INPUTS},
          **{k: getattr(config, k) for k in _SAME_ARCHITECTURE},
          "mean": [float(v) for v in mean], "variance": [float(v) for v in variance]}


def warm_start_from(config, described: dict, base_model: Optional[str], model: keras.Model,
                    positions, mean: np.ndarray, variance: np.ndarray,
                    model_run_dir: str) -> Optional[dict]:
  """Starts `model` from the blessed forecaster when its inputs and architecture are this
  run's; returns the record, or None (a cold start, with the reason printed)."""
  if not base_model:
    return None
  saved = warm_start.read_extra(base_model, FORECASTER_FILE)
  mine = forecaster_record(config, described, mean, variance)
  if saved is None:
    print(f"[Trainer] cold start: the blessed model {base_model} has no saved forecaster "
          "weights", flush=True)
    return None
  differ = [k for k in (*_SAME_INPUTS, *_SAME_ARCHITECTURE) if saved.get(k) != mine[k]]
  if differ:
    print("[Trainer] cold start: the blessed forecaster differs in "
          + ", ".join(f"{k} ({saved.get(k)} -> {mine[k]})" for k in differ), flush=True)
    return None
  old_mean, old_variance = np.asarray(saved["mean"]), np.asarray(saved["variance"])
  target = described["features"].index(described["target"])
  return warm_start.load(
      model, [], base_model,
      lambda _: models.build_forecaster(config, described["lookback"], positions, old_mean,
                                        old_variance, target),
      model_run_dir,
      adapt=lambda _, new: models.refit_to_statistics(
          new, old_mean, old_variance, mean, variance, target, config.residual))


def write_baselines(actual: np.ndarray, forecast: np.ndarray,
                    baselines: Dict[str, np.ndarray], described: dict,
                    model_run_dir: str) -> dict:
  """MAE of the model and of each common-sense forecast on the same eval windows."""
  scores = {"model_eval_mae": float(np.mean(np.abs(forecast - actual))),
            "persistence_mae": None, "seasonal_naive_mae": None,
            "seasonal_period": described.get("seasonal_period"),
            "eval_windows": int(len(actual))}
  for name, values in baselines.items():
    scores[f"{name}_mae"] = float(np.mean(np.abs(values - actual)))
  with tf.io.gfile.GFile(os.path.join(model_run_dir, "baselines.json"), "w") as f:
    json.dump(scores, f, indent=1)
  return scores


def write_reports(model: keras.Model, history: dict, eval_rows: data.SplitRows,
                  ends: np.ndarray, forecast: np.ndarray, scores: dict, described: dict,
                  plot_rows: int, model_run_dir: str) -> dict:
  folder = reports.reports_dir(model_run_dir)
  written = {
      "training_curves": reports.training_curves(
          history, os.path.join(folder, "training_curves.png"), metrics=("loss",)),
      "forecast_vs_actual": forecast_plot(eval_rows, ends, forecast, described, plot_rows,
                                          os.path.join(folder, "forecast_vs_actual.png")),
      "mae_vs_baselines": mae_bars(scores, described["target"],
                                   os.path.join(folder, "mae_vs_baselines.png")),
      "model_plot": reports.model_plot(model, os.path.join(folder, "model.png")),
  }
  print(f"[Trainer] reports written to {folder}", flush=True)
  return written


def forecast_plot(eval_rows: data.SplitRows, ends: np.ndarray, forecast: np.ndarray,
                  described: dict, plot_rows: int, path: str) -> str:
  """The first eval chunk's actual target against the forecast and persistence."""
  plt = reports.plt
  target = described["features"].index(described["target"])
  delay = described["delay"]
  # The first eval chunk long enough for a window (a segment break may cut the first short).
  start, end, series = next(c for c in eval_rows.chunks if np.any((ends >= c[0]) & (ends < c[1])))
  shown = np.flatnonzero((ends >= start) & (ends < end))[:plot_rows]
  steps = ends[shown] + delay
  fig, ax = plt.subplots(figsize=(11, 4))
  hours = (eval_rows.timestamps[steps] - eval_rows.timestamps[steps[0]]) / 3600.0
  ax.plot(hours, eval_rows.values[steps, target], label="actual", color="black")
  ax.plot(hours, forecast[shown], label="model forecast")
  ax.plot(hours, eval_rows.values[ends[shown], target], label="persistence", alpha=0.6,
          linestyle="--")
  ax.set_xlabel("hours into the eval period")
  ax.set_ylabel(described["target"])
  ax.set_title(f"{series}: {delay} rows ahead")
  ax.legend(fontsize=8)
  fig.tight_layout()
  return reports.save_figure(fig, path)


def mae_bars(scores: dict, target: str, path: str) -> str:
  plt = reports.plt
  bars = {"model": scores["model_eval_mae"], "persistence": scores["persistence_mae"]}
  if scores.get("seasonal_naive_mae") is not None:
    bars["seasonal naive"] = scores["seasonal_naive_mae"]
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.bar(list(bars), list(bars.values()), color=["tab:blue"] + ["tab:gray"] * (len(bars) - 1))
  for i, value in enumerate(bars.values()):
    ax.text(i, value, f"{value:.3f}", ha="center", va="bottom")
  ax.set_ylabel(f"eval MAE ({target})")
  ax.set_title("model against the common-sense baselines")
  fig.tight_layout()
  return reports.save_figure(fig, path)


def export_forecaster(model: keras.Model, described: dict, export_dir: str) -> None:
  """serving_default(window: float32 [batch, lookback, features], raw) -> forecast [batch];
  serving_examples parses the `window` feature of the eval windows; assets/features.json
  names the columns in order."""
  lookback, features = described["lookback"], len(described["features"])
  names = ", ".join(described["features"])

  def serve(window):
    # A signature's declared shape is not enforced when it is called (TF Serving, or
    # signatures[...] in Python): a longer window would be forecast from the wrong rows and
    # a shorter one fail deep inside the model, so both are refused here by name.
    shape = tf.shape(window)
    checks = [
        tf.debugging.assert_equal(
            tf.size(shape), 3,
            message=f"window must be [batch, {lookback} rows, {features} features]"),
        tf.debugging.assert_positive(
            shape[0], message="window holds no rows to forecast (an empty batch)"),
        tf.debugging.assert_equal(
            shape[1], lookback,
            message=f"window must hold exactly lookback={lookback} rows (the latest "
                    f"{lookback} time steps, oldest first); the rows received are the "
                    "second figure of the shape below"),
        tf.debugging.assert_equal(
            shape[2], features,
            message=f"window must hold {features} feature columns, in this order: {names} "
                    "(assets/features.json)"),
        tf.debugging.assert_all_finite(
            window, message="window holds NaN or infinite values; fill missing readings "
                            "first (ingestion interpolates up to max_fill rows)")]
    with tf.control_dependencies(checks):
      window = tf.identity(window)
    return {"forecast": model(window, training=False)}

  export.export_with_signatures(
      model, export_dir, serve, tf.TensorSpec([None, lookback, features], tf.float32,
                                              name="window"),
      lambda serialized: tf.reshape(tf.io.parse_example(serialized, {
          "window": tf.io.FixedLenFeature([lookback * features], tf.float32)})["window"],
          [-1, lookback, features]))
  export.write_asset(export_dir, FEATURES_ASSET, {
      **described, "input": "window", "output": "forecast",
      "shape": [None, lookback, features]})
