"""Runs the pipeline in-process with TFX's LocalDagRunner and Beam's DirectRunner."""

import os
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
  task = tasks.get_task(config.task)
  if task.baseline_skip:
    reason = tasks.load(task.baseline_skip)(config)
    if reason or not task.has_classes:
      return reason
  if not task.has_classes:
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
  check_metadata_store(config)
  previous_run = run_summary.latest_run_id(config)
  try:
    skip = baseline_skip_reason(config)
    pipeline = factory.create_pipeline(config, compare_with_baseline=skip is None)
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except Exception as error:
    # The vocabulary and drift baseline are committed by the pipeline's last step
    # (StateCommit) only when the model is served: a failed run leaves them as they were.
    _write_failed_summary(config, error, previous_run)
    raise
  summary = run_summary.summarise(config, previous_run)
  summary["baseline_skipped"] = skip
  run_summary.write(summary, config.last_run_path)
  return summary


def check_metadata_store(config: pipeline_config.PipelineConfig) -> None:
  """Stops before anything is written when the pipeline root holds outputs but the MLMD
  store that records them is gone: TFX would number executions from 1 again and overwrite
  those folders in place (or stop with AlreadyExistsError halfway)."""
  root = config.pipeline_root
  if os.path.exists(config.metadata_path) or not os.path.isdir(root):
    return
  # TFX writes <root>/<node id>/<output key>/<execution id>/; the pipeline's own state
  # (<root>/<pipeline name>/: vocabulary, span cache, gate history) is not an output.
  outputs = sorted({node for node in os.listdir(root) for key in _folders(root, node)
                    if any(e.isdigit() for e in _folders(root, node, key))})
  if outputs:
    raise pipeline_config.ToolkitError(
        f"The work dir {config.work_dir} holds pipeline outputs ({root}: "
        f"{', '.join(outputs[:5])}{', ...' if len(outputs) > 5 else ''}) but not the "
        f"metadata store that records them ({config.metadata_path}). A run would number its "
        "outputs from 1 again and overwrite them. Put metadata.sqlite back, or start afresh "
        f"with another --work-dir (or move {root} away).")


def _folders(*parts) -> list:
  path = os.path.join(*parts)
  return [e for e in os.listdir(path) if os.path.isdir(os.path.join(path, e))] if (
      os.path.isdir(path)) else []


def _write_failed_summary(config: pipeline_config.PipelineConfig, error: Exception,
                          previous_run: int) -> None:
  """last_run.json for a failed run: what this run recorded, or (when it failed before
  anything ran) nothing blessed, nothing pushed, and the error."""
  try:
    summary = run_summary.summarise(config, previous_run)
  except pipeline_config.ToolkitError:
    summary = {"task": config.task, "blessed": False, "pushed_model": None, "model": None,
               "metrics": {}, "ingest": {}, "span": 0, "run_id": None}
  summary["error"] = str(error)
  run_summary.write(summary, config.last_run_path)
