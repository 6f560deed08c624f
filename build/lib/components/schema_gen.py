"""PackagedSchemaGen: TFX's ImportSchemaGen, reading a bare schema name from the installed
toolkit (schemas/), so that a compiled pipeline names `image_schema.pbtxt` and not a path on
the machine that compiled it."""

from typing import Any, Dict, List

from tfx import types
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.schema_gen.import_schema_gen import executor as import_schema_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

import schemas


class Executor(import_schema_executor.Executor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    key = standard_component_specs.SCHEMA_FILE_KEY
    super().Do(input_dict, output_dict,
               {**exec_properties, key: schemas.schema_path(exec_properties[key])})


class PackagedSchemaGen(ImportSchemaGen):
  """Copies a curated schema into a Schema artifact: `schema_file` is a name under schemas/
  (e.g. `image_schema.pbtxt`) or the user's own path or URI."""
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
