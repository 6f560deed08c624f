"""The bytes task's descriptor."""

import os

from pipeline.tasks import Task, register
from tests.tiny_task import sections

HERE = os.path.dirname(os.path.abspath(__file__))

TASK = register(Task(
    name="bytes",
    example_gen="tests.tiny_task.ingest.ByteExampleGen",
    schema_file=os.path.join(HERE, "schema.pbtxt"),
    run_fn="tests.tiny_task.trainer.run_fn",
    ingest_section="bytes_ingest",
    trainer_sections=("bytes_trainer", "bytes_ingest"),
    trainer_section="bytes_trainer",
    min_accuracy=0.8,
    gates=("classes",),
    flags=sections.FLAGS,
    data_root="<root>/<class>/<short files>"))
