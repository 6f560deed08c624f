"""The ingest report: one record per file found, totals that reconcile, and a summary.

On-disk layout of an IngestReport artifact:
  {uri}/ingest_report.json   {"totals": {...}, "per_split": {...}, "per_class": {...},
                              "per_class_split": {class: {split: n}}, "per_reason": {...},
                              "class_names": [...], "profile": {label_distribution,
                              distributions, medians}, "files": [{path, outcome, reason, class,
                              split, sha256, ...}, ...]}
  {uri}/ingest_report.md     the same, summarised for a human
A task's profile may carry "notes", lines for the report's reader (the image task says which
formats a client may send to serving); they become the report's top-level "notes".
"""

import collections
import json
import os
import statistics
from typing import Callable, Dict, Iterable, List, Optional

from components.ingest import records

REPORT_JSON = "ingest_report.json"
REPORT_MARKDOWN = "ingest_report.md"
NOTES_KEY = "notes"


def resolve_duplicates(group: List[records.FileRecord]) -> List[records.FileRecord]:
  """Decides files that share one sha256: kept once per class; two classes is a conflict."""
  usable = [r for r in group if r.outcome in (records.INGESTED, records.NORMALISED)]
  if len(usable) < 2:
    return group
  usable.sort(key=lambda r: r.path)
  classes = sorted({r.class_name for r in usable})
  if len(classes) > 1:
    for r in usable:
      others = [c for c in classes if c != r.class_name]
      r.outcome, r.encoded = records.REJECTED, None
      r.reason = f"label_conflict: same content also filed under {', '.join(others)}"
    return group
  for r in usable[1:]:
    r.outcome, r.encoded = records.SKIPPED, None
    r.reason = f"duplicate_of: {usable[0].path}"
  return group


# A task's data profile: kept report rows -> {"distributions": {name: {value: fraction}},
# "medians": {name: number}}; the data gate measures drift on it between data drops.
ProfileFn = Callable[[List[dict]], dict]


def data_profile(rows: List[dict], task_profile: Optional[ProfileFn] = None) -> dict:
  """The label distribution of the kept rows, and the task's own distributions and medians."""
  kept = [r for r in rows if r["outcome"] in records.KEPT]
  profile = {"kept": len(kept),
             "label_distribution": distribution(r["class"] for r in kept),
             "distributions": {}, "medians": {}}
  if task_profile is not None and kept:
    profile.update(task_profile(kept))
  return profile


def distribution(values: Iterable) -> Dict[str, float]:
  counts = collections.Counter(values)
  total = sum(counts.values())
  return {str(k): v / total for k, v in sorted(counts.items())} if total else {}


def median(rows: List[dict], key: str) -> float:
  values = [r[key] for r in rows if r.get(key) is not None]
  return float(statistics.median(values)) if values else 0.0


def build_report(rows: Iterable[dict], class_names: List[str],
                 task_profile: Optional[ProfileFn] = None) -> dict:
  """Totals, per-class and per-reason counts over report rows (FileRecord.report_row()), and
  the data profile the gate compares between drops."""
  rows = sorted(rows, key=lambda r: r["path"])
  totals = collections.Counter(r["outcome"] for r in rows)
  per_class: Dict[str, collections.Counter] = {c: collections.Counter() for c in class_names}
  per_reason = collections.Counter()
  per_split = collections.Counter()
  per_class_split: Dict[str, collections.Counter] = {c: collections.Counter()
                                                     for c in class_names}
  for r in rows:
    if r["class"] is not None:
      per_class.setdefault(r["class"], collections.Counter())[r["outcome"]] += 1
    if r["outcome"] in (records.REJECTED, records.SKIPPED, records.NORMALISED):
      per_reason[_reason_key(r["reason"])] += 1
    if r["split"] and r["outcome"] in (records.INGESTED, records.NORMALISED):
      per_split[r["split"]] += 1
      per_class_split.setdefault(r["class"], collections.Counter())[r["split"]] += 1
  profile = data_profile(rows, task_profile)
  notes = profile.pop(NOTES_KEY, None)
  return {
      **({NOTES_KEY: notes} if notes else {}),
      "totals": {
          "found": len(rows),
          **{o: totals.get(o, 0) for o in records.OUTCOMES},
      },
      "per_split": dict(sorted(per_split.items())),
      "per_class": {c: dict(v) for c, v in sorted(per_class.items())},
      "per_class_split": {c: dict(sorted(v.items())) for c, v in sorted(per_class_split.items())},
      "per_reason": dict(per_reason.most_common()),
      "class_names": class_names,
      "profile": profile,
      "files": rows,
  }


def _reason_key(reason: str) -> str:
  return reason.split(":", 1)[0].split(" ", 1)[0] if reason else "unspecified"


def _gfile():
  # Imported when a report is read or written (the executor and the gate, where TensorFlow is
  # loaded anyway), not when Beam workers import this module for the per-file steps.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def write_report(report: dict, uri: str) -> None:
  """Writes the report under `uri`, any tf.io.gfile URI (local, gs://, ram://)."""
  gfile = _gfile()
  gfile.makedirs(uri)
  with gfile.GFile(os.path.join(uri, REPORT_JSON), "w") as f:
    f.write(json.dumps(report, indent=1, ensure_ascii=False))
  with gfile.GFile(os.path.join(uri, REPORT_MARKDOWN), "w") as f:
    f.write(render_markdown(report))


def read_report(uri: str) -> dict:
  with _gfile().GFile(os.path.join(uri, REPORT_JSON)) as f:
    return json.loads(f.read())


def table_cell(text) -> str:
  """A value as one Markdown table cell: pipes escaped, line breaks and tabs shown as
  escapes (a class folder may be named `a|b` or hold a newline on POSIX)."""
  text = str(text).replace("\\", "\\\\").replace("|", "\\|")
  return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render_markdown(report: dict) -> str:
  t = report["totals"]
  lines = [
      "# Ingest report", "",
      f"Found {t['found']} files: {t['ingested']} ingested, {t['normalised']} normalised, "
      f"{t['rejected']} rejected, {t['skipped']} skipped.", "",
      *[line for note in report.get(NOTES_KEY, []) for line in (note, "")],
      "## Per class", "", "| class | ingested | normalised | rejected | skipped |",
      "|---|---|---|---|---|",
  ]
  for name, counts in report["per_class"].items():
    lines.append(f"| {table_cell(name)} | " + " | ".join(
        str(counts.get(o, 0)) for o in records.OUTCOMES) + " |")
  lines += ["", "## Per reason", "", "| reason | files |", "|---|---|"]
  lines += [f"| {table_cell(k)} | {v} |" for k, v in report["per_reason"].items()]
  columns = report.get("columns")
  if columns:
    lines += ["", "## Columns", "",
              f"Time column `{columns['time']}`, target `{columns['target']}`; model inputs: "
              + ", ".join(f"`{c}`" for c in columns["features"]) + ".", ""]
    lines += [f"- left out `{name}`: {why}" for name, why in columns["left_out"].items()]
  with_findings = [r for r in report["files"] if r.get("findings")]
  if with_findings:
    lines += ["", "## Row-level findings", ""]
    for r in with_findings:
      lines.append(f"### `{r['path']}`")
      for kind, entry in r["findings"].items():
        lines.append(f"- {kind}: {entry['count']}")
        lines += [f"  - {detail}" for detail in entry["examples"]]
  to_look_at = [r for r in report["files"] if r["outcome"] == records.REJECTED]
  lines += ["", "## Files to look at first", ""]
  lines += [f"- `{r['path']}`: {r['reason']}" for r in to_look_at[:50]] or ["None."]
  if len(to_look_at) > 50:
    lines.append(f"- ... and {len(to_look_at) - 50} more in {REPORT_JSON}")
  return "\n".join(lines) + "\n"
