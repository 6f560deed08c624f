"""The figures of a run's evaluation, read from its artifacts (no MLMD): the Evaluator's
metrics with their confidence intervals, per class and per series, the thresholds a model
failed, the Trainer's baselines. last_run.json (pipeline/run_summary.py) and the model card
(card.py) both take them from here, so their figures are one.
"""

import json
import math
import os
import re
from typing import Dict, List, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma

from schemas import contracts

# TFMA metric name -> last_run.json name; slice column -> (last_run.json key, metric kept).
_METRIC_NAMES = {"sparse_categorical_accuracy": "accuracy", "example_count": "example_count",
                 "majority_margin": "majority_margin", "mean_absolute_error": "mae",
                 "baseline_margin": "baseline_margin", "persistence_mae": "persistence_mae",
                 "seasonal_naive_mae": "seasonal_naive_mae"}
_SLICES = {contracts.PER_CLASS_FEATURE: ("per_class", "accuracy"),
           contracts.PER_SERIES_FEATURE: ("per_series", "mae")}


def metrics(evaluation_uri: str) -> Dict[str, float]:
  """Overall-slice metrics of the candidate (and baseline) model; per class the accuracy of
  its `label_name` slice, which is that class's recall; per series the MAE of its slice."""
  metrics = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    slice_keys = per_slice.slice_key.single_slice_keys
    group = None
    if slice_keys:
      if len(slice_keys) != 1 or slice_keys[0].column not in _SLICES:
        continue
      group, kept = _SLICES[slice_keys[0].column]
      slice_value = slice_keys[0].bytes_value.decode("utf-8")
    for key_and_value in per_slice.metric_keys_and_values:
      key = key_and_value.key
      if key.is_diff or key.HasField("sub_key") or key.name not in _METRIC_NAMES:
        continue
      if not key_and_value.value.HasField("double_value"):
        continue
      value = key_and_value.value.double_value.value
      prefix = "baseline_" if key.model_name == "baseline" else ""
      if group is None:
        metrics[prefix + _METRIC_NAMES[key.name]] = value
        interval = key_and_value.confidence_interval
        if (key_and_value.HasField("confidence_interval")
            and interval.lower_bound.HasField("double_value")):
          metrics.setdefault("confidence_intervals", {})[prefix + _METRIC_NAMES[key.name]] = [
              interval.lower_bound.double_value.value, interval.upper_bound.double_value.value]
      elif _METRIC_NAMES[key.name] == kept:
        metrics.setdefault(prefix + group, {})[slice_value] = value
  for group, _ in _SLICES.values():
    for name in (group, "baseline_" + group):
      if name in metrics:
        metrics[name] = dict(sorted(metrics[name].items()))
  # Accuracy is a proportion of example_count: its interval is the Wilson score interval,
  # which stays honest where the jackknife's collapses (1.0 on 29 eval examples gave 1.0-1.0).
  count = metrics.get("example_count")
  for name in ("accuracy", "baseline_accuracy"):
    if name in metrics and count:
      metrics.setdefault("confidence_intervals", {})[name] = list(
          wilson_interval(metrics[name], int(count)))
  return metrics


def wilson_interval(proportion: float, n: int, z: float = 1.959964) -> tuple:
  """The 95% Wilson score interval of a proportion observed on n examples."""
  centre = (proportion + z * z / (2 * n)) / (1 + z * z / n)
  half = z * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  # At 0 or 1 the bound is exactly 0 or 1 (float rounding would give 0.9999999999999999).
  low = 0.0 if proportion <= 0 else max(0.0, centre - half)
  high = 1.0 if proportion >= 1 else min(1.0, centre + half)
  return low, high


_METRIC_WORDS = {"accuracy": "eval accuracy", "majority_margin": "margin over the majority class",
                 "mae": "eval MAE", "baseline_margin": "margin over the best common-sense baseline"}


def failed_thresholds(evaluation_uri: str) -> List[dict]:
  """The Evaluator's thresholds that this model failed, each with its figures: `metric`,
  `slice` (None: the whole eval split), `value`, `threshold` (what it had to reach),
  `kind` ("value", or "change" against the last blessed model) and a `reason` sentence."""
  try:
    result = tfma.load_validation_result(evaluation_uri)
  except (OSError, AssertionError, tf.errors.NotFoundError):   # no validation record
    return []
  failed = []
  for per_slice in result.metric_validations_per_slice:
    slice_keys = per_slice.slice_key.single_slice_keys
    where = (f"{slice_keys[0].column}={slice_keys[0].bytes_value.decode('utf-8')}"
             if slice_keys else None)
    for failure in per_slice.failures:
      name = _METRIC_NAMES.get(failure.metric_key.name, failure.metric_key.name)
      value = failure.metric_value.double_value.value
      threshold = failure.metric_threshold
      words = _METRIC_WORDS.get(name, name) + (f" of {where}" if where else "")
      if threshold.HasField("change_threshold"):
        bound = threshold.change_threshold.absolute.value
        higher = threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        reason = (f"{words} changed by {value:+.4f} against the last blessed model; the "
                  f"change had to be {'at least' if higher else 'at most'} {bound:+.4f}")
        failed.append({"metric": name, "slice": where, "value": value, "threshold": bound,
                       "kind": "change", "reason": reason})
        continue
      bounds = threshold.value_threshold
      if bounds.HasField("lower_bound"):
        bound, side = bounds.lower_bound.value, "at least"
      else:
        bound, side = bounds.upper_bound.value, "at most"
      if name == "majority_margin" and bound <= 0:
        side = "above"
      reason = f"{words} is {value:.4f}; it had to be {side} {bound:.4f}"
      failed.append({"metric": name, "slice": where, "value": value, "threshold": bound,
                     "kind": "value", "reason": reason})
  return failed


def majority_accuracy(report: dict) -> Optional[float]:
  """Accuracy on the eval split of always predicting its most frequent class: the share the
  Evaluator's `majority_margin` subtracts (trainer/common/metrics.py), so the printed
  baseline and the blessing rule are one figure."""
  per_class_split = report.get("per_class_split", {})
  eval_counts = [splits.get("eval", 0) for splits in per_class_split.values()]
  if not sum(eval_counts):
    return None
  return max(eval_counts) / sum(eval_counts)


def eval_metrics(evaluation_uri: Optional[str], report: Optional[dict],
                 trainer_baselines: Optional[dict]) -> dict:
  """last_run.json's "metrics": the Evaluator's figures, and under "baselines" what the
  Trainer measured on the same eval split (with the majority class's accuracy)."""
  figures = metrics(evaluation_uri) if evaluation_uri else {}
  if figures or trainer_baselines:
    figures["baselines"] = {
        **({"majority_accuracy": majority_accuracy(report)}
           if report and report.get("class_names") else {}),
        **(trainer_baselines or {})}
  return figures


def read_json(path: str) -> Optional[dict]:
  """A JSON file (through gfile), or None when there is none."""
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def thresholds(evaluation_uri: str) -> List[dict]:
  """The blessing rules the Evaluator applied (its EvalConfig, written beside its results):
  `metric`, `slice` (None: the whole eval split), `kind` ("value", or "change" against the
  last blessed model), `lower` / `upper` bounds (a change: its signed bound and direction)."""
  from tensorflow_model_analysis.writers import eval_config_writer  # pylint: disable=import-outside-toplevel
  config = eval_config_writer.load_eval_run(evaluation_uri)[0]
  if config is None:
    return []
  rules = []

  def add(class_name, threshold, where):
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()  # MeanAbsoluteError
    name = _METRIC_NAMES.get(snake, snake)
    if threshold.HasField("value_threshold"):
      bounds = threshold.value_threshold
      rules.append({"metric": name, "slice": where, "kind": "value",
                    **({"lower": bounds.lower_bound.value}
                       if bounds.HasField("lower_bound") else {}),
                    **({"upper": bounds.upper_bound.value}
                       if bounds.HasField("upper_bound") else {})})
    if threshold.HasField("change_threshold"):
      change = threshold.change_threshold
      rules.append({"metric": name, "slice": where, "kind": "change",
                    "bound": change.absolute.value,
                    "direction": ("higher_is_better" if change.direction ==
                                  tfma.MetricDirection.HIGHER_IS_BETTER else
                                  "lower_is_better")})

  for spec in config.metrics_specs:
    for metric in spec.metrics:
      if metric.HasField("threshold"):
        add(metric.class_name, metric.threshold, None)
      for per_slice in metric.per_slice_thresholds:
        where = ", ".join(
            f"{k}={v}" for s in per_slice.slicing_specs
            for k, v in [*((key, "*") for key in s.feature_keys),
                         *sorted(s.feature_values.items())]) or None
        add(metric.class_name, per_slice.threshold, where)
  return rules
