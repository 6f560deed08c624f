"""Runs the pipeline in-process with TFX's LocalDagRunner and Beam's DirectRunner."""

from tfx import v1 as tfx

import pipeline_config
from pipeline import factory, run_summary


def run(config: pipeline_config.PipelineConfig) -> dict:
  """Runs the whole pipeline once and returns (and writes) the last_run.json summary."""
  tfx.orchestration.LocalDagRunner().run(factory.create_pipeline(config))
  summary = run_summary.summarise(config)
  run_summary.write(summary, config.last_run_path)
  return summary
