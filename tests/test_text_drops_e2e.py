"""End to end for text drops (issue 22): the BBC News corpus arriving in two spans; the second
run ingests only span 2 and starts from the blessed model (each token's weights follow it
into the new vocabulary)."""

import json
import os
import shutil

import pytest

from pipeline import demo_data, local_runner
from tests.serving_client import demo_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("bbc") / "all")
  demo_data.write_bbc_news(root)
  return root


def deal(corpus, span_root, part):
  """Every other document of each topic (part 0 or 1) into span_root/<topic>/."""
  for topic in sorted(os.listdir(corpus)):
    os.makedirs(os.path.join(span_root, topic), exist_ok=True)
    for name in sorted(os.listdir(os.path.join(corpus, topic)))[part::2]:
      shutil.copy(os.path.join(corpus, topic, name), os.path.join(span_root, topic, name))


def test_the_second_text_drop_is_ingested_alone_and_warm_started(corpus, tmp_path):
  config = demo_config("text_demo_config.py", str(tmp_path / "data"), tmp_path / "work")
  deal(corpus, os.path.join(config.data_root, "span-1"), 0)
  first = local_runner.run(config)
  assert first["blessed"] and first["warm_started_from"] is None
  deal(corpus, os.path.join(config.data_root, "span-2"), 1)
  second = local_runner.run(config)
  assert (second["span"], second["window"], second["spans_ingested"]) == (2, [1, 2], [2])
  assert second["warm_started_from"] == second["baseline_model"]
  with open(os.path.join(os.path.dirname(second["tensorboard"]), "warm_start.json")) as f:
    record = json.load(f)
  assert "vocabulary entries' weights reused" in record["mode"]
  assert second["metrics"]["accuracy"] >= 0.9
