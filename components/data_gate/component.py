"""DataGate: blocks the pipeline before training when the data breaches a quality gate."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifacts import DataGateResult, IngestReport
from components.data_gate import executor


class DataGateSpec(ComponentSpec):
  PARAMETERS = {
      executor.GATE_CONFIG_KEY: ExecutionParameter(type=str),
      executor.HISTORY_DIR_KEY: ExecutionParameter(type=str),
      executor.GATE_FAMILIES_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      executor.INGEST_REPORT_KEY: ChannelParameter(type=IngestReport),
      executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
      # Data drops: the latest blessed model judges the newest span's labels.
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
      executor.BLESSED_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model,
                                                   optional=True),
  }
  OUTPUTS = {executor.GATE_RESULT_KEY: ChannelParameter(type=DataGateResult)}


class DataGate(base_component.BaseComponent):
  """Judges the ingest report, ExampleValidator's anomalies and drift since the last drop.

  Gates (pipeline_config.GateConfig): rejected fraction, kept files per class, class imbalance,
  label conflicts, TFDV anomalies, label/format/size drift, and with data drops the label
  agreement of the latest blessed model on the newest span. The stock ExampleValidator only
  records anomalies; this component fails the run, so nothing downstream executes.

  Outputs:
    gate_result: DataGateResult with the figures of every gate.
  """
  SPEC_CLASS = DataGateSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, ingest_report: types.BaseChannel, anomalies: types.BaseChannel,
               gate_config: str, history_dir: str,
               examples: Optional[types.BaseChannel] = None,
               blessed_model: Optional[types.BaseChannel] = None,
               gate_families: Optional[str] = None):
    """`gate_families`: the task's gate families, comma-separated (gates.FAMILIES); None:
    those the ingest report shows (what a pipeline compiled before the property did)."""
    super().__init__(DataGateSpec(
        ingest_report=ingest_report, anomalies=anomalies, gate_config=gate_config,
        gate_families=gate_families,
        history_dir=history_dir, examples=examples, blessed_model=blessed_model,
        gate_result=types.Channel(type=DataGateResult)))
