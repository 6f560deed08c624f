"""LatestPushedModel's executor: the newest model under the push destination, as a Model
artifact (`{uri}/Format-Serving/`), for orchestrators without resolvers.

The open-source KFP v2 backend runs no resolver task, so the latest blessed model cannot come
from MLMD there. Every pushed model was blessed, so the newest version folder that the
Pusher wrote (`<push destination>/<unix seconds>/saved_model.pb`) is the latest blessed model.

With a `candidate` input (the Evaluator's baseline): when nothing was pushed yet, or the
pushed model's labels are not the candidate's (the vocabulary grew), the candidate itself is
the baseline, so a change threshold compares the model with itself and only the absolute
thresholds judge it (what the local runner does by leaving the baseline out). Without a
candidate (warm start, the label-agreement gate) the artifact stays empty when nothing was
pushed, and its readers start cold / skip the gate.
"""

import json
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

PUSH_DESTINATION_KEY = "push_destination"
CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
LABELS_ASSET = os.path.join("assets", "labels.json")


def latest_pushed(push_destination: str) -> Optional[str]:
  """The newest complete pushed version under `push_destination`, or None."""
  if not tf.io.gfile.isdir(push_destination):
    return None
  versions = sorted((int(name.rstrip("/")), name.rstrip("/"))
                    for name in tf.io.gfile.listdir(push_destination)
                    if name.rstrip("/").isdigit())
  for _, name in reversed(versions):
    folder = f"{push_destination.rstrip('/')}/{name}"
    if tf.io.gfile.exists(f"{folder}/saved_model.pb"):
      return folder
  return None


def has_model(model_uri: str) -> bool:
  """Whether a Model artifact holds a SavedModel (an empty LatestPushedModel does not)."""
  return tf.io.gfile.exists(os.path.join(path_utils.serving_model_path(model_uri),
                                         "saved_model.pb"))


def _labels(serving_dir: str) -> Optional[list]:
  path = os.path.join(serving_dir, LABELS_ASSET)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    destination = exec_properties[PUSH_DESTINATION_KEY]
    model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
    target = path_utils.serving_model_dir(model.uri)
    candidates = input_dict.get(CANDIDATE_KEY) or []
    candidate = (path_utils.serving_model_path(
        candidates[0].uri, path_utils.is_old_model_artifact(candidates[0]))
                 if candidates else None)
    pushed = latest_pushed(destination)
    source, note = pushed, f"the latest pushed model {pushed}"
    if pushed is None:
      source, note = candidate, f"nothing pushed yet under {destination}"
    elif candidate and _labels(candidate) is not None and _labels(pushed) != _labels(
        candidate):
      source, note = candidate, (f"the label vocabulary changed since {pushed}: the "
                                 "candidate is judged on the absolute thresholds only")
    if source is None:
      print(f"[LatestPushedModel] {note}: no model (the Trainer starts cold, the label "
            "agreement gate is skipped)", flush=True)
      model.set_string_custom_property("source", "")
      return
    io_utils.copy_dir(source, target)
    model.set_string_custom_property("source", source)
    model.set_int_custom_property("is_candidate", int(source == candidate))
    print(f"[LatestPushedModel] {note}" + (" (the candidate is its own baseline)"
                                           if source == candidate else ""), flush=True)
