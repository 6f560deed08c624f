"""TextExampleGen: a TFX component that ingests `<root>/<class>/<document>` folders."""

from tfx.dsl.components.base import executor_spec

from components.ingest.component import FolderExampleGen
from components.text_example_gen import executor


class TextExampleGen(FolderExampleGen):
  """Ingests a folder of documents with one subfolder per class (any file names; the
  content decides): decoded to Unicode (UTF-8, BOMs, an optional fallback encoding), NFC,
  truncated to max_chars; binary, empty and undecodable files rejected with their reason.
  `task_config` is a TextIngestConfig as JSON.

  Outputs:
    examples: Examples {text, label, label_name, sha256} in train, validation and eval.
    ingest_report: IngestReport with one record per file found.
  """
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
