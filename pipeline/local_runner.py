"""Runs the pipeline in-process with TFX's LocalDagRunner and Beam's DirectRunner."""

from tfx import v1 as tfx

import pipeline_config
from pipeline import factory, run_summary


def run(config: pipeline_config.PipelineConfig) -> dict:
  """Runs the whole pipeline once and returns (and writes) the last_run.json summary.

  A failed run (a breached data gate, missing weights, ...) still writes last_run.json, with
  the message under "error", before the exception propagates.
  """
  pipeline = factory.create_pipeline(config)
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except Exception as error:
    _write_failed_summary(config, error)
    raise
  summary = run_summary.summarise(config)
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
