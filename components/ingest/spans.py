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
from typing import List, Optional, Tuple

import pipeline_config

_SPAN = re.compile(r"^span-(\d+)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclasses.dataclass(frozen=True)
class Span:
  number: int                 # N of span-N; YYYYMMDD of a dated folder; 0 for a flat root
  folder: Optional[str]       # the top-level folder, None for a flat root

  def root(self, data_root: str) -> str:
    return f"{data_root.rstrip('/')}/{self.folder}" if self.folder else data_root


def _visible(name: str) -> bool:
  return not name.startswith(".")


def entries(root: str) -> Tuple[List[str], List[str]]:
  """(visible names, the folders among them) under a local path or a URI (gs://, ...)."""
  if "://" not in root:
    names = sorted(n for n in os.listdir(root) if _visible(n))
    return names, [n for n in names if os.path.isdir(os.path.join(root, n))]
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  listed = tf.io.gfile.listdir(root)
  names = sorted({n.rstrip("/") for n in listed if _visible(n)})
  folders = [n for n in names if f"{n}/" in listed or tf.io.gfile.isdir(f"{root.rstrip('/')}/{n}")]
  return names, folders


def detect_spans(root: str) -> List[Span]:
  """The spans under `root`, oldest first; [Span(0, None)] for a flat root."""
  names, folders = entries(root)
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


# Layouts (contract): how drops are named under the data root, as TFX input patterns. The
# ExampleGen driver (TFX's FileBasedDriver locally, its Kubeflow V2 driver on Vertex AI)
# resolves the newest span from the pattern; the executor then reads the window that ends
# there.
LAYOUTS = ("flat", "span", "dated")
_PATTERN_PREFIX = {"flat": "", "span": "span-{SPAN}/", "dated": "{YYYY}-{MM}-{DD}/"}


def layout_of(spans: List[Span]) -> str:
  if spans[-1].folder is None:
    return "flat"
  return "span" if _SPAN.match(spans[-1].folder) else "dated"


def input_pattern(layout: str, has_classes: bool) -> str:
  """The split pattern under the data root: class folders' files, or a task's files."""
  if layout not in LAYOUTS:
    raise pipeline_config.ToolkitError(
        f"Unknown drop layout. Choose one of {', '.join(LAYOUTS)}. Received: {layout!r}")
  return _PATTERN_PREFIX[layout] + ("*/*" if has_classes else "*")


def newest_number(resolved_pattern: str) -> Optional[int]:
  """The newest span's number from the driver's resolved pattern (`span-3/*/*` -> 3,
  `2024-05-01/*/*` -> 20240501), or None for a flat root or an unresolved pattern (no driver
  ran: open-source KFP). TFX writes the span without padding: `span-007` resolves to span-7."""
  first = resolved_pattern.split("/", 1)[0]
  match = _SPAN.match(first)
  if match:
    return int(match.group(1))
  return int(first.replace("-", "")) if _DATE.match(first) else None


def window_ending_at(spans: List[Span], newest: Optional[int], size: Optional[int]
                     ) -> List[Span]:
  """The newest `size` spans up to the driver's newest span (a drop that landed after the
  driver ran waits for the next run)."""
  if newest is not None:
    numbers = [s.number for s in spans]
    if newest not in numbers:
      raise pipeline_config.ToolkitError(
          f"The driver resolved span {newest}, which is not among the spans {numbers} under "
          "the data root.")
    spans = [s for s in spans if s.number <= newest]
  return window(spans, size)
