"""ImageExampleGen executor: the shared folder ingestion with the image checks.

Examples: tf.Example {image (encoded bytes), label, label_name, height, width, sha256}, split
by content hash; images are stored uncompressed by default (JPEG/PNG bytes do not shrink).
Layout and keys: components/ingest/executor.py.
"""

from components.image_example_gen import image_checks
from components.ingest import executor as ingest_executor
from components.ingest.executor import (  # pylint: disable=unused-import
    EXAMPLES_KEY, INGEST_CONFIG_KEY, INGEST_REPORT_KEY, INPUT_BASE_KEY, LABELS_FILE,
    TASK_CONFIG_KEY, read_label_names)


class Executor(ingest_executor.Executor):
  """Reads <input_base>/<class>/<image file>, writes Examples and an IngestReport."""
  TASK = image_checks.ImageIngest()
