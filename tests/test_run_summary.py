"""last_run.json's verdict: the thresholds a model actually failed, with their figures, and one
majority-class baseline (the one the Evaluator's majority_margin subtracts)."""

import os

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import validation_result_pb2

from components.model_card import figures
from pipeline import cli


def _write_validation(folder, failures):
  result = validation_result_pb2.ValidationResult(validation_ok=not failures)
  per_slice = result.metric_validations_per_slice.add()
  for name, value, threshold in failures:
    failure = per_slice.failures.add()
    failure.metric_key.name = name
    failure.metric_value.double_value.value = value
    failure.metric_threshold.CopyFrom(threshold)
  os.makedirs(folder, exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(folder, "validations.tfrecord")) as writer:
    writer.write(result.SerializeToString())


def test_only_the_thresholds_that_failed_are_named_with_their_figures(tmp_path, capsys):
  minimum = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
      lower_bound={"value": 0.6}))
  margin = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
      lower_bound={"value": 1e-9}))
  _write_validation(str(tmp_path / "eval"), [("sparse_categorical_accuracy", 0.458, minimum),
                                             ("majority_margin", 0.0, margin)])
  failed = figures.failed_thresholds(str(tmp_path / "eval"))
  assert [(f["metric"], f["value"], f["kind"]) for f in failed] == [
      ("accuracy", 0.458, "value"), ("majority_margin", 0.0, "value")]
  assert "eval accuracy is 0.4580; it had to be at least 0.6000" == failed[0]["reason"]
  assert "margin over the majority class is 0.0000" in failed[1]["reason"]

  summary = {"metrics": {"accuracy": 0.458}, "ingest": {}, "pushed_model": None,
             "blessed": False, "failed_thresholds": failed}
  config = type("Config", (), {"last_run_path": "x", "task": "image"})()
  cli._print_summary(summary, config)  # pylint: disable=protected-access
  printed = capsys.readouterr().out
  assert "eval accuracy is 0.4580; it had to be at least 0.6000" in printed
  assert "worse than the last blessed model" not in printed
  assert "against the last blessed model" not in printed


def test_a_change_threshold_is_reported_against_the_last_blessed_model(tmp_path):
  change = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
      direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": 0.0}))
  _write_validation(str(tmp_path), [("sparse_categorical_accuracy", -0.011, change)])
  failed, = figures.failed_thresholds(str(tmp_path))
  assert failed["kind"] == "change" and failed["value"] == -0.011
  assert "changed by -0.0110 against the last blessed model" in failed["reason"]


def test_no_validation_record_means_no_failed_threshold(tmp_path):
  assert figures.failed_thresholds(str(tmp_path)) == []


def test_the_majority_baseline_is_the_eval_splits_most_frequent_class_share():
  # The train split's most frequent class (a) is not the eval split's (b): the Evaluator's
  # majority_margin subtracts b's share, so the printed baseline must be that share too.
  report = {"per_class_split": {"a": {"train": 50, "eval": 10},
                                "b": {"train": 30, "eval": 14},
                                "c": {"train": 20, "eval": 6}}}
  assert figures.majority_accuracy(report) == 14 / 30
  assert figures.majority_accuracy({"per_class_split": {}}) is None


def test_accuracy_intervals_stay_honest_on_a_perfect_small_split():
  """The jackknife gave 1.0-1.0 for 29 of 29 photos right; the Wilson interval does not."""
  low, high = figures.wilson_interval(1.0, 29)
  assert high == 1.0 and 0.87 < low < 0.89
  low, high = figures.wilson_interval(0.9761, 377)
  assert low < 0.9761 < high and high - low < 0.04
