"""ModelCardGen: after the Pusher, the model card of this run's model (executor.py)."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifacts import IngestReport, ModelCard
from components.model_card import executor


class ModelCardGenSpec(ComponentSpec):
  PARAMETERS = {executor.CARD_CONFIG_KEY: ExecutionParameter(type=str)}
  INPUTS = {
      executor.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
      executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
      executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
      executor.INGEST_REPORT_KEY: ChannelParameter(type=IngestReport),
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
      executor.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model,
                                                    optional=True),
  }
  OUTPUTS = {executor.MODEL_CARD_KEY: ChannelParameter(type=ModelCard)}


class ModelCardGen(base_component.BaseComponent):
  """Writes `model_card.json` and `model_card.md` into its artifact and, when the model was
  pushed, into the pushed model's version folder.

  Outputs:
    model_card: ModelCard, `{uri}/model_card.json` and `{uri}/model_card.md`.
  """
  SPEC_CLASS = ModelCardGenSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, pushed_model: types.BaseChannel, model_blessing: types.BaseChannel,
               model: types.BaseChannel, model_run: types.BaseChannel,
               evaluation: types.BaseChannel, ingest_report: types.BaseChannel,
               card_config: str, examples: Optional[types.BaseChannel] = None,
               baseline_model: Optional[types.BaseChannel] = None):
    super().__init__(ModelCardGenSpec(
        pushed_model=pushed_model, model_blessing=model_blessing, model=model,
        model_run=model_run, evaluation=evaluation, ingest_report=ingest_report,
        examples=examples, baseline_model=baseline_model, card_config=card_config,
        model_card=types.Channel(type=ModelCard)))
