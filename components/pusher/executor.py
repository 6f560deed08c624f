"""The Pusher's executor: TFX's, except that a blessed model identical to the one served is
not pushed again (a rerun or a `watch` tick that blesses the same model would otherwise add
a byte-identical version on every run).

The fingerprint is the sha256 of every file's relative path and bytes under the model folder
(saved_model.pb, variables/, assets/, assets.extra/; not the model card that ModelCardGen
writes beside a pushed model): the same fingerprint is the same model. The PushedModel artifact then records pushed=0, `unchanged`=1 and `served_model`
(the version a server already loads).
"""

import hashlib
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.pushed_model.executor import latest_pushed
from schemas import contracts

UNCHANGED_KEY = "unchanged"
SERVED_MODEL_KEY = "served_model"
FINGERPRINT_KEY = "model_fingerprint"


def model_fingerprint(folder: str) -> str:
  """sha256 over the sorted relative paths and contents of every file under `folder`."""
  digest = hashlib.sha256()
  folder = folder.rstrip("/")
  files = []
  for root, _, names in tf.io.gfile.walk(folder):
    files += [f"{root.rstrip('/')}/{name}" for name in names]
  for path in sorted(files):
    if path[len(folder) + 1:] in contracts.MODEL_CARD_FILES:
      continue
    digest.update(path[len(folder) + 1:].encode("utf-8") + b"\0")
    with tf.io.gfile.GFile(path, "rb") as f:
      while True:
        chunk = f.read(1 << 22)
        if not chunk:
          break
        digest.update(chunk)
    digest.update(b"\0")
  return digest.hexdigest()


def _push_base(exec_properties: Dict[str, Any]) -> Optional[str]:
  destination = pusher_pb2.PushDestination()
  proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                            destination)
  if destination.WhichOneof("destination") != "filesystem":
    return None
  return destination.filesystem.base_directory


class Executor(tfx_pusher.Executor):
  """Pushes a blessed model unless the newest served version is the same model."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    base = _push_base(exec_properties)
    if not self.CheckBlessing(input_dict) or base is None:
      super().Do(input_dict, output_dict, exec_properties)
      return
    fingerprint = model_fingerprint(self.GetModelPath(input_dict))
    served = latest_pushed(base)
    if served is not None and model_fingerprint(served) == fingerprint:
      self._MarkNotPushed(model_push)
      model_push.set_int_custom_property(UNCHANGED_KEY, 1)
      model_push.set_string_custom_property(SERVED_MODEL_KEY, served)
      model_push.set_string_custom_property(FINGERPRINT_KEY, fingerprint)
      print(f"[Pusher] the blessed model is the one already served ({served}); nothing was "
            "pushed", flush=True)
      return
    super().Do(input_dict, output_dict, exec_properties)
    model_push.set_string_custom_property(FINGERPRINT_KEY, fingerprint)
