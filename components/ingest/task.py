"""What a task plugs into the shared ingestion (walk, hashing, splits, duplicates, report).

A task's ExampleGen subclasses IngestTask once, in its own folder, and names it in its
executor; see components/image_example_gen and components/text_example_gen.
"""

from typing import List, Optional

from components.ingest import records


class IngestTask:
  """The per-task half of ingestion. Instances are pickled to Beam workers: keep them
  stateless and free of TensorFlow imports."""
  # Component name, used in progress lines and Beam metrics.
  name = "ExampleGen"
  # The FileRecord subclass whose extra fields the task fills in (and the report shows).
  record_type = records.FileRecord
  # The task's name on the command line (for messages such as the demo-data hint).
  task = "image"
  # Whether the content key is the sha256 of the file's raw bytes (key_file's default). Such
  # a task is ingested in batches grouped by the fingerprint's hashes
  # (components/ingest/batches.py), and `decide` gets each group's first record with
  # `sha256` set to that hash: it reads the file, checks the hash and decides. A task whose
  # key is decoded content (text: the same words in two encodings) sets False and goes
  # through the per-file steps of components/ingest/transforms.py, which group on that key.
  raw_content_key = True

  def parse_options(self, ingest, task_config: Optional[dict]):
    """The options the task's checks read, from the shared IngestConfig and the task's own
    config section (a dict, or None when the pipeline passes none)."""
    return ingest

  def key_file(self, record: records.FileRecord, options) -> records.FileRecord:
    """Reads the file and sets `record.sha256`, the key duplicates and splits are decided
    on; may decide the record already (a rejection, or a task whose key is its decoded
    content). The default hashes the raw bytes and keeps nothing in memory."""
    records.read_file(record, options.max_file_bytes)
    return record

  def decide(self, record: records.FileRecord, options) -> records.FileRecord:
    """Decides the first record of a content group: after key_file (the per-file steps), or
    with only `sha256` set (raw_content_key; the record is read here)."""
    raise NotImplementedError

  def example_features(self, record: records.FileRecord) -> dict:
    """The task's tf.Example features of a kept record (bytes or int values)."""
    raise NotImplementedError

  def profile(self, kept_rows: List[dict]) -> dict:
    """{"distributions": {...}, "medians": {...}} over kept report rows (drift baseline)."""
    return {}
