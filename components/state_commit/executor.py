"""StateCommit's executor: after the Pusher, makes this run's label vocabulary and data
profile the pipeline's, only when its model is what is served.

State that lives outside MLMD (the label vocabulary, the drift baseline) used to be written
by the ExampleGen and the DataGate as they ran, and restored by the local runner alone when
a run failed: a failed `--on-new-class extend` run on a cluster extended the vocabulary for
good. Now those steps write proposals into their own artifacts and this step, right
after the Pusher in every pipeline on every orchestrator, commits them:
  {examples.uri}/labels.json            -> the pipeline's vocabulary URI
  {gate_result.uri}/accepted_profile.json -> {history_dir}/accepted_profile.json
when the PushedModel says pushed (or unchanged: the blessed model is the one served).
"""

import json
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.data_gate.executor import PROFILE_FILE
from components.ingest import vocabulary
from schemas import contracts

PUSHED_MODEL_KEY = "pushed_model"
GATE_RESULT_KEY = "gate_result"
EXAMPLES_KEY = "examples"
VOCABULARY_KEY = "vocabulary_uri"
HISTORY_DIR_KEY = "history_dir"
COMMIT_KEY = "commit"
COMMIT_FILE = "commit.json"
LABELS_FILE = contracts.LABELS_FILE


def _served(pushed: types.Artifact) -> bool:
  props = pushed.mlmd_artifact.custom_properties if pushed.mlmd_artifact else {}
  def flag(name):
    value = props.get(name)
    return bool(value.int_value) if value is not None else False
  return flag("pushed") or flag("unchanged")


def _copy(source: str, destination: str) -> None:
  tf.io.gfile.makedirs(os.path.dirname(destination))
  tf.io.gfile.copy(source, destination + ".tmp", overwrite=True)
  tf.io.gfile.rename(destination + ".tmp", destination, overwrite=True)


class Executor(base_executor.BaseExecutor):
  """Commits the vocabulary and drift baseline of a run whose model is served."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    record = artifact_utils.get_single_instance(output_dict[COMMIT_KEY])
    committed = {}
    if _served(pushed):
      gate_results = input_dict.get(GATE_RESULT_KEY) or []
      profile = (os.path.join(gate_results[0].uri, PROFILE_FILE) if gate_results else None)
      if profile and tf.io.gfile.exists(profile):
        target = os.path.join(exec_properties[HISTORY_DIR_KEY], PROFILE_FILE)
        _copy(profile, target)
        committed["drift_baseline"] = target
      examples = input_dict.get(EXAMPLES_KEY) or []
      uri = exec_properties.get(VOCABULARY_KEY)
      labels = os.path.join(examples[0].uri, LABELS_FILE) if examples else None
      if uri and labels and tf.io.gfile.exists(labels):
        with tf.io.gfile.GFile(labels) as f:
          names = json.load(f)
        if vocabulary.read(uri) != names:
          vocabulary.write(uri, names)
        committed["vocabulary"] = uri
    tf.io.gfile.makedirs(record.uri)
    with tf.io.gfile.GFile(os.path.join(record.uri, COMMIT_FILE), "w") as f:
      json.dump({"served": _served(pushed), "committed": committed}, f, indent=1)
    print("[StateCommit] " + (f"committed {', '.join(sorted(committed))}" if committed else
                              "nothing committed (the model was not served)"), flush=True)
