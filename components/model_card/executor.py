"""ModelCardGen's executor: the card of this run's model (card.py), into its own artifact and,
when the Pusher pushed the model, beside the pushed model (its version folder)."""

import json
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.artifacts import custom_property

from components.model_card import card

PUSHED_MODEL_KEY = "pushed_model"
BLESSING_KEY = "model_blessing"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
EVALUATION_KEY = "evaluation"
INGEST_REPORT_KEY = "ingest_report"
EXAMPLES_KEY = "examples"
BASELINE_MODEL_KEY = "baseline_model"
CARD_CONFIG_KEY = "card_config"
MODEL_CARD_KEY = "model_card"


def _uri(input_dict: Dict[str, List[types.Artifact]], key: str) -> Optional[str]:
  found = input_dict.get(key) or []
  return found[0].uri if found else None


class Executor(base_executor.BaseExecutor):
  """Writes model_card.json and model_card.md."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    blessings = input_dict.get(BLESSING_KEY) or []
    destination = custom_property(pushed, "pushed_destination") if custom_property(pushed, "pushed", 0) else None
    document = card.build(
        json.loads(exec_properties[CARD_CONFIG_KEY]),
        report_uri=_uri(input_dict, INGEST_REPORT_KEY),
        model_run_uri=_uri(input_dict, MODEL_RUN_KEY),
        evaluation_uri=_uri(input_dict, EVALUATION_KEY),
        blessed=bool(blessings and custom_property(blessings[0], "blessed", 0)),
        trained_model=_uri(input_dict, MODEL_KEY), pushed_to=destination,
        baseline_model=_uri(input_dict, BASELINE_MODEL_KEY),
        examples_uri=_uri(input_dict, EXAMPLES_KEY))
    record = artifact_utils.get_single_instance(output_dict[MODEL_CARD_KEY])
    card.write(document, record.uri)
    if destination:
      card.write(document, destination)
      record.set_string_custom_property("written_beside", destination)
    print("[ModelCardGen] " + (f"model card written beside {destination}" if destination else
                               "model card recorded (the model was not pushed)"), flush=True)
