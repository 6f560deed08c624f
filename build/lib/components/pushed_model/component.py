"""LatestPushedModel: the latest blessed model from the push destination (no resolver)."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.pushed_model import executor


class LatestPushedModelSpec(ComponentSpec):
  PARAMETERS = {executor.PUSH_DESTINATION_KEY: ExecutionParameter(type=str)}
  INPUTS = {executor.CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model,
                                                     optional=True)}
  OUTPUTS = {executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class LatestPushedModel(base_component.BaseComponent):
  """Copies the newest model the Pusher wrote under `push_destination` into a Model artifact.

  It stands in for TFX's latest-blessed-model Resolver where resolvers do not run (the
  open-source KFP v2 backend): a pushed model is a blessed one. With `candidate` (the
  Trainer's model) it is the Evaluator's baseline, falling back to the candidate itself on
  the first run or when the label vocabulary changed. See executor.py.

  Outputs:
    model: Model (`{uri}/Format-Serving/`), empty when nothing was pushed and no candidate.
  """
  SPEC_CLASS = LatestPushedModelSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, push_destination: str, candidate: Optional[types.BaseChannel] = None):
    super().__init__(LatestPushedModelSpec(
        push_destination=push_destination, candidate=candidate,
        model=types.Channel(type=standard_artifacts.Model)))
