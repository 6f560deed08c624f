"""The majority-margin TFMA metric on hand-made inputs."""

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
