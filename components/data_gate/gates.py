"""Quality gates over an ingest report, TFDV anomalies, and the previous accepted data drop.

Each gate returns a GateResult with the figures it judged; a breached gate stops the
pipeline before training. Pure functions over plain dicts, so they are cheap to test.
"""

import dataclasses
from typing import Dict, List, Optional

import pipeline_config
from components.ingest import report as ingest_report

INGESTED_OUTCOMES = ("ingested", "normalised")


@dataclasses.dataclass
class GateResult:
  name: str
  passed: bool
  figures: dict
  message: str = ""
  # The `--gate NAME=VALUE` (a GateConfig field) that would let these figures pass.
  relax: str = ""


def _above(value: float, cap: Optional[float] = None) -> float:
  """A limit just above `value` (3 decimals), at most `cap`."""
  limit = round(value + 0.0005, 3)
  return min(cap, limit) if cap is not None else limit


def data_profile(report: dict) -> dict:
  """What drift is measured on: the label distribution of the kept files and the task's own
  distributions (image format, text encoding) and medians (image size, document length),
  as the task's ExampleGen wrote them into the report."""
  if "profile" in report:
    return report["profile"]
  return ingest_report.data_profile(report["files"])


def linf_distance(a: Dict[str, float], b: Dict[str, float]) -> float:
  """L-infinity distance between two categorical distributions (TFDV's drift measure)."""
  keys = set(a) | set(b)
  return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys), default=0.0)


def _split_coverage(report: dict, minimum: int) -> GateResult:
  """Every class needs `minimum` examples in each split: training, validation and the
  Evaluator's per-class view all need it, and an empty split cannot be judged at all."""
  per_class_split = report.get("per_class_split", {})
  short = {c: {s: per_class_split.get(c, {}).get(s, 0) for s in pipeline_config.SPLITS
               if per_class_split.get(c, {}).get(s, 0) < minimum}
           for c in report["class_names"]}
  short = {c: splits for c, splits in short.items() if splits}
  return GateResult(
      "min_examples_per_split", not short,
      {"per_class_split": per_class_split, "short": short, "limit": minimum},
      f"classes with fewer than {minimum} kept files in a split: " + ", ".join(
          f"{c} ({', '.join(f'{s} {n}' for s, n in splits.items())})"
          for c, splits in list(short.items())[:10])
      + " (splits follow the content hash; add files to these classes or change "
      "--splits)", relax="min_examples_per_split=0")


def _min_tokens(report: dict, minimum: int) -> GateResult:
  """Documents (text task) with fewer whitespace-separated tokens than `minimum`."""
  kept = [r for r in report["files"] if r["outcome"] in INGESTED_OUTCOMES]
  short = sorted((r["tokens"], r["path"]) for r in kept if r["tokens"] < minimum)
  fewest = min((r["tokens"] for r in kept), default=0)
  return GateResult(
      "min_tokens_per_document", not short,
      {"short": len(short), "files": [p for _, p in short[:20]], "fewest": fewest,
       "limit": minimum},
      f"{len(short)} documents have fewer than {minimum} tokens (first: "
      + ", ".join(f"{p} ({n})" for n, p in short[:3]) + ")",
      f"min_tokens_per_document={fewest}")


def evaluate(report: dict, anomalies: Dict[str, List[str]], config,
             previous_profile: Optional[dict]) -> List[GateResult]:
  """Runs every gate. `config` is a pipeline_config.GateConfig."""
  totals = report["totals"]
  conflicts = [r["path"] for r in report["files"]
               if r["reason"].startswith("label_conflict")]
  # Label conflicts are good files filed twice: max_label_conflicts judges them, so that
  # relaxing that gate is enough to let them through.
  rejected = totals["rejected"] - len(conflicts)
  judged = totals["ingested"] + totals["normalised"] + rejected
  rejected_fraction = rejected / judged if judged else 0.0
  counts = {c: sum(report["per_class"].get(c, {}).get(o, 0) for o in INGESTED_OUTCOMES)
            for c in report["class_names"]}
  smallest = min(counts.values(), default=0)
  largest = max(counts.values(), default=0)
  imbalance = largest / smallest if smallest else float("inf")
  results = [
      GateResult("max_rejected_fraction", rejected_fraction <= config.max_rejected_fraction,
                 {"rejected": rejected, "judged": judged,
                  "fraction": round(rejected_fraction, 4),
                  "limit": config.max_rejected_fraction},
                 f"{rejected} of {judged} files were rejected "
                 f"({rejected_fraction:.1%}); the limit is {config.max_rejected_fraction:.1%}",
                 f"max_rejected_fraction={_above(rejected_fraction, 1.0)}"),
      GateResult("min_images_per_class", smallest >= config.min_images_per_class,
                 {"per_class": counts, "limit": config.min_images_per_class},
                 "classes under the minimum of "
                 f"{config.min_images_per_class} kept files: " + ", ".join(
                     f"{c} ({n})" for c, n in counts.items()
                     if n < config.min_images_per_class),
                 f"min_images_per_class={smallest}"),
      GateResult("max_class_imbalance", imbalance <= config.max_class_imbalance,
                 {"largest": largest, "smallest": smallest,
                  "ratio": round(imbalance, 3) if smallest else None,
                  "limit": config.max_class_imbalance},
                 f"the largest class has {largest} kept files and the smallest {smallest} "
                 f"(ratio {imbalance:.1f}); the limit is {config.max_class_imbalance}",
                 f"max_class_imbalance={_above(imbalance) if smallest else 'inf'}"),
      GateResult("max_label_conflicts", len(conflicts) <= config.max_label_conflicts,
                 {"conflicts": len(conflicts), "files": conflicts[:20],
                  "limit": config.max_label_conflicts},
                 f"{len(conflicts)} files have the same content as a file in another class "
                 f"(first: {', '.join(conflicts[:3])})",
                 f"max_label_conflicts={len(conflicts)}"),
      _split_coverage(report, config.min_examples_per_split),
  ]
  if any(r.get("tokens") is not None for r in report["files"]):
    results.append(_min_tokens(report, config.min_tokens_per_document))
  if config.fail_on_anomalies:
    found = {split: names for split, names in anomalies.items() if names}
    results.append(GateResult(
        "tfdv_anomalies", not found, {"anomalies": found},
        "TFDV found anomalies against the task's schema in schemas/: " + "; ".join(
            f"{split}: {', '.join(names)}" for split, names in found.items()),
        "fail_on_anomalies=false"))
  results.extend(_drift_gates(data_profile(report), previous_profile, config))
  return results


def _drift_gates(profile: dict, previous: Optional[dict], config) -> List[GateResult]:
  """Label drift, then the task's distributions (judged by max_format_drift) and medians
  (judged by max_size_drift), each against the last accepted drop."""
  if previous is None:
    return [GateResult("drift", True, {"baseline": None}, "first accepted data drop")]
  label = linf_distance(profile["label_distribution"], previous["label_distribution"])
  results = [GateResult("max_label_drift", label <= config.max_label_drift,
                        {"linf": round(label, 4), "limit": config.max_label_drift},
                        f"the label distribution moved by {label:.3f} (L-infinity) since the "
                        f"last accepted drop; the limit is {config.max_label_drift}",
                        f"max_label_drift={_above(label, 1.0)}")]
  previous_mixes = previous.get("distributions", {})
  mixes = {name: linf_distance(dist, previous_mixes[name])
           for name, dist in profile.get("distributions", {}).items() if name in previous_mixes}
  if mixes:
    worst = max(mixes.values())
    results.append(GateResult(
        "max_format_drift", worst <= config.max_format_drift,
        {"linf": {k: round(v, 4) for k, v in mixes.items()}, "limit": config.max_format_drift},
        "the " + " and ".join(f"{name} mix moved by {v:.3f}" for name, v in mixes.items())
        + f" (L-infinity); the limit is {config.max_format_drift}",
        f"max_format_drift={_above(worst, 1.0)}"))
  previous_medians = previous.get("medians", {})
  changes = {name: _relative_change(value, previous_medians[name])
             for name, value in profile.get("medians", {}).items()
             if name in previous_medians}
  if changes:
    worst = max(changes.values())
    results.append(GateResult(
        "max_size_drift", worst <= config.max_size_drift,
        {"relative_change": {k: round(v, 4) for k, v in changes.items()},
         "limit": config.max_size_drift},
        "the median " + " and ".join(f"{name} changed by {v:.0%}" for name, v in changes.items())
        + f"; the limit is {config.max_size_drift:.0%}", f"max_size_drift={_above(worst)}"))
  return results


def _relative_change(new: float, old: float) -> float:
  if not old:
    return 0.0 if not new else float("inf")
  return abs(new - old) / old
