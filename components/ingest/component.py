"""The component every folder ExampleGen shares: spec, IngestReport artifact, the
content-fingerprint driver. A task subclasses FolderExampleGen and sets EXECUTOR_SPEC."""

import os
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import base_driver
from tfx.orchestration.portable import base_driver as ir_base_driver
from tfx.orchestration.portable import data_types as portable_data_types
from tfx.proto.orchestration import driver_output_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.ingest import executor, walk


class IngestReport(types.Artifact):
  """Per-file outcomes of an ingestion: `{uri}/ingest_report.json` and `.md`."""
  TYPE_NAME = "IngestReport"


class FolderExampleGenSpec(ComponentSpec):
  PARAMETERS = {
      executor.INPUT_BASE_KEY: ExecutionParameter(type=str),
      executor.INGEST_CONFIG_KEY: ExecutionParameter(type=str),
      # The task's own config section (JSON), e.g. TextConfig for text.
      executor.TASK_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
      # Filled in by the driver before the cache lookup; see ContentFingerprintDriver.
      executor.INPUT_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
      # Under the pipeline root: the label vocabulary and the per-span ingestion cache.
      executor.VOCABULARY_KEY: ExecutionParameter(type=str, optional=True),
      executor.SPAN_CACHE_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      executor.INGEST_REPORT_KEY: ChannelParameter(type=IngestReport),
  }


class ContentFingerprintDriver(base_driver.BaseDriver, ir_base_driver.BaseDriver):
  """Fingerprints the data root's paths and file contents before the cache lookup.

  The fingerprint becomes an execution property, so TFX reuses a cached ingestion exactly
  when no file was added, removed or changed (content, not names and mtimes).
  """

  def run(self, execution_info: portable_data_types.ExecutionInfo
          ) -> driver_output_pb2.DriverOutput:
    result = driver_output_pb2.DriverOutput()
    root = execution_info.exec_properties[executor.INPUT_BASE_KEY]
    if not os.path.isdir(root):
      walk.check_data_root(root)                  # raises the message that says what to pass
    cache = execution_info.exec_properties.get(executor.SPAN_CACHE_KEY)
    manifest = (os.path.join(os.path.dirname(cache), "input_manifest.json")
                if cache and "://" not in cache else None)
    fingerprint = walk.content_fingerprint(root, manifest)
    result.exec_properties[executor.INPUT_FINGERPRINT_KEY].string_value = fingerprint
    return result


class FolderExampleGen(base_beam_component.BaseBeamComponent):
  """Ingests a folder with one subfolder per class; a task subclass sets EXECUTOR_SPEC.

  Sorted class-folder names become label ids. Each file is read once, its content decided by
  the task's checks, split by its content hash, and written as a tf.Example. Files that
  cannot be used are listed with their reason in the ingest report.

  Outputs:
    examples: Examples with splits from `split_percentages` (train, validation, eval;
      70/10/20 by default).
    ingest_report: IngestReport with one record per file found.
  """
  SPEC_CLASS = FolderExampleGenSpec
  DRIVER_CLASS = ContentFingerprintDriver

  def __init__(self, input_base: str, ingest_config: str,
               task_config: Optional[str] = None,
               input_fingerprint: Optional[str] = None,
               vocabulary_uri: Optional[str] = None,
               span_cache_uri: Optional[str] = None):
    # A subclass's spec may declare more outputs (time series: the eval windows).
    super().__init__(self.SPEC_CLASS(
        input_base=input_base,
        ingest_config=ingest_config,
        task_config=task_config,
        input_fingerprint=input_fingerprint,
        vocabulary_uri=vocabulary_uri,
        span_cache_uri=span_cache_uri,
        **{key: types.Channel(type=channel.type)
           for key, channel in self.SPEC_CLASS.OUTPUTS.items()}))
