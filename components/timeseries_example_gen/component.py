"""TimeseriesExampleGen: a TFX component that ingests CSV series (one series per file)."""

from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.ingest import executor as ingest_executor
from components.ingest.component import FolderExampleGen, IngestSpec
from components.timeseries_example_gen import executor


class TimeseriesExampleGenSpec(IngestSpec):
  """A table task's spec: no label vocabulary; the span cache keeps each span's parsed files."""
  PARAMETERS = {
      **IngestSpec.PARAMETERS,
      # The push destination: the newest served model's assets/features.json is the
      # feature contract a new data root is matched to by name.
      executor.SERVED_MODELS_KEY: ExecutionParameter(type=str, optional=True),
      # Data drops: each span's parsed files, kept under the pipeline root.
      ingest_executor.SPAN_CACHE_KEY: ExecutionParameter(type=str, optional=True),
  }
  OUTPUTS = {
      **IngestSpec.OUTPUTS,
      executor.WINDOWS_KEY: ChannelParameter(type=standard_artifacts.Examples),
  }


class TimeseriesExampleGen(FolderExampleGen):
  """Ingests `<root>/**/<series>.csv`: a header row, a time column, numeric columns. With
  data drops (`<root>/span-<N>/<series>.csv`), the files of one name across the window's spans
  are one series in time order (a newer span's row wins where timestamps repeat).

  Rows are restored to time order, deduplicated, put on the inferred sampling grid and short
  gaps interpolated; every finding is in the ingest report with its line numbers. Each series
  is split by time (first 70% train, next 10% validation, last 20% eval). `task_config` is a
  TimeseriesConfig as JSON.

  Outputs:
    examples: Examples, one per kept time step, in train, validation and eval.
    windows: Examples, one per eval window (raw values, target and both common-sense
      forecasts); the Evaluator judges these.
    ingest_report: IngestReport with one record per file found.
  """
  SPEC_CLASS = TimeseriesExampleGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
