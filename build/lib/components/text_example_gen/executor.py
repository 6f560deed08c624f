"""TextExampleGen executor: the shared folder ingestion with the text checks.

Examples: tf.Example {text (UTF-8, NFC), label, label_name, sha256 (of the text)}, split by
content hash. Layout and keys: components/ingest/executor.py.
"""

from components.ingest import executor as ingest_executor
from components.text_example_gen import text_checks


class Executor(ingest_executor.Executor):
  """Reads <input_base>/<class>/<document>, writes Examples and an IngestReport."""
  TASK = text_checks.TextIngest()
