"""TFMA metrics every model is judged on: its margin over a baseline that needs no training.

Classifiers: MajorityMargin. Forecasters: BaselineMargin (below).

`majority_margin` = accuracy - (share of the slice's most frequent label). A model that
always predicts the majority class scores 0; the Evaluator blesses only a margin above 0.
Referenced from the EvalConfig as MetricConfig(class_name="MajorityMargin",
module="trainer.common.metrics"), so the Evaluator imports it (it must be installed in the
container on Kubeflow, like the Trainer module).
"""

import collections
from typing import Dict, Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

MAJORITY_MARGIN = "majority_margin"


class MajorityMargin(metric_types.Metric):
  """Accuracy minus the majority-class share of the same examples."""

  def __init__(self, name: str = MAJORITY_MARGIN):
    super().__init__(metric_util.merge_per_key_computations(_majority_margin), name=name)


metric_types.register_metric(MajorityMargin)


def _majority_margin(name: str = MAJORITY_MARGIN, eval_config=None, model_name: str = "",
                     output_name: str = "", sub_key=None, aggregation_type=None,
                     class_weights=None, example_weighted: bool = False
                     ) -> metric_types.MetricComputations:
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               sub_key=sub_key, example_weighted=example_weighted)
  return [metric_types.MetricComputation(
      keys=[key], preprocessors=None, combiner=_MajorityMarginCombiner(key, eval_config))]


class _Accumulator:
  __slots__ = ["labels", "correct"]

  def __init__(self):
    self.labels = collections.Counter()
    self.correct = 0


class _MajorityMarginCombiner(beam.CombineFn):
  """Counts labels and correct argmax predictions (sparse integer labels)."""

  def __init__(self, key: metric_types.MetricKey, eval_config):
    self._key, self._eval_config = key, eval_config

  def create_accumulator(self) -> _Accumulator:
    return _Accumulator()

  def add_input(self, accumulator: _Accumulator,
                element: metric_types.StandardMetricInputs) -> _Accumulator:
    for label, prediction, _ in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, flatten=False):
      label = int(np.asarray(label).reshape(-1)[0])
      accumulator.labels[label] += 1
      accumulator.correct += int(int(np.argmax(np.asarray(prediction).reshape(-1))) == label)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
    accumulators = iter(accumulators)
    result = next(accumulators)
    for accumulator in accumulators:
      result.labels.update(accumulator.labels)
      result.correct += accumulator.correct
    return result

  def extract_output(self, accumulator: _Accumulator
                     ) -> Dict[metric_types.MetricKey, Optional[float]]:
    total = sum(accumulator.labels.values())
    if not total:
      return {self._key: float("nan")}
    majority = max(accumulator.labels.values()) / total
    return {self._key: accumulator.correct / total - majority}


# --- forecasting ------------------------------------------------------------------------

BASELINE_MARGIN = "baseline_margin"
# Features of each example holding a common-sense forecast of the same label.
BASELINE_FEATURES = ("persistence", "seasonal_naive")


class BaselineMargin(metric_types.Metric):
  """Best common-sense MAE minus the model's MAE on the same examples (positive: the model
  beats every baseline). Each baseline is a feature of the example, the forecast a naive
  rule makes of the same label (BASELINE_FEATURES: persistence, seasonal naive); their MAEs
  are reported too, as `<feature>_mae`."""

  def __init__(self, name: str = BASELINE_MARGIN):
    super().__init__(metric_util.merge_per_key_computations(_baseline_margin), name=name)


metric_types.register_metric(BaselineMargin)


def _baseline_margin(name: str = BASELINE_MARGIN, eval_config=None, model_name: str = "",
                     output_name: str = "", sub_key=None, aggregation_type=None,
                     class_weights=None, example_weighted: bool = False
                     ) -> metric_types.MetricComputations:
  def key(metric):
    return metric_types.MetricKey(name=metric, model_name=model_name, output_name=output_name,
                                  sub_key=sub_key, example_weighted=example_weighted)
  keys = [key(name)] + [key(f"{f}_mae") for f in BASELINE_FEATURES]
  return [metric_types.MetricComputation(
      keys=keys, preprocessors=[metric_types.FeaturePreprocessor(
          feature_keys=list(BASELINE_FEATURES))],
      combiner=_BaselineMarginCombiner(keys, model_name, output_name, eval_config))]


class _BaselineMarginCombiner(beam.CombineFn):
  """Sums of absolute errors of the model and of each baseline present in the examples."""

  def __init__(self, keys, model_name, output_name, eval_config):
    self._keys, self._model_name, self._output_name = keys, model_name, output_name
    self._eval_config = eval_config

  def create_accumulator(self) -> dict:
    return {"n": 0, "model": 0.0, **{f: [0, 0.0] for f in BASELINE_FEATURES}}

  def add_input(self, accumulator: dict, element: metric_types.StandardMetricInputs) -> dict:
    features = element.features or {}
    for label, prediction, _ in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._model_name,
        output_name=self._output_name, flatten=False):
      label = float(np.asarray(label).reshape(-1)[0])
      accumulator["n"] += 1
      accumulator["model"] += abs(float(np.asarray(prediction).reshape(-1)[0]) - label)
      for name in BASELINE_FEATURES:
        value = features.get(name)
        if value is not None and np.asarray(value).size:
          accumulator[name][0] += 1
          accumulator[name][1] += abs(float(np.asarray(value).reshape(-1)[0]) - label)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[dict]) -> dict:
    accumulators = iter(accumulators)
    result = next(accumulators)
    for other in accumulators:
      result["n"] += other["n"]
      result["model"] += other["model"]
      for name in BASELINE_FEATURES:
        result[name][0] += other[name][0]
        result[name][1] += other[name][1]
    return result

  def extract_output(self, accumulator: dict
                     ) -> Dict[metric_types.MetricKey, Optional[float]]:
    n = accumulator["n"]
    maes = {name: accumulator[name][1] / accumulator[name][0]
            for name in BASELINE_FEATURES if accumulator[name][0] == n and n}
    margin = (min(maes.values()) - accumulator["model"] / n) if maes else float("nan")
    return {self._keys[0]: margin,
            **{key: maes.get(name, float("nan"))
               for key, name in zip(self._keys[1:], BASELINE_FEATURES)}}
