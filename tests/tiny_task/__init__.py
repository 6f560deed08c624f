"""A task defined entirely under tests/: "bytes" classifies short byte strings (one file per
example, `<root>/<class>/<file>`) by their byte histogram. Importing this package registers
it (its config section, then its descriptor); nothing outside tests/ names it.

Files a new task needs, as this one shows: its config sections and flags (sections.py), its
ingestion (ingest.py: an IngestTask, the executor and the component), its Trainer module
(trainer.py), its schema (schema.pbtxt) and its descriptor (task.py).
"""

from tests.tiny_task import sections, task  # pylint: disable=unused-import  # registers
