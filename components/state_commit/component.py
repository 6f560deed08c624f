"""StateCommit: right after the Pusher on every orchestrator (only the model card follows);
commits the label vocabulary and the drift baseline of a run whose model is served
(executor.py says why)."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifacts import DataGateResult, StateCommitRecord
from components.state_commit import executor


class StateCommitSpec(ComponentSpec):
  PARAMETERS = {
      executor.HISTORY_DIR_KEY: ExecutionParameter(type=str),
      executor.VOCABULARY_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      executor.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
      executor.GATE_RESULT_KEY: ChannelParameter(type=DataGateResult),
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {executor.COMMIT_KEY: ChannelParameter(type=StateCommitRecord)}


class StateCommit(base_component.BaseComponent):
  """Writes this run's vocabulary (the examples' labels.json) and data profile (the
  DataGate's) to the pipeline's state, when the Pusher pushed the model or found it served.

  Outputs:
    commit: StateCommitRecord, `{uri}/commit.json` saying what was committed.
  """
  SPEC_CLASS = StateCommitSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, pushed_model: types.BaseChannel, gate_result: types.BaseChannel,
               history_dir: str, examples: Optional[types.BaseChannel] = None,
               vocabulary_uri: Optional[str] = None):
    super().__init__(StateCommitSpec(
        pushed_model=pushed_model, gate_result=gate_result, history_dir=history_dir,
        examples=examples, vocabulary_uri=vocabulary_uri,
        commit=types.Channel(type=StateCommitRecord)))
