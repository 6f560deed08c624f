"""BatchInference: after each blessed run, the served model scores an unlabelled folder
(`run --infer-root DIR`), recorded in MLMD as an InferenceResult (executor.py).

TFX's BulkInferrer scores tf.Examples; this step scores the files as a client has them
(original bytes, raw documents, CSV windows) through the serving signature, so its rows are
`predict`'s, row for row."""

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.inference import executor


class BatchInferenceSpec(ComponentSpec):
  PARAMETERS = {
      executor.INFER_ROOT_KEY: ExecutionParameter(type=str),
      executor.TOP_K_KEY: ExecutionParameter(type=int, optional=True),
      executor.BATCH_SIZE_KEY: ExecutionParameter(type=int, optional=True),
  }
  INPUTS = {executor.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel)}
  OUTPUTS = {executor.INFERENCE_RESULT_KEY: ChannelParameter(
      type=standard_artifacts.InferenceResult)}


class BatchInference(base_beam_component.BaseBeamComponent):
  """Scores every file under `infer_root` with the model this run pushed.

  Outputs:
    inference_result: InferenceResult, `{uri}/rows-SSSSS-of-NNNNN.jsonl` (predict's rows) and
      `{uri}/summary.json` (model, files, rows, errors; or why nothing was scored).
  """
  SPEC_CLASS = BatchInferenceSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, pushed_model: types.BaseChannel, infer_root: str, top_k: int = 3,
               batch_size: int = 64):
    super().__init__(BatchInferenceSpec(
        pushed_model=pushed_model, infer_root=infer_root, top_k=top_k, batch_size=batch_size,
        inference_result=types.Channel(type=standard_artifacts.InferenceResult)))
