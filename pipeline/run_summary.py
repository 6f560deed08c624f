"""Reads what a pipeline run did from MLMD and writes `<work-dir>/last_run.json` (contract).

{"task", "span" (the newest span in the window; 0 for a flat data root), "window" (span
 numbers trained on), "spans_ingested" (read by this run; the others came from the span
 cache), "vocabulary": {"labels", "added", "missing"}, "warm_started_from" (a model URI or
 null), "baseline_skipped" (why the Evaluator had no baseline, or null),
 "run_id", "blessed", "pushed_model", "model", "baseline_model",
 "unchanged" (the served version, when the blessed model is the one already served and
              nothing was pushed again),
 "metrics": {"accuracy", "example_count", "majority_margin", "baseline_accuracy",
             "per_class": {class name: recall on the eval split},
             "confidence_intervals": {metric: [lower, upper]} (95%: the Wilson score
                                       interval for accuracy, TFMA's jackknife for the
                                       others; baseline_<metric> for the last blessed model),
             "baseline_per_class": {...},
             a forecast instead: "mae", "baseline_mae", "baseline_margin",
             "persistence_mae", "seasonal_naive_mae" (TFMA, eval windows),
             "per_series": {series: MAE},
             "baselines": {"majority_accuracy", ...} (what the Trainer measured on the
                          same eval split: a task's trainer adds its own, e.g.
                          "tfidf_logreg_accuracy"; a forecaster has "persistence_mae", "seasonal_naive_mae", "model_eval_mae")},
 "feature_contract" (a table task, once a model is served): {"served_model", "served_features",
             "added", "missing", "reordered", "accepted"},
 "model_inputs" (a forecaster): {"window": [lookback, features], "features": [column, ...],
             "target", "time_column", "lookback", "step", "delay", "seasonal_period"},
 "ingest": {"found", "ingested", "normalised", "rejected", "skipped",
            "per_split": {"train", "validation", "eval"}, "report", "cached"},
 "artifacts": {"examples", "ingest_report", "statistics", "anomalies", "gates",
               "augmented_examples", "model", "model_run", "evaluation", "blessing",
               "pushed_model", "model_card", "inference"}: URIs of this run's outputs (the
               model card is also beside the pushed model),
 "inference" (with --infer-root): BatchInference's summary.json ({"model", "infer_root",
             "files", "rows", "errors", "shards"} or "skipped") and "rows_at" (the shards),
 "gates": path of the DataGate's gates.json,
 "reports": {name: PNG path}, "tensorboard": log dir,
 "feature_cache": {"namespace", "hits", "misses"} when phase 1 used cached features,
 "embeddings": {"path", "hits", "misses", "coverage", ...} when pretrained vectors were used,
 "executions": {node_id: "COMPLETE" | "CACHED" | ...}}
"""

import json
import os
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import pipeline_config
from pipeline import tasks
from components.ingest import report as ingest_report
from components.model_card import figures

_STATES = metadata_store_pb2.Execution.State


class _RunRecord:
  """The executions of one run of one pipeline (by default its latest), with their input
  and output artifacts. Runs of other pipelines sharing the store are never read."""

  def __init__(self, store: metadata_store.MetadataStore, pipeline_name: str,
               newer_than: int = 0):
    self._store = store
    runs = [r for r in pipeline_runs(store, pipeline_name) if r.id > newer_than]
    if not runs:
      raise pipeline_config.ToolkitError(
          f"No run of pipeline {pipeline_name} is recorded in MLMD.")
    self.run = max(runs, key=lambda c: c.id)
    prefix = pipeline_name + "."
    self.executions: Dict[str, metadata_store_pb2.Execution] = {}
    for execution in store.get_executions_by_context(self.run.id):
      for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == self._node_type_id() and context.name.startswith(prefix):
          self.executions[context.name[len(prefix):]] = execution

  def _node_type_id(self) -> int:
    return self._store.get_context_type("node").id

  def artifacts(self, node_id: str, key: str, inputs: bool = False
                ) -> List[metadata_store_pb2.Artifact]:
    execution = self.executions.get(node_id)
    if execution is None:
      return []
    wanted = ((metadata_store_pb2.Event.INPUT,) if inputs else
              (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT))
    ids = [e.artifact_id for e in self._store.get_events_by_execution_ids([execution.id])
           if e.type in wanted and key in _event_keys(e)]
    return self._store.get_artifacts_by_id(ids) if ids else []

  def state(self, node_id: str) -> Optional[str]:
    execution = self.executions.get(node_id)
    return _STATES.Name(execution.last_known_state) if execution else None


def pipeline_runs(store: metadata_store.MetadataStore, pipeline_name: str
                  ) -> List[metadata_store_pb2.Context]:
  """The pipeline_run contexts of one pipeline: the runs its executions belong to."""
  pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
  if pipeline is None:
    return []
  run_type = store.get_context_type("pipeline_run").id
  runs = {}
  for execution in store.get_executions_by_context(pipeline.id):
    for context in store.get_contexts_by_execution(execution.id):
      if context.type_id == run_type:
        runs[context.id] = context
  return list(runs.values())


def _store(config: pipeline_config.PipelineConfig) -> Optional[metadata_store.MetadataStore]:
  if not os.path.isfile(config.metadata_path):
    return None
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = config.metadata_path
  connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(connection)


def latest_run_id(config: pipeline_config.PipelineConfig) -> int:
  """The MLMD id of this pipeline's latest run (0: none), taken before a run so that the
  summary of a run that failed early never describes an older one."""
  store = _store(config)
  if store is None:
    return 0
  try:
    return max((r.id for r in pipeline_runs(store, config.pipeline_name)), default=0)
  except Exception:  # pylint: disable=broad-except
    return 0        # a store without the types yet (no run recorded)


def _event_keys(event) -> List[str]:
  # One event can carry several keys: the same model is both `model` and `baseline_model`.
  return [step.key for step in event.path.steps if step.HasField("key")]


def _custom(artifact, name, default=None):
  value = artifact.custom_properties.get(name)
  if value is None:
    return default
  return getattr(value, value.WhichOneof("value"))


# last_run.json "artifacts" key -> (node id, output key); None: the task's own node.
_ARTIFACTS = {
    "examples": (None, "examples"),
    "ingest_report": (None, "ingest_report"),
    "statistics": ("StatisticsGen", "statistics"),
    "anomalies": ("ExampleValidator", "anomalies"),
    "gates": ("DataGate", "gate_result"),
    "augmented_examples": (None, "augmented_examples"),
    "model": ("Trainer", "model"),
    "model_run": ("Trainer", "model_run"),
    "evaluation": ("Evaluator", "evaluation"),
    "blessing": ("Evaluator", "blessing"),
    "pushed_model": ("Pusher", "pushed_model"),
    "model_card": ("ModelCardGen", "model_card"),
    "inference": ("BatchInference", "inference_result"),
}


def summarise(config: pipeline_config.PipelineConfig, newer_than: int = 0) -> dict:
  """Builds the last_run.json document for this pipeline's most recent run (one recorded
  after run id `newer_than`; ToolkitError when there is none)."""
  store = _store(config)
  if store is None:
    raise pipeline_config.ToolkitError(f"No metadata store at {config.metadata_path}.")
  run = _RunRecord(store, config.pipeline_name, newer_than)

  summary = {"task": config.task, "span": 0, "run_id": run.run.name, "blessed": False,
             "pushed_model": None, "model": None, "baseline_model": None, "metrics": {},
             "ingest": {}, "executions": {n: run.state(n) for n in sorted(run.executions)}}

  task = tasks.get_task(config.task)
  task_nodes = {"examples": task.example_gen_id, "ingest_report": task.example_gen_id,
                "augmented_examples": task.augmentation_id}
  summary["artifacts"] = {}
  for name, (node_id, key) in _ARTIFACTS.items():
    found = run.artifacts(node_id or task_nodes[name], key) if (
        node_id or task_nodes[name]) else []
    if found:
      summary["artifacts"][name] = found[0].uri
  reports = run.artifacts(task.example_gen_id, "ingest_report")
  if reports:
    report = ingest_report.read_report(reports[0].uri)
    drops = report.get("spans")
    if drops:
      cached = run.state(task.example_gen_id) == "CACHED"
      summary.update(span=drops["newest"], window=drops["window"],
                     spans_ingested=[] if cached else drops["ingested"])
    if (report.get("columns") or {}).get("contract"):
      summary["feature_contract"] = report["columns"]["contract"]
    if report.get("vocabulary"):
      summary["vocabulary"] = {k: report["vocabulary"][k] for k in ("labels", "added",
                                                                    "missing")}
    summary["ingest"] = {**report["totals"], "per_split": report["per_split"],
                         "report": os.path.join(reports[0].uri, ingest_report.REPORT_JSON),
                         "cached": run.state(task.example_gen_id) == "CACHED"}
  inferred = run.artifacts("BatchInference", "inference_result")
  if inferred:
    record = os.path.join(inferred[0].uri, "summary.json")
    if os.path.isfile(record):
      with open(record) as f:
        summary["inference"] = {**json.load(f),
                                "rows_at": os.path.join(inferred[0].uri, "rows-*-of-*.jsonl")}
  gate_results = run.artifacts("DataGate", "gate_result")
  if gate_results:
    summary["gates"] = os.path.join(gate_results[0].uri, "gates.json")
  models = run.artifacts("Trainer", "model")
  if models:
    summary["model"] = models[0].uri
  model_runs = run.artifacts("Trainer", "model_run")
  if model_runs:
    folder = os.path.join(model_runs[0].uri, "reports")
    summary["reports"] = {os.path.splitext(name)[0]: os.path.join(folder, name)
                          for name in sorted(os.listdir(folder))} if os.path.isdir(
                              folder) else {}
    summary["tensorboard"] = os.path.join(model_runs[0].uri, "logs")
    for key, name in (("feature_cache", "feature_cache.json"),
                      ("embeddings", "embeddings.json"), ("baselines", "baselines.json"),
                      ("warm_start", "warm_start.json"), ("phases", "phases.json")):
      path = os.path.join(model_runs[0].uri, name)
      if os.path.isfile(path):
        with open(path) as f:
          summary[key] = json.load(f)
  augmented = (run.artifacts(task.augmentation_id, "augmented_examples")
               if task.augmentation else [])
  if augmented:
    preview = os.path.join(augmented[0].uri, "augmentation_preview.png")
    if os.path.isfile(preview):
      summary.setdefault("reports", {})["augmentation_preview"] = preview
  # The resolver is compiled into the Evaluator's inputs, so read the baseline there.
  baselines = run.artifacts("Evaluator", "baseline_model", inputs=True)
  if baselines:
    summary["baseline_model"] = baselines[0].uri
  evaluations = run.artifacts("Evaluator", "evaluation")
  if evaluations:
    summary["evaluation"] = evaluations[0].uri
    summary["failed_thresholds"] = figures.failed_thresholds(evaluations[0].uri)
  warm = summary.pop("warm_start", None)
  summary["warm_started_from"] = warm.get("from") if warm else None
  summary["metrics"] = figures.eval_metrics(
      evaluations[0].uri if evaluations else None, report if reports else None,
      summary.pop("baselines", None))
  examples = run.artifacts(task.example_gen_id, "examples")
  described = os.path.join(examples[0].uri, "features.json") if examples else None
  if described and os.path.isfile(described):
    with open(described) as f:
      model_inputs = json.load(f)
    summary["model_inputs"] = {
        "window": [model_inputs["lookback"], len(model_inputs["features"])],
        **model_inputs}
  blessings = run.artifacts("Evaluator", "blessing")
  if blessings:
    summary["blessed"] = bool(_custom(blessings[0], "blessed", 0))
  pushed = run.artifacts("Pusher", "pushed_model")
  if pushed and _custom(pushed[0], "pushed", 0):
    summary["pushed_model"] = _custom(pushed[0], "pushed_destination")
  elif pushed and _custom(pushed[0], "unchanged", 0):
    summary["unchanged"] = _custom(pushed[0], "served_model")
  return summary


def write(summary: dict, path: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2, ensure_ascii=False)
