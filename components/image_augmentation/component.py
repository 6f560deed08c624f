"""ImageAugmentation: augments the train split (offline or online); eval passes untouched."""

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.image_augmentation import executor


class ImageAugmentationSpec(ComponentSpec):
  PARAMETERS = {executor.AUGMENTATION_CONFIG_KEY: ExecutionParameter(type=str),
                executor.AUGMENTER_KEY: ExecutionParameter(type=str)}
  INPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {executor.AUGMENTED_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class ImageAugmentation(base_beam_component.BaseBeamComponent):
  """The augmentation step, its parameters recorded in MLMD as an execution property.

  mode 'offline' writes K seeded variants of every training image (the feature cache reuses
  them across epochs and runs); 'online' passes the train split through and the trainer draws
  new transforms every epoch; 'off' passes everything through. Eval is copied byte for byte.
  Every run writes augmentation_preview.png.

  Outputs:
    augmented_examples: Examples with the same splits and label vocabulary.
  """
  SPEC_CLASS = ImageAugmentationSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, augmentation_config: str, augmenter: str):
    """`augmenter`: the module drawing the transforms (Augmenter, variant_seed), e.g. the
    Trainer's "trainer.image.augmentation"."""
    super().__init__(ImageAugmentationSpec(
        examples=examples, augmentation_config=augmentation_config, augmenter=augmenter,
        augmented_examples=types.Channel(type=standard_artifacts.Examples)))
