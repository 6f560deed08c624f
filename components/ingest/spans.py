"""Data drops (contract): `<root>/span-<N>/...` or `<root>/<YYYY-MM-DD>/...`, each laid out
as the task expects; a root with neither is one drop, span 0.

Spans are found from the top-level folder names alone (no file is opened). A root that mixes
span folders with other folders or files is an error: read the old way, `span-1` would be a
class of its own.
"""

import dataclasses
import datetime
import os
import re
from typing import List, Optional

import pipeline_config

_SPAN = re.compile(r"^span-(\d+)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclasses.dataclass(frozen=True)
class Span:
  number: int                 # N of span-N; YYYYMMDD of a dated folder; 0 for a flat root
  folder: Optional[str]       # the top-level folder, None for a flat root

  def root(self, data_root: str) -> str:
    return os.path.join(data_root, self.folder) if self.folder else data_root


def _visible(name: str) -> bool:
  return not name.startswith(".")


def detect_spans(root: str) -> List[Span]:
  """The spans under `root`, oldest first; [Span(0, None)] for a flat root."""
  names = sorted(n for n in os.listdir(root) if _visible(n))
  folders = [n for n in names if os.path.isdir(os.path.join(root, n))]
  spans, dated = {}, {}
  for name in folders:
    match = _SPAN.match(name)
    if match:
      spans.setdefault(int(match.group(1)), []).append(name)
      continue
    match = _DATE.match(name)
    if match:
      try:
        datetime.date(*(int(g) for g in match.groups()))
      except ValueError:
        raise pipeline_config.ToolkitError(
            f"Folder {name!r} under {root} looks like a dated drop but is not a date "
            "(YYYY-MM-DD).") from None
      dated[int(name.replace("-", ""))] = [name]
  if not spans and not dated:
    return [Span(0, None)]
  if spans and dated:
    raise pipeline_config.ToolkitError(
        f"Data root {root} mixes span-<N> folders ({', '.join(sorted(sum(spans.values(), [])))})"
        f" with dated folders ({', '.join(sorted(sum(dated.values(), [])))}); use one "
        "naming for every drop.")
  found = spans or dated
  others = [n for n in names if n not in sum(found.values(), [])]
  if others:
    raise pipeline_config.ToolkitError(
        f"Data root {root} mixes drop folders ({', '.join(sorted(sum(found.values(), []))[:5])})"
        f" with other entries ({', '.join(others[:5])}); put every class folder (or series "
        "file) inside a drop folder (span-<N>/<class>/...), or use no drop folders at all.")
  repeated = {n: f for n, f in found.items() if len(f) > 1}
  if repeated:
    raise pipeline_config.ToolkitError(
        "Two folders name the same span: " + "; ".join(
            " and ".join(f) for f in repeated.values()) + ".")
  return [Span(number, folders[0]) for number, folders in sorted(found.items())]


def window(spans: List[Span], size: Optional[int]) -> List[Span]:
  """The newest `size` spans (all of them when size is None or 0)."""
  return spans[-size:] if size else list(spans)
