"""ImageExampleGen: a TFX component that ingests `<root>/<class>/<image file>` folders."""

from tfx.dsl.components.base import executor_spec

from components.image_example_gen import executor
from components.ingest.component import FolderExampleGen, IngestReport  # pylint: disable=unused-import


class ImageExampleGen(FolderExampleGen):
  """Ingests an image folder with one subfolder per class.

  Each distinct content is decoded once with Pillow (EXIF orientation applied, converted to
  RGB where needed, or rejected with its reason); see image_checks.py.

  Outputs:
    examples: Examples {image, label, label_name, height, width, sha256} in train,
      validation and eval.
    ingest_report: IngestReport with one record per file found.
  """
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
