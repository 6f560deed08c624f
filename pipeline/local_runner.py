"""Runs the pipeline in-process with TFX's LocalDagRunner and Beam's DirectRunner."""

import unicodedata
from typing import Optional

from tfx import v1 as tfx

import pipeline_config
from components.ingest import spans as span_lib, vocabulary
from pipeline import factory, run_summary, tasks


def baseline_skip_reason(config: pipeline_config.PipelineConfig) -> Optional[str]:
  """Why this run must not be compared with the last blessed model (the label vocabulary
  grows), or None; raises ToolkitError for a new class under on_new_class=fail, before
  anything runs. The ExampleGen enforces the same rule (on Kubeflow too)."""
  if not tasks.get_task(config.task).has_classes:
    return None
  chosen = span_lib.window(span_lib.detect_spans(config.data_root), config.ingest.window)
  classes = {unicodedata.normalize("NFC", name) for span in chosen
             for name in span_lib.entries(span.root(config.data_root))[1]}
  previous = vocabulary.read(factory.vocabulary_uri(config))
  added = vocabulary.new_classes(previous, sorted(classes), chosen[-1].number,
                                 config.ingest.on_new_class)
  if previous and added:
    return (f"the label vocabulary grows by {', '.join(added)} (--on-new-class extend): the "
            "last blessed model has no output for them, so the Evaluator judges this model "
            "on its own thresholds only")
  return None


def run(config: pipeline_config.PipelineConfig) -> dict:
  """Runs the whole pipeline once and returns (and writes) the last_run.json summary.

  A failed run (a breached data gate, missing weights, ...) still writes last_run.json, with
  the message under "error", before the exception propagates.
  """
  config.validate()
  vocabulary_uri = factory.vocabulary_uri(config)
  before = vocabulary.read(vocabulary_uri)
  try:
    skip = baseline_skip_reason(config)
    pipeline = factory.create_pipeline(config, compare_with_baseline=skip is None)
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except Exception as error:
    # A failed run leaves the vocabulary as it found it: a class is only added by a run
    # that completes, so a failed first run or a failed --on-new-class extend run is
    # decided again next time.
    if vocabulary.read(vocabulary_uri) != before:
      vocabulary.restore(vocabulary_uri, before)
    _write_failed_summary(config, error)
    raise
  summary = run_summary.summarise(config)
  summary["baseline_skipped"] = skip
  run_summary.write(summary, config.last_run_path)
  return summary


def _write_failed_summary(config: pipeline_config.PipelineConfig, error: Exception) -> None:
  try:
    summary = run_summary.summarise(config)
  except pipeline_config.ToolkitError:
    summary = {"task": config.task, "blessed": False, "pushed_model": None, "metrics": {},
               "ingest": {}, "span": 0}
  summary["error"] = str(error)
  run_summary.write(summary, config.last_run_path)
