"""The time-series task's config sections (`timeseries_ingest`, formerly `timeseries`, and
`timeseries_trainer`) and the flags that set them; pipeline/tasks/timeseries.py names them.
No TensorFlow: components and trainers read these."""

from dataclasses import dataclass
from typing import Optional, Tuple

from pipeline_config import FitConfig, Flag, ToolkitError, register_sections

TIMESERIES_MODELS = ("dense", "gru", "gru_dropout", "stacked_gru", "bigru", "conv1d_gru",
                     "lstm")


@dataclass
class TimeseriesConfig:
  """How TimeseriesExampleGen reads `<data_root>/*.csv` (one series per file, a header row)
  and how windows are cut (ingestion writes the eval windows the Evaluator judges; the
  Trainer cuts train and validation windows the same way)."""
  time_column: str = "timestamp"
  # The column to forecast; required (flag --target-column or this field).
  target_column: Optional[str] = None
  # Model inputs, in this order; None: every numeric column ingestion keeps. The target is
  # always an input (the persistence baseline and the residual head read its last value).
  features: Optional[Tuple[str, ...]] = None
  # Rows of history in a window (what a client sends), sampled every `step` rows inside the
  # model, and the forecast `delay` rows after the window's last row.
  lookback: int = 120
  step: int = 1
  delay: int = 1
  # Seasonal-naive baseline period in rows; None: one day of rows when the inferred sampling
  # interval divides a day (24 for hourly data), else no seasonal baseline.
  seasonal_period: Optional[int] = None
  # Runs of up to this many missing rows (or values) are linearly interpolated; longer runs
  # break the series into segments that no window crosses.
  max_fill: int = 6
  # A column missing in more than this share of rows (over all files) is left out.
  max_column_missing: float = 0.05
  delimiter: str = ","
  # The served model's inputs (its assets/features.json) are the contract: a data root with
  # the same columns in another order is reordered to it; new or missing columns stop the
  # run ("fail"), or with "accept" the model is trained on the columns found and judged on
  # its own thresholds only (the served model cannot read them).
  on_feature_change: str = "fail"

  def validate(self):
    if self.on_feature_change not in ("fail", "accept"):
      raise ToolkitError("on_feature_change must be fail or accept. "
                         f"Received: on_feature_change={self.on_feature_change!r}")
    if not self.target_column:
      raise ToolkitError(
          "--task timeseries needs the column to forecast: pass --target-column NAME (or set "
          "timeseries_ingest.target_column in a --config file).")
    for name in ("lookback", "step", "delay"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if self.step > self.lookback:
      raise ToolkitError(f"step must be at most lookback ({self.lookback}). "
                         f"Received: step={self.step}")
    if self.seasonal_period is not None and self.seasonal_period < 1:
      raise ToolkitError("seasonal_period must be >= 1 (rows). "
                         f"Received: seasonal_period={self.seasonal_period}")
    if self.max_fill < 0:
      raise ToolkitError(f"max_fill must be >= 0. Received: max_fill={self.max_fill}")
    if not 0.0 <= self.max_column_missing <= 1.0:
      raise ToolkitError("max_column_missing must be in [0, 1]. "
                         f"Received: max_column_missing={self.max_column_missing}")
    if len(self.delimiter) != 1:
      raise ToolkitError(f"delimiter must be one character. Received: {self.delimiter!r}")
    if self.time_column == self.target_column:
      raise ToolkitError("The target column cannot be the time column. "
                         f"Received: {self.target_column!r}")


@dataclass
class TimeseriesTrainerConfig(FitConfig):
  """Chollet's forecasting recipes (ch. 10): train-only normalisation inside the model, a
  network judged against the common-sense baselines. `residual` predicts the change from the
  last observed target (forecast = y[t] + model(window)), which keeps persistence as a floor."""
  model: str = "dense"
  residual: bool = True
  units: int = 32
  epochs: int = 20
  learning_rate: float = 1e-3
  # A warm start runs half the epochs: a forecaster's epochs are cheap, and a fifth of them
  # (the image default) left the demo's warm model behind the blessed one on the new month.
  warm_start_epochs: float = 0.5
  # gru_dropout: dropout and recurrent_dropout of the GRU (FitConfig.dropout: the head's).
  recurrent_dropout: float = 0.25
  dense_units: int = 32
  # The head's dropout: 0.3 cut the demo's eval MAE from 6.34 to 6.07 (persistence 6.97).
  dropout: float = 0.3
  batch_size: int = 256
  early_stopping_patience: int = 4
  reduce_lr_patience: int = 2
  class_weights: str = "none"
  # Eval rows shown in the forecast-vs-actual plot.
  plot_rows: int = 14 * 24

  def validate(self):
    if self.model not in TIMESERIES_MODELS:
      raise ToolkitError(f"Unknown timeseries model. Choose one of "
                         f"{', '.join(TIMESERIES_MODELS)}. Received: model={self.model!r}")
    self.validate_fit()
    for name in ("units", "epochs", "plot_rows"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if not 0 < self.learning_rate < 1:
      raise ToolkitError(f"learning_rate must be in (0, 1). "
                         f"Received: learning_rate={self.learning_rate}")
    if not 0.0 <= self.recurrent_dropout < 1.0:
      raise ToolkitError("recurrent_dropout must be in [0, 1). "
                         f"Received: recurrent_dropout={self.recurrent_dropout}")


register_sections("timeseries", {"timeseries_ingest": TimeseriesConfig,
                                 "timeseries_trainer": TimeseriesTrainerConfig},
                  renamed={"timeseries": "timeseries_ingest"})


def _columns(value: str) -> tuple:
  import argparse  # pylint: disable=import-outside-toplevel
  names = tuple(v.strip() for v in value.split(",") if v.strip())
  if not names:
    raise argparse.ArgumentTypeError("takes column names separated by commas, e.g. temp,humid")
  return names


def _head(value: str) -> bool:
  import argparse  # pylint: disable=import-outside-toplevel
  if value not in ("residual", "level"):
    raise argparse.ArgumentTypeError(f"must be residual or level. Received: {value}")
  return value == "residual"


FLAGS = (
    Flag("time_column", "timeseries_ingest", "time_column"),
    Flag("target_column", "timeseries_ingest", "target_column"),
    Flag("features", "timeseries_ingest", "features", _columns),
    Flag("lookback", "timeseries_ingest", "lookback", int),
    Flag("step", "timeseries_ingest", "step", int),
    Flag("delay", "timeseries_ingest", "delay", int),
    Flag("seasonal_period", "timeseries_ingest", "seasonal_period", int),
    Flag("max_fill", "timeseries_ingest", "max_fill", int),
    Flag("on_feature_change", "timeseries_ingest", "on_feature_change"),
    Flag("forecast_model", "timeseries_trainer", "model"),
    Flag("head", "timeseries_trainer", "residual", _head),
)
