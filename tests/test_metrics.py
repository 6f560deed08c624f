"""The majority-margin and baseline-margin TFMA metrics on hand-made inputs."""

import numpy as np
import pytest

from tensorflow_model_analysis.metrics import metric_types

from trainer.common import metrics


def margin(pairs):
  computation = metrics._majority_margin()[0]
  combiner = computation.combiner
  accumulators = []
  for half in (pairs[::2], pairs[1::2]):     # merging works across workers
    acc = combiner.create_accumulator()
    for label, probabilities in half:
      acc = combiner.add_input(acc, metric_types.StandardMetricInputs(
          label=np.array([label]), prediction=np.array(probabilities),
          example_weight=np.array([1.0])))
    accumulators.append(acc)
  return combiner.extract_output(combiner.merge_accumulators(accumulators))[
      computation.keys[0]]


def test_majority_predictor_scores_zero_and_a_better_one_scores_above():
  labels = [0] * 6 + [1] * 3 + [2]
  always_zero = [(y, [0.8, 0.1, 0.1]) for y in labels]
  assert margin(always_zero) == pytest.approx(0.0)
  perfect = [(y, np.eye(3)[y] * 0.9 + 0.03) for y in labels]
  assert margin(perfect) == pytest.approx(1.0 - 0.6)
  wrong = [(y, np.eye(3)[(y + 1) % 3]) for y in labels]
  assert margin(wrong) == pytest.approx(-0.6)


def baseline_margin(rows, with_seasonal=True):
  """rows: (label, prediction, persistence, seasonal)."""
  computation = metrics._baseline_margin()[0]
  combiner = computation.combiner
  accumulators = []
  for half in (rows[::2], rows[1::2]):
    acc = combiner.create_accumulator()
    for label, prediction, persistence, seasonal in half:
      features = {"persistence": np.array([persistence])}
      if with_seasonal:
        features["seasonal_naive"] = np.array([seasonal])
      acc = combiner.add_input(acc, metric_types.StandardMetricInputs(
          label=np.array([label]), prediction=np.array([prediction]),
          example_weight=np.array([1.0]), features=features))
    accumulators.append(acc)
  out = combiner.extract_output(combiner.merge_accumulators(accumulators))
  return {key.name: value for key, value in out.items()}


def test_baseline_margin_is_the_best_baseline_mae_minus_the_model_mae():
  rows = [(10.0, 10.5, 12.0, 11.0), (20.0, 19.0, 17.0, 21.0), (5.0, 5.0, 5.0, 8.0)]
  out = baseline_margin(rows)
  assert out["persistence_mae"] == pytest.approx((2 + 3 + 0) / 3)
  assert out["seasonal_naive_mae"] == pytest.approx((1 + 1 + 3) / 3)
  model_mae = (0.5 + 1 + 0) / 3
  assert out["baseline_margin"] == pytest.approx(5 / 3 - model_mae)
  # A model that is the persistence forecast has no margin over it.
  assert baseline_margin([(y, p, p, s) for y, _, p, s in rows])["baseline_margin"] <= 0
  only_persistence = baseline_margin(rows, with_seasonal=False)
  assert np.isnan(only_persistence["seasonal_naive_mae"])
  assert only_persistence["baseline_margin"] == pytest.approx(5 / 3 - model_mae)
