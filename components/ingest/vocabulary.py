"""The label vocabulary (contract): an append-only list of class names that persists across
runs, so a label id never changes meaning.

Stored as JSON (a list of names, id = index) at a URI the pipeline owns (under its pipeline
root), read and written through tf.io.gfile. The ExampleGen reads it and writes this run's
vocabulary beside its examples (labels.json); StateCommit writes it back to the pipeline's
URI once the model trained on it is served, so a failed run on any orchestrator leaves it
as it was. A class first seen in a new span stops the run
(`on_new_class="fail"`, the default) or is appended with the next id ("extend"); a class
missing from the current window keeps its id.
"""

import dataclasses
import json
import os
from typing import List, Optional

import pipeline_config


@dataclasses.dataclass
class VocabularyUpdate:
  names: List[str]                 # the vocabulary after this run (id = index)
  added: List[str]                 # classes given new ids by this run
  missing: List[str]               # classes with an id and no kept file in the window
  previous: Optional[List[str]]    # the vocabulary before this run (None: the first run)


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def read(uri: str) -> Optional[List[str]]:
  gfile = _gfile()
  if not gfile.exists(uri):
    return None
  with gfile.GFile(uri) as f:
    return json.load(f)


def write(uri: str, names: List[str]) -> None:
  gfile = _gfile()
  gfile.makedirs(os.path.dirname(uri))
  with gfile.GFile(uri + ".tmp", "w") as f:
    json.dump(names, f, ensure_ascii=False)
  gfile.rename(uri + ".tmp", uri, overwrite=True)


def new_classes(previous: Optional[List[str]], class_names: List[str], newest_span: int,
                on_new_class: str) -> List[str]:
  """Classes of the window that the vocabulary lacks; raises ToolkitError unless
  on_new_class is "extend" (or there is no vocabulary yet)."""
  known = previous or []
  added = [c for c in sorted(class_names) if c not in known]
  if previous and added and on_new_class != "extend":
    raise pipeline_config.ToolkitError(
        f"Span {newest_span} brings new classes {', '.join(added)} that the label vocabulary "
        f"({len(previous)} classes: {', '.join(previous[:10])}) does not have; nothing was "
        "trained or pushed. If they are expected, rerun with --on-new-class extend: they get "
        f"ids {len(previous)}..{len(previous) + len(added) - 1}, every earlier id keeps its "
        "meaning, and this run is not compared with the last blessed model.")
  return added


def update(uri: str, class_names: List[str], newest_span: int, on_new_class: str,
           commit: bool = True) -> VocabularyUpdate:
  """Appends the window's new classes (or stops) and says what changed; writes the
  vocabulary only with `commit` (the pipeline commits it after a push: StateCommit)."""
  previous = read(uri)
  added = new_classes(previous, class_names, newest_span, on_new_class)
  names = (previous or []) + added
  if commit and names != previous:
    write(uri, names)
  return VocabularyUpdate(names, added if previous else [],
                          sorted(set(names) - set(class_names)), previous)
