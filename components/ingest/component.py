"""The component every folder ExampleGen shares: spec, driver, a FileBasedExampleGen subclass.

A task subclasses FolderExampleGen and sets EXECUTOR_SPEC. Being a FileBasedExampleGen with
an `input_config` whose pattern names drops (`span-{SPAN}/*/*`, `{YYYY}-{MM}-{DD}/*/*`), the
newest span is resolved by TFX's own driver: FileBasedDriver locally (below, with a content
fingerprint on top) and the Kubeflow V2 file-based driver on Vertex AI (the preCacheCheck
hook the compiler gives FileBasedExampleGen subclasses).
"""

import os
from typing import Optional

from tfx import types
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import base_beam_component
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifacts import IngestReport  # pylint: disable=unused-import
from components.ingest import executor, walk


class IngestSpec(ComponentSpec):
  """What every ExampleGen of the toolkit takes, whatever the shape of its data: the data
  root, TFX's input and range configs, the shared IngestConfig and the task's section."""
  PARAMETERS = {
      executor.INPUT_BASE_KEY: ExecutionParameter(type=str),
      # One split whose pattern names the drop layout; the driver resolves {SPAN}.
      standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Input),
      standard_component_specs.RANGE_CONFIG_KEY: ExecutionParameter(
          type=range_config_pb2.RangeConfig, optional=True),
      executor.INGEST_CONFIG_KEY: ExecutionParameter(type=str),
      # The task's own config section (JSON), e.g. TextIngestConfig for text.
      executor.TASK_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      executor.INGEST_REPORT_KEY: ChannelParameter(type=IngestReport),
  }


class FolderExampleGenSpec(IngestSpec):
  """File-per-example data in class folders (image, text): adds the label vocabulary and the
  span cache of data drops. A table task's spec (time series) extends IngestSpec instead."""
  PARAMETERS = {
      **IngestSpec.PARAMETERS,
      # Under the pipeline root: the label vocabulary and the per-span ingestion cache.
      executor.VOCABULARY_KEY: ExecutionParameter(type=str, optional=True),
      executor.SPAN_CACHE_KEY: ExecutionParameter(type=str, optional=True),
  }


class ContentFingerprintDriver(example_gen_driver.FileBasedDriver):
  """TFX's FileBasedDriver (newest span, pattern resolved), with the data root's content
  fingerprint in place of its names-sizes-mtimes one (local runs).

  The fingerprint is an execution property, so TFX reuses a cached ingestion exactly when no
  file was added, removed or changed (content, not names and mtimes); unchanged files are
  not read again (the span cache's input manifest).
  """

  def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
    root = exec_properties[executor.INPUT_BASE_KEY]
    if not (walk.is_uri(root) or os.path.isdir(root)):
      walk.check_data_root(root)           # raises the message that says what to pass
    exec_properties = super().resolve_exec_properties(exec_properties, pipeline_info,
                                                      component_info)
    cache = exec_properties.get(executor.SPAN_CACHE_KEY)
    manifest = f"{os.path.dirname(cache.rstrip('/'))}/input_manifest.json" if cache else None
    exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = walk.content_fingerprint(
        root, manifest)
    return exec_properties


INPUT_SPLIT = "data"


class FolderExampleGen(FileBasedExampleGen):
  """Ingests a folder with one subfolder per class; a task subclass sets EXECUTOR_SPEC.

  Sorted class-folder names become label ids. Each distinct content is decided once by the
  task's checks (images: grouped by the fingerprint's hashes, then read and decided in
  batches by the Beam workers), split by its content hash, and written as a tf.Example. Files that
  cannot be used are listed with their reason in the ingest report.

  Outputs:
    examples: Examples with splits from `split_percentages` (train, validation, eval;
      70/10/20 by default).
    ingest_report: IngestReport with one record per file found.
  """
  SPEC_CLASS = FolderExampleGenSpec
  DRIVER_CLASS = ContentFingerprintDriver

  def __init__(self, input_base: str, ingest_config: str,
               input_pattern: str = "*/*",
               task_config: Optional[str] = None,
               vocabulary_uri: Optional[str] = None,
               span_cache_uri: Optional[str] = None,
               **task_parameters):
    # FileBasedExampleGen.__init__ builds the stock spec; this one has the toolkit's
    # parameters and outputs (a subclass's spec may declare more: the time series' windows).
    base_beam_component.BaseBeamComponent.__init__(self, self.SPEC_CLASS(
        input_base=input_base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=INPUT_SPLIT, pattern=input_pattern)]),
        ingest_config=ingest_config,
        task_config=task_config,
        # Only a spec that declares them takes them (FolderExampleGenSpec).
        **{key: value for key, value in ((executor.VOCABULARY_KEY, vocabulary_uri),
                                         (executor.SPAN_CACHE_KEY, span_cache_uri))
           if key in self.SPEC_CLASS.PARAMETERS or value is not None},
        **task_parameters,
        **{key: types.Channel(type=channel.type)
           for key, channel in self.SPEC_CLASS.OUTPUTS.items()}))
