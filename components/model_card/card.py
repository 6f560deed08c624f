"""The model card: what a pushed model is, written beside it as `model_card.json` and
`model_card.md` (contract: docs/use.md).

Its sources are the run's own records, read from the artifacts MLMD links to the push: the
ingest report (data root, spans, counts per split and class, what was rejected and why), the
Trainer's run folder (baselines, warm start, the fine-tuning phase kept), the Evaluator's
results and EvalConfig (metrics with confidence intervals, per-class recall or per-series MAE,
the blessing rules and the ones failed) and the blessing. The metrics are computed by the
same function as last_run.json's (figures.eval_metrics), so the two are one figure. What the
task says of its model (backbone, weights, input size) and its serving limits come from the
pipeline's config through the task descriptor (pipeline/tasks/, Task.model_card).

{"task", "pipeline_name", "created", "model": {"trained_model", "pushed_to",
 "warm_started_from", "kept_phase", ...task's facts}, "data": {"data_root", "spans",
 "per_split", "per_class_split", "ingest": {found, ingested, ...}, "rejected_per_reason",
 "report", "model_inputs"}, "metrics" (= last_run.json's), "blessing": {"blessed",
 "baseline_model", "thresholds", "failed_thresholds"}, "limits": [sentences]}
"""

import datetime
import json
import os
from typing import List, Optional

import tensorflow as tf

from components.ingest import report as ingest_report
from components.model_card import figures
from schemas import contracts

CARD_JSON, CARD_MARKDOWN = contracts.MODEL_CARD_FILES


def build(config: dict, *, report_uri: Optional[str], model_run_uri: Optional[str],
          evaluation_uri: Optional[str], blessed: bool, trained_model: Optional[str],
          pushed_to: Optional[str], baseline_model: Optional[str],
          examples_uri: Optional[str] = None) -> dict:
  """The card's document. `config`: {"task", "pipeline_name", "data_root", "model": {the
  task's facts}, "limits": [sentences]} (the factory's, from the descriptor)."""
  report = ingest_report.read_report(report_uri) if report_uri else None
  run_file = lambda name: (figures.read_json(os.path.join(model_run_uri, name))
                           if model_run_uri else None)
  warm = run_file("warm_start.json")
  phases = run_file("phases.json")
  model = {"trained_model": trained_model, "pushed_to": pushed_to,
           "warm_started_from": warm.get("from") if warm else None,
           **({"kept_phase": phases.get("kept")} if phases else {}),
           **config.get("model", {})}
  data = {"data_root": config.get("data_root")}
  if report:
    data.update(spans=report.get("spans"), per_split=report["per_split"],
                per_class_split=report.get("per_class_split") or None,
                ingest=report["totals"], rejected_per_reason=report.get("per_reason", {}),
                report=os.path.join(report_uri, ingest_report.REPORT_JSON),
                notes=report.get(ingest_report.NOTES_KEY) or [])
  inputs = (figures.read_json(os.path.join(examples_uri, contracts.FEATURES_FILE))
            if examples_uri else None)
  if inputs:
    data["model_inputs"] = inputs
  return {
      "task": config.get("task"), "pipeline_name": config.get("pipeline_name"),
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "model": model, "data": data,
      "metrics": figures.eval_metrics(evaluation_uri, report, run_file("baselines.json")),
      "blessing": {"blessed": blessed, "baseline_model": baseline_model,
                   "thresholds": figures.thresholds(evaluation_uri) if evaluation_uri else [],
                   "failed_thresholds": (figures.failed_thresholds(evaluation_uri)
                                         if evaluation_uri else [])},
      "limits": list(config.get("limits", [])),
  }


def _number(value) -> str:
  return f"{value:.4f}" if isinstance(value, float) else str(value)


def _with_interval(metrics: dict, name: str) -> str:
  interval = metrics.get("confidence_intervals", {}).get(name)
  # TFMA's example_count is a float; it counts examples.
  shown = str(int(metrics[name])) if name == "example_count" else _number(metrics[name])
  return f"{shown} (95% interval {interval[0]:.4f} to {interval[1]:.4f})" if interval else shown


def _table(header: List[str], rows: List[list]) -> List[str]:
  cell = ingest_report.table_cell
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
          + ["| " + " | ".join(cell(_number(v)) for v in row) + " |" for row in rows])


def render_markdown(card: dict) -> str:
  """The card for a human: the same figures as the JSON."""
  model, data, metrics, blessing = card["model"], card["data"], card["metrics"], card["blessing"]
  pushed = (f"when the model was pushed to `{model['pushed_to']}`" if model["pushed_to"] else
            "for a model that was not pushed (not blessed, or the one already served)")
  lines = [f"# Model card: {card['pipeline_name']} ({card['task']})", "",
           f"Written {card['created']} {pushed}.", "", "## Model", ""]
  lines += [f"- {key.replace('_', ' ')}: `{value}`" for key, value in model.items()
            if value is not None and key != "pushed_to"]
  lines += ["", "## Data", "", f"- data root: `{data['data_root']}`"]
  if data.get("spans"):
    spans = data["spans"]
    lines.append(f"- spans: window {spans['window']} (newest {spans['newest']}), read by this "
                 f"run {spans['ingested']}")
  if "ingest" in data:
    totals = data["ingest"]
    lines.append("- files: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    for reason, count in sorted(data["rejected_per_reason"].items()):
      lines.append(f"  - {reason}: {count}")
    lines.append(f"- every file's outcome: `{data['report']}`")
    lines += ["", *_table(["split", "examples"], [[s, n] for s, n in data["per_split"].items()])]
  if data.get("per_class_split"):
    splits = list(contracts.SPLITS)
    lines += ["", *_table(["class", *splits], [
        [name, *(counts.get(s, 0) for s in splits)]
        for name, counts in sorted(data["per_class_split"].items())])]
  if data.get("model_inputs"):
    inputs = data["model_inputs"]
    lines += ["", f"- inputs: {inputs.get('lookback')} rows of {inputs.get('features')}, "
              f"forecasting `{inputs.get('target')}` {inputs.get('delay')} rows ahead"]
  if data.get("notes"):
    lines += ["", *(f"- {note}" for note in data["notes"])]
  lines += ["", "## Metrics (eval split)", ""]
  for name in ("accuracy", "mae", "majority_margin", "baseline_margin", "persistence_mae",
               "seasonal_naive_mae", "example_count", "baseline_accuracy", "baseline_mae"):
    if name in metrics:
      lines.append(f"- {name}: {_with_interval(metrics, name)}")
  for name, value in sorted(metrics.get("baselines", {}).items()):
    if value is not None:
      lines.append(f"- baseline {name}: {_number(value)}")
  for group, metric in (("per_class", "recall"), ("per_series", "MAE")):
    if metrics.get(group):
      lines += ["", *_table([group.split("_")[1], metric],
                            [[k, v] for k, v in metrics[group].items()])]
  lines += ["", "## Blessing", "",
            f"- blessed: {'yes' if blessing['blessed'] else 'no'}; compared with "
            + (f"`{blessing['baseline_model']}`" if blessing["baseline_model"] else
               "no earlier blessed model")]
  for rule in blessing["thresholds"]:
    where = f" on {rule['slice']}" if rule["slice"] else ""
    if rule["kind"] == "change":
      lines.append(f"- rule: {rule['metric']}{where} changes by at "
                   f"{'least' if rule['direction'] == 'higher_is_better' else 'most'} "
                   f"{rule['bound']:+.4g} against the last blessed model")
    else:
      bounds = [f"at least {rule['lower']:.4g}" if "lower" in rule else "",
                f"at most {rule['upper']:.4g}" if "upper" in rule else ""]
      lines.append(f"- rule: {rule['metric']}{where} "
                   + " and ".join(b for b in bounds if b))
  for failure in blessing["failed_thresholds"]:
    lines.append(f"- failed: {failure['reason']}")
  lines += ["", "## Known limits", "", *(f"- {limit}" for limit in card["limits"]), ""]
  return "\n".join(lines)


def write(card: dict, folder: str) -> None:
  """model_card.json and model_card.md into `folder` (a URI)."""
  tf.io.gfile.makedirs(folder)
  with tf.io.gfile.GFile(os.path.join(folder, CARD_JSON), "w") as f:
    json.dump(card, f, indent=1, ensure_ascii=False)
  with tf.io.gfile.GFile(os.path.join(folder, CARD_MARKDOWN), "w") as f:
    f.write(render_markdown(card))
