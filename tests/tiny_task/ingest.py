"""ByteExampleGen: the shared file-per-example ingestion with the bytes task's checks."""

from tfx.dsl.components.base import executor_spec

import pipeline_config
from components.ingest import executor as ingest_executor, records
from components.ingest.component import FolderExampleGen
from components.ingest.task import IngestTask
from tests.tiny_task import sections


class ByteIngest(IngestTask):
  name = "ByteExampleGen"
  task = "bytes"
  raw_content_key = True           # the content key is the file's sha256

  def parse_options(self, ingest, task_config):
    own = pipeline_config.from_dict(sections.BytesIngestConfig, task_config or {})
    own.validate()
    ingest.max_file_bytes = min(ingest.max_file_bytes, own.max_bytes)
    return ingest

  def decide(self, record, options):
    expected = record.sha256
    data = records.read_file(record, options.max_file_bytes)
    if data is None:
      if record.reason.startswith("file_too_large"):
        record.reason = "too_long: " + record.reason
      return record
    if record.sha256 != expected:
      return records.changed_since_listing(record)
    record.encoded = data
    record.outcome, record.reason = records.INGESTED, ""
    return record

  def example_features(self, record) -> dict:
    return {"content": record.encoded}


class Executor(ingest_executor.Executor):
  TASK = ByteIngest()


class ByteExampleGen(FolderExampleGen):
  """Examples {content, label, label_name, sha256}."""
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
