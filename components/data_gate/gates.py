"""Quality gates over an ingest report, TFDV anomalies, and the previous accepted data drop.

Each gate returns a GateResult with the figures it judged; a breached gate stops the
pipeline before training. Pure functions over plain dicts, so they are cheap to test.
"""

import collections
import dataclasses
import statistics
from typing import Dict, List, Optional

import pipeline_config

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
  """What drift is measured on: label, format and image-size distributions of kept images."""
  kept = [r for r in report["files"] if r["outcome"] in INGESTED_OUTCOMES]
  labels = collections.Counter(r["class"] for r in kept)
  formats = collections.Counter(r["format"] for r in kept)
  return {
      "images": len(kept),
      "label_distribution": _normalise(labels),
      "format_distribution": _normalise(formats),
      "median_width": statistics.median([r["width"] for r in kept]) if kept else 0,
      "median_height": statistics.median([r["height"] for r in kept]) if kept else 0,
  }


def _normalise(counter: collections.Counter) -> Dict[str, float]:
  total = sum(counter.values())
  return {k: v / total for k, v in sorted(counter.items())} if total else {}


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
      f"classes with fewer than {minimum} kept images in a split: " + ", ".join(
          f"{c} ({', '.join(f'{s} {n}' for s, n in splits.items())})"
          for c, splits in list(short.items())[:10])
      + " (splits follow the content hash; add images to these classes or change "
      "--splits)", relax="min_examples_per_split=0")


def evaluate(report: dict, anomalies: Dict[str, List[str]], config,
             previous_profile: Optional[dict]) -> List[GateResult]:
  """Runs every gate. `config` is a pipeline_config.GateConfig."""
  totals = report["totals"]
  conflicts = [r["path"] for r in report["files"]
               if r["reason"].startswith("label_conflict")]
  # Label conflicts are good images filed twice: max_label_conflicts judges them, so that
  # relaxing that gate is enough to let them through.
  rejected = totals["rejected"] - len(conflicts)
  judged = totals["ingested"] + totals["normalised"] + rejected
  rejected_fraction = rejected / judged if judged else 0.0
  counts = {c: sum(v.get(o, 0) for o in INGESTED_OUTCOMES)
            for c, v in report["per_class"].items()}
  smallest = min(counts.values(), default=0)
  largest = max(counts.values(), default=0)
  imbalance = largest / smallest if smallest else float("inf")
  results = [
      GateResult("max_rejected_fraction", rejected_fraction <= config.max_rejected_fraction,
                 {"rejected": rejected, "judged": judged,
                  "fraction": round(rejected_fraction, 4),
                  "limit": config.max_rejected_fraction},
                 f"{rejected} of {judged} image files were rejected "
                 f"({rejected_fraction:.1%}); the limit is {config.max_rejected_fraction:.1%}",
                 f"max_rejected_fraction={_above(rejected_fraction, 1.0)}"),
      GateResult("min_images_per_class", smallest >= config.min_images_per_class,
                 {"per_class": counts, "limit": config.min_images_per_class},
                 "classes under the minimum of "
                 f"{config.min_images_per_class} images: " + ", ".join(
                     f"{c} ({n})" for c, n in counts.items()
                     if n < config.min_images_per_class),
                 f"min_images_per_class={smallest}"),
      GateResult("max_class_imbalance", imbalance <= config.max_class_imbalance,
                 {"largest": largest, "smallest": smallest,
                  "ratio": round(imbalance, 3) if smallest else None,
                  "limit": config.max_class_imbalance},
                 f"the largest class has {largest} images and the smallest {smallest} "
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
  if config.fail_on_anomalies:
    found = {split: names for split, names in anomalies.items() if names}
    results.append(GateResult(
        "tfdv_anomalies", not found, {"anomalies": found},
        "TFDV found anomalies against schemas/image_schema.pbtxt: " + "; ".join(
            f"{split}: {', '.join(names)}" for split, names in found.items()),
        "fail_on_anomalies=false"))
  results.extend(_drift_gates(data_profile(report), previous_profile, config))
  return results


def _drift_gates(profile: dict, previous: Optional[dict], config) -> List[GateResult]:
  if previous is None:
    return [GateResult("drift", True, {"baseline": None}, "first accepted data drop")]
  label = linf_distance(profile["label_distribution"], previous["label_distribution"])
  fmt = linf_distance(profile["format_distribution"], previous["format_distribution"])
  size = max(_relative_change(profile["median_width"], previous["median_width"]),
             _relative_change(profile["median_height"], previous["median_height"]))
  return [
      GateResult("max_label_drift", label <= config.max_label_drift,
                 {"linf": round(label, 4), "limit": config.max_label_drift},
                 f"the label distribution moved by {label:.3f} (L-infinity) since the last "
                 f"accepted drop; the limit is {config.max_label_drift}",
                 f"max_label_drift={_above(label, 1.0)}"),
      GateResult("max_format_drift", fmt <= config.max_format_drift,
                 {"linf": round(fmt, 4), "limit": config.max_format_drift},
                 f"the image format mix moved by {fmt:.3f} (L-infinity); the limit is "
                 f"{config.max_format_drift}", f"max_format_drift={_above(fmt, 1.0)}"),
      GateResult("max_size_drift", size <= config.max_size_drift,
                 {"relative_change": round(size, 4), "limit": config.max_size_drift},
                 f"the median image size changed by {size:.0%}; the limit is "
                 f"{config.max_size_drift:.0%}", f"max_size_drift={_above(size)}"),
  ]


def _relative_change(new: float, old: float) -> float:
  if not old:
    return 0.0 if not new else float("inf")
  return abs(new - old) / old
