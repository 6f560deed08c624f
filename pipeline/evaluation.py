"""The Evaluator's blessing rules, one per kind of evaluation a task names
(pipeline/tasks/ Task.evaluation): "classification" and "forecast"."""

import tensorflow_model_analysis as tfma

import pipeline_config
from schemas import contracts
from trainer.common import export, metrics


def eval_config(config: pipeline_config.EvalConfig, task) -> tfma.EvalConfig:
  """The blessing rules of `task` (a pipeline/tasks Task)."""
  return KINDS[task.evaluation](config, task)


PER_CLASS_FEATURE = contracts.PER_CLASS_FEATURE
PER_SERIES_FEATURE = contracts.PER_SERIES_FEATURE


def _options() -> tfma.Options:
  """Confidence intervals on every metric (TFMA's jackknife, 20 buckets): last_run.json shows
  when an eval split is too small to tell two models apart. Blessing uses the point
  estimates (ValueWithTDistribution's float is the unsampled value)."""
  return tfma.Options(
      compute_confidence_intervals={"value": True},
      confidence_intervals=tfma.ConfidenceIntervalOptions(
          method=tfma.ConfidenceIntervalOptions.JACKKNIFE))


def forecast_eval_config(config: pipeline_config.EvalConfig, task=None) -> tfma.EvalConfig:
  """MAE on the eval windows (lower is better): below the best common-sense baseline's on the
  same windows (`baseline_margin` > 0), and at most `max_mae_increase` above the latest
  blessed model's (not applied on the first run). MAE per series is reported."""
  overall = tfma.SlicingSpec()
  # No confidence intervals here: under TFMA's jackknife the recorded baseline_margin was no
  # longer min(persistence, seasonal naive) - MAE of the recorded figures (0.8115 against
  # 0.8155 on the demo), so the blessing figures would not add up.
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=export.EXAMPLES_SIGNATURE,
                                  label_key="target", prediction_key="forecast")],
      slicing_specs=[overall, tfma.SlicingSpec(feature_keys=[PER_SERIES_FEATURE])],
      metrics_specs=[tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name="ExampleCount"),
          tfma.MetricConfig(
              class_name="MeanAbsoluteError",
              per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                  slicing_specs=[overall],
                  threshold=tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
                      direction=tfma.MetricDirection.LOWER_IS_BETTER,
                      absolute={"value": config.max_mae_increase + 1e-10})))]),
          tfma.MetricConfig(
              class_name="BaselineMargin", module=metrics.__name__,
              per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                  slicing_specs=[overall],
                  threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                      lower_bound={"value": 1e-9})))]),
      ])])


def classification_eval_config(config: pipeline_config.EvalConfig,
                               task) -> tfma.EvalConfig:
  """Accuracy lower bound, and no more than `max_accuracy_drop` below the baseline, on the
  whole eval split; accuracy per `label_name` slice, which is each class's recall, with an
  optional `min_class_recall` lower bound.

  Without a blessed baseline (the first run) the change threshold is not applied. A
  MetricConfig.threshold would apply to every slice, so each threshold names its slices.
  """
  overall, per_class = tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[PER_CLASS_FEATURE])
  thresholds = [tfma.PerSliceMetricThreshold(
      slicing_specs=[overall],
      threshold=tfma.MetricThreshold(
          value_threshold=tfma.GenericValueThreshold(
              lower_bound={"value": config.min_accuracy_or(task.min_accuracy)}),
          change_threshold=tfma.GenericChangeThreshold(
              direction=tfma.MetricDirection.HIGHER_IS_BETTER,
              absolute={"value": -config.max_accuracy_drop - 1e-10})))]
  if config.min_class_recall is not None:
    thresholds.append(tfma.PerSliceMetricThreshold(
        slicing_specs=[per_class],
        threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.min_class_recall}))))
  return tfma.EvalConfig(
      options=_options(),
      model_specs=[tfma.ModelSpec(signature_name=export.EXAMPLES_SIGNATURE,
                                  label_key="label", prediction_key="probabilities")],
      slicing_specs=[overall, per_class],
      metrics_specs=[tfma.MetricsSpec(metrics=[
          tfma.MetricConfig(class_name="ExampleCount"),
          tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                            per_slice_thresholds=thresholds),
          tfma.MetricConfig(
              class_name="MajorityMargin", module=metrics.__name__,
              per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                  slicing_specs=[overall],
                  threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                      lower_bound={"value": 1e-9})))]),
      ])])


KINDS = {"classification": classification_eval_config, "forecast": forecast_eval_config}
