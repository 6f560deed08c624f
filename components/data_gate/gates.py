"""Quality gates over an ingest report, TFDV anomalies, and the previous accepted data drop.

Each gate returns a GateResult with the figures it judged; a breached gate stops the
pipeline before training. Pure functions over plain dicts, so they are cheap to test.
"""

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np

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
  distributions (e.g. file format, encoding) and medians (e.g. pixel size, length),
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

  def count(c, split):         # with drops, a class's older eval files count for `eval`
    counts = per_class_split.get(c, {})
    return counts.get(split, 0) + (counts.get("eval_history", 0) if split == "eval" else 0)
  short = {c: {s: count(c, s) for s in pipeline_config.SPLITS if count(c, s) < minimum}
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
  """Kept files with fewer whitespace-separated tokens than `minimum`."""
  kept = [r for r in report["files"] if r["outcome"] in INGESTED_OUTCOMES]
  short = sorted((r["tokens"], r["path"]) for r in kept if r["tokens"] < minimum)
  fewest = min((r["tokens"] for r in kept), default=0)
  return GateResult(
      "min_tokens_per_document", not short,
      {"short": len(short), "files": [p for _, p in short[:20]], "fewest": fewest,
       "limit": minimum},
      f"{len(short)} files have fewer than {minimum} tokens (first: "
      + ", ".join(f"{p} ({n})" for n, p in short[:3]) + ")",
      f"min_tokens_per_document={fewest}")


def evaluate(report: dict, anomalies: Dict[str, List[str]], config,
             previous_profile: Optional[dict],
             families: Sequence[str] = ("classes",)) -> List[GateResult]:
  """Runs the shared gates and those of the task's `families` (its descriptor's `gates`:
  keys of FAMILIES). `config` is a pipeline_config.GateConfig."""
  unknown = set(families) - set(FAMILIES)
  if unknown:
    raise ValueError(f"Unknown gate families {sorted(unknown)}; known: {sorted(FAMILIES)}")
  totals = report["totals"]
  conflicts = [r["path"] for r in report["files"]
               if r["reason"].startswith("label_conflict")]
  # Label conflicts are good files filed twice: max_label_conflicts judges them, so that
  # relaxing that gate is enough to let them through.
  rejected = totals["rejected"] - len(conflicts)
  judged = totals["ingested"] + totals["normalised"] + rejected
  rejected_fraction = rejected / judged if judged else 0.0
  results = [
      GateResult("max_rejected_fraction", rejected_fraction <= config.max_rejected_fraction,
                 {"rejected": rejected, "judged": judged,
                  "fraction": round(rejected_fraction, 4),
                  "limit": config.max_rejected_fraction},
                 f"{rejected} of {judged} files were rejected "
                 f"({rejected_fraction:.1%}); the limit is {config.max_rejected_fraction:.1%}",
                 f"max_rejected_fraction={_above(rejected_fraction, 1.0)}")]
  for family in families:
    results += FAMILIES[family](report, config, conflicts)
  if config.fail_on_anomalies:
    found = {split: names for split, names in anomalies.items() if names}
    results.append(GateResult(
        "tfdv_anomalies", not found, {"anomalies": found},
        "TFDV found anomalies against the task's schema in schemas/: " + "; ".join(
            f"{split}: {', '.join(names)}" for split, names in found.items()),
        "fail_on_anomalies=false"))
  results.extend(_drift_gates(data_profile(report), previous_profile, config))
  return results


def _class_gates(report: dict, config, conflicts: List[str]) -> List[GateResult]:
  """Classes: enough kept files each, balance, no file filed under two, every split covered
  (none when the report has no class)."""
  if not report["class_names"]:
    return []
  counts = {c: sum(report["per_class"].get(c, {}).get(o, 0) for o in INGESTED_OUTCOMES)
            for c in report["class_names"]}
  smallest = min(counts.values(), default=0)
  largest = max(counts.values(), default=0)
  imbalance = largest / smallest if smallest else float("inf")
  classes = len(report["class_names"])
  return [
      GateResult("min_classes", classes >= config.min_classes,
                 {"classes": report["class_names"], "limit": config.min_classes},
                 f"the data has {classes} class(es) ({', '.join(report['class_names'][:5])}); "
                 f"a classifier needs at least {config.min_classes}. Check the layout: "
                 "<root>/<class>/<file>, or <root>/span-<N>/<class>/<file> for drops",
                 f"min_classes={classes}"),
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


def _series_gates(report: dict, config, conflicts=None) -> List[GateResult]:
  """Series (one table per file): missing values, segment breaks, and enough windows in
  every split."""
  kept = [r for r in report["files"] if r["outcome"] in INGESTED_OUTCOMES]
  steps = sum(r["steps"] or 0 for r in kept)             # time steps on each series' grid
  missing = (sum((r["missing_fraction"] or 0.0) * (r["steps"] or 0) for r in kept) / steps
             if steps else 0.0)
  worst_missing = max(kept, key=lambda r: r["missing_fraction"] or 0.0, default=None)
  segments = {r["path"]: r["segments"] for r in kept}
  most = max(segments.values(), default=0)
  short = {r["path"]: {s: n for s, n in (r["windows_per_split"] or {}).items()
                       if n < config.min_windows_per_split} for r in kept}
  short = {path: splits for path, splits in short.items() if splits}
  fewest = min((n for r in kept for n in (r["windows_per_split"] or {}).values()), default=0)
  windows = report.get("windows", {})
  faults = {r["path"]: r["findings"]["sensor_fault"]["examples"] for r in kept
            if "sensor_fault" in (r.get("findings") or {})}
  return [
      GateResult("sensor_faults", not faults or not config.check_sensors,
                 {"faults": faults, "checked": config.check_sensors},
                 "the newest span looks broken against the older ones: " + "; ".join(
                     f for found in faults.values() for f in found)[:1500]
                 + ". Fix or remove that span's files (the served model stays as it is)",
                 "check_sensors=false"),
      GateResult("max_missing_fraction", missing <= config.max_missing_fraction,
                 {"fraction": round(missing, 4), "limit": config.max_missing_fraction,
                  "worst": worst_missing and {worst_missing["path"]:
                                              worst_missing["missing_fraction"]}},
                 f"{missing:.1%} of the values were missing (filled or not); the limit is "
                 f"{config.max_missing_fraction:.1%}",
                 f"max_missing_fraction={_above(missing, 1.0)}"),
      GateResult("max_segments_per_series", most <= config.max_segments_per_series,
                 {"segments": segments, "limit": config.max_segments_per_series},
                 f"a series breaks into {most} segments at runs of missing steps longer than "
                 f"max_fill (" + ", ".join(f"{p}: {n}" for p, n in segments.items()
                                         if n > config.max_segments_per_series)[:300]
                 + "); raise max_fill or fix the gaps",
                 f"max_segments_per_series={most}"),
      GateResult("min_windows_per_split", bool(kept) and not short,
                 {"short": short, "limit": config.min_windows_per_split,
                  "window_rows": windows.get("lookback", 0) + windows.get("delay", 0)},
                 ("no series was kept; " if not kept else "")
                 + "series too short for a window of "
                 f"{windows.get('lookback')} rows + {windows.get('delay')} ahead in every "
                 "split: " + ", ".join(f"{p} ({', '.join(f'{s} {n}' for s, n in v.items())})"
                                       for p, v in list(short.items())[:10])
                 + " (lower --lookback or --delay, or bring longer series)",
                 f"min_windows_per_split={fewest}"),
  ]


def _cdf(quantiles: np.ndarray, x: np.ndarray) -> np.ndarray:
  """The distribution function that `quantiles` (at equal steps of probability) describe,
  right-continuous: at a value repeated across quantiles (many zeros of rain) it counts the
  whole point mass."""
  levels = np.linspace(0.0, 1.0, len(quantiles))
  k = np.searchsorted(quantiles, x, side="right") - 1      # last quantile <= x
  out = np.where(k >= len(quantiles) - 1, 1.0, 0.0)
  inside = (k >= 0) & (k < len(quantiles) - 1)
  ki = np.clip(k, 0, len(quantiles) - 2)
  width = quantiles[ki + 1] - quantiles[ki]
  step = levels[ki + 1] - levels[ki]
  fraction = np.divide(x - quantiles[ki], width, out=np.zeros_like(width, dtype=float),
                       where=width > 0)
  return np.where(inside, levels[ki] + fraction * step, out)


def jensen_shannon(previous_quantiles: List[float], quantiles: List[float]) -> float:
  """JS divergence (base 2) of a feature's new distribution against the previous one, over
  bins at the previous drop's distinct percentiles, with a bin below and above them for new
  values outside the old range. Both distributions are measured the same way, so identical
  data scores 0 even for a column of mostly zeros."""
  old = np.asarray(previous_quantiles, float)
  new = np.asarray(quantiles, float)
  edges = np.unique(old)
  p = np.diff(np.concatenate([[0.0], _cdf(old, edges), [1.0]]))
  q = np.diff(np.concatenate([[0.0], _cdf(new, edges), [1.0]]))
  p, q = np.clip(p, 0.0, None), np.clip(q, 0.0, None)
  m = (p + q) / 2

  def kl(a):
    mask = a > 0
    return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))
  return min(1.0, max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def _feature_drift(profile: dict, previous: dict, config) -> List[GateResult]:
  old = previous.get("quantiles") or {}
  drift = {name: round(jensen_shannon(old[name], q), 4)
           for name, q in (profile.get("quantiles") or {}).items() if name in old}
  if not drift:
    return []
  worst = max(drift.values())
  moved = {k: v for k, v in drift.items() if v > config.max_feature_drift}
  return [GateResult(
      "max_feature_drift", not moved, {"jensen_shannon": drift,
                                       "limit": config.max_feature_drift},
      "feature distributions moved since the last accepted drop (Jensen-Shannon divergence): "
      + ", ".join(f"{k} {v:.3f}" for k, v in moved.items())
      + f"; the limit is {config.max_feature_drift}", f"max_feature_drift={_above(worst, 1.0)}")]


def _drift_gates(profile: dict, previous: Optional[dict], config) -> List[GateResult]:
  """Label drift, then the task's distributions (judged by max_format_drift) and medians
  (judged by max_size_drift), each against the last accepted drop."""
  if previous is None:
    return [GateResult("drift", True, {"baseline": None}, "first accepted data drop")]
  if profile.get("quantiles") is not None:
    return _feature_drift(profile, previous, config)
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


LABEL_AGREEMENT = "max_label_agreement_drop"


def skipped(name: str, reason: str) -> GateResult:
  """A gate that could not run, listed with why (it neither passes nor stops the run)."""
  return GateResult(name, True, {"skipped": reason}, f"skipped: {reason}")


def label_agreement(new, old, class_names: List[str], vocabulary: List[str],
                    paths: Dict[str, str], span: int, max_drop: float,
                    recorded: Optional[dict] = None) -> GateResult:
  """`new` and `old`: (labels, predicted ids, confidence, sha256, model outputs) of the
  blessed model on the newest span and on the older spans' eval examples. Classes the model
  has no output for (a vocabulary that grew) are not judged, on either side. Without older
  spans (`old` None: --window 1, a flat root), the reference is the accuracy `recorded` with
  the model on its own eval split."""
  labels, predicted, confidence, digests, outputs = new
  known = labels < outputs
  if old is None:
    reference = float(recorded["accuracy"])
    against = f"{reference:.1%} on its own eval split when it was trained"
  else:
    old_known = old[0] < outputs
    reference = (float(np.mean(old[0][old_known] == old[1][old_known])) if old_known.any()
                 else 0.0)
    against = f"{reference:.1%} on earlier spans' eval files"
  agreement = float(np.mean(labels[known] == predicted[known])) if known.any() else reference
  drop = reference - agreement
  per_class = {}
  for label in sorted(set(labels[known].tolist())):
    mask = known & (labels == label)
    per_class[vocabulary[label] if label < len(vocabulary) else str(label)] = round(
        float(np.mean(predicted[mask] == label)), 4)
  wrong = np.flatnonzero(known & (labels != predicted))
  wrong = wrong[np.argsort(-confidence[wrong])][:20]
  files = [{"path": paths.get(digests[i], digests[i]),
            "label": vocabulary[labels[i]] if labels[i] < len(vocabulary) else int(labels[i]),
            "model_says": vocabulary[predicted[i]] if predicted[i] < len(vocabulary)
            else int(predicted[i]), "confidence": round(float(confidence[i]), 4)}
           for i in wrong]
  worst = sorted(per_class.items(), key=lambda kv: kv[1])[:3]
  return GateResult(
      "max_label_agreement_drop", drop <= max_drop,
      {"reference_accuracy": round(reference, 4), "agreement": round(agreement, 4),
       "drop": round(drop, 4), "limit": max_drop, "per_class": per_class,
       "files_to_look_at_first": files, "span": span,
       "reference": "recorded_eval_accuracy" if old is None else "older_spans_eval"},
      f"the last blessed model agrees with {agreement:.1%} of span {span}'s labels against "
      f"{against} (a drop of {drop:.3f}; the limit is "
      f"{max_drop}); least agreement: " + ", ".join(f"{c} {a:.0%}" for c, a in worst)
      + "; files to look at first: " + ", ".join(f["path"] for f in files[:5]),
      f"max_label_agreement_drop={_above(drop, 1.0)}")


def _token_gates(report: dict, config, conflicts=None) -> List[GateResult]:
  return [_min_tokens(report, config.min_tokens_per_document)]


# Gate family -> gates over the ingestion report (a task's descriptor names its families).
FAMILIES = {"classes": _class_gates, "series": _series_gates, "tokens": _token_gates}
