"""DataGate executor: judges the ingest report, TFDV anomalies and drift; raises on a breach.

Output layout:
  {gate_result.uri}/gates.json   [{"name", "passed", "figures", "message"}, ...]
  {gate_result.uri}/accepted_profile.json   this drop's profile, which StateCommit makes
      the drift baseline once the model trained on it is served
  {history_dir}/accepted_profile.json   profile of the last drop whose model was served
      (the drift baseline this gate reads)
"""

import dataclasses
import json
import os
from typing import Any, Dict, List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

import pipeline_config
from components.data_gate import gates
from components.ingest import report as ingest_report
from schemas import contracts

GATE_CONFIG_KEY = "gate_config"
HISTORY_DIR_KEY = "history_dir"
GATE_FAMILIES_KEY = "gate_families"
INGEST_REPORT_KEY = "ingest_report"
ANOMALIES_KEY = "anomalies"
GATE_RESULT_KEY = "gate_result"
EXAMPLES_KEY = "examples"
BLESSED_MODEL_KEY = "blessed_model"
GATES_FILE = "gates.json"
PROFILE_FILE = "accepted_profile.json"


def read_anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
  """Split name -> 'feature: short description' for each anomaly ExampleValidator wrote."""
  found = {}
  for path in sorted(tf.io.gfile.glob(os.path.join(anomalies_uri, "Split-*",
                                                   "SchemaDiff.pb"))):
    split = os.path.basename(os.path.dirname(path))[len("Split-"):]
    anomalies = anomalies_pb2.Anomalies()
    with tf.io.gfile.GFile(path, "rb") as f:
      anomalies.ParseFromString(f.read())
    found[split] = [f"{name}: {info.short_description}"
                    for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
      found[split].append(f"dataset: {anomalies.dataset_anomaly_info.short_description}")
  return found


def _read_json(path: str):
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _write_json(path: str, value) -> None:
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump(value, f, indent=1, ensure_ascii=False)


def _predict(model, files: List[str]):
  """(labels, predicted label ids, confidence, sha256) of the examples in `files`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  spec = {"label": tf.io.FixedLenFeature([], tf.int64),
          "sha256": tf.io.FixedLenFeature([], tf.string)}
  serve = model.signatures["serving_examples"]
  labels, predicted, confidence, digests = [], [], [], []
  outputs = 0
  compression = "GZIP" if files and files[0].endswith(".gz") else ""
  for batch in tf.data.TFRecordDataset(files, compression_type=compression).batch(128):
    parsed = tf.io.parse_example(batch, spec)
    out = serve(examples=batch)
    labels.append(parsed["label"].numpy())
    predicted.append(out["label_id"].numpy())
    confidence.append(out["probabilities"].numpy().max(axis=1))
    outputs = int(out["probabilities"].shape[-1])
    digests += [d.decode() for d in parsed["sha256"].numpy()]
  if not labels:
    return np.zeros(0, int), np.zeros(0, int), np.zeros(0), [], 0
  return (np.concatenate(labels), np.concatenate(predicted), np.concatenate(confidence),
          digests, outputs)


def _label_agreement(input_dict, report: dict, config) -> "gates.GateResult | None":
  """The latest blessed model's accuracy on the newest span's labels against its accuracy
  on the window's older eval examples (eval_history), or without older spans in the window
  against the eval accuracy recorded with the model: shuffled labels in a new drop barely
  move the label mix, but the model disagrees with them. None for a task without labels;
  a GateResult saying "skipped" and why when it cannot run."""
  examples = input_dict.get(EXAMPLES_KEY) or []
  models = input_dict.get(BLESSED_MODEL_KEY)
  if not examples or models is None:
    return None                                 # not a classification pipeline
  name = gates.LABEL_AGREEMENT
  from components.pushed_model.executor import has_model  # pylint: disable=import-outside-toplevel
  if not models or not has_model(models[0].uri):   # LatestPushedModel: nothing pushed yet
    return gates.skipped(name, "no blessed model yet (the first run)")
  from tfx.utils import path_utils  # pylint: disable=import-outside-toplevel
  uri = examples[0].uri
  drops = report.get("spans") or {}
  newest = drops.get("newest", 0)
  newest_files = sorted(tf.io.gfile.glob(os.path.join(uri, "Split-*",
                                                      f"data_tfrecord-span{newest}-*")))
  if not newest_files:
    return gates.skipped(name, f"span {newest} wrote no examples")
  history_files = sorted(tf.io.gfile.glob(os.path.join(uri, "Split-eval_history", "*")))
  model_dir = path_utils.serving_model_path(models[0].uri)
  recorded = contracts.read_eval_figures(model_dir)
  if not history_files and not recorded:
    return gates.skipped(name, "only one span in the window and the blessed model recorded "
                         "no eval accuracy (trained before eval figures were recorded)")
  model = tf.saved_model.load(model_dir)
  new = _predict(model, newest_files)
  old = _predict(model, history_files) if history_files else None
  paths = {r["sha256"]: r["path"] for r in report["files"] if r.get("sha256")}
  return gates.label_agreement(new, old, report["class_names"], report.get(
      "vocabulary", {}).get("labels") or report["class_names"], paths, newest,
                               config.max_label_agreement_drop, recorded)


def _families_of(report: dict) -> list:
  """A pipeline compiled before the task named its gate families (no gate_families property):
  the families its report shows, so that none of its gates is skipped."""
  return (["classes"] * bool(report.get("class_names")) + ["series"] * bool(report.get("columns"))
          + ["tokens"] * any(r.get("tokens") is not None for r in report["files"]))


class Executor(base_executor.BaseExecutor):
  """Stops the pipeline with a ToolkitError when a quality gate is breached."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    config = pipeline_config.from_dict(
        pipeline_config.GateConfig, json.loads(exec_properties[GATE_CONFIG_KEY]))
    history_dir = exec_properties[HISTORY_DIR_KEY]
    report_uri = artifact_utils.get_single_uri(input_dict[INGEST_REPORT_KEY])
    anomalies_uri = artifact_utils.get_single_uri(input_dict[ANOMALIES_KEY])
    result_uri = artifact_utils.get_single_uri(output_dict[GATE_RESULT_KEY])

    report = ingest_report.read_report(report_uri)
    previous = _read_json(os.path.join(history_dir, PROFILE_FILE))
    declared = exec_properties.get(GATE_FAMILIES_KEY)
    families = [f for f in declared.split(",") if f] if declared else _families_of(report)
    results = gates.evaluate(report, read_anomalies(anomalies_uri), config, previous, families)
    agreement = _label_agreement(input_dict, report, config)
    if agreement is not None:
      results.append(agreement)
    _write_json(os.path.join(result_uri, GATES_FILE), [dataclasses.asdict(r) for r in results])

    breached = [r for r in results if not r.passed]
    summary_path = os.path.join(report_uri, ingest_report.REPORT_MARKDOWN)
    if breached:
      raise pipeline_config.ToolkitError(
          "Data gate breached, so nothing was trained or pushed: " + "; ".join(
              f"{r.name}: {r.message}" for r in breached)
          + f". See the ingest report {summary_path} and the gate figures "
          f"{os.path.join(result_uri, GATES_FILE)}; fix the data, or if this is expected "
          "relax the gate with " + " ".join(
              f"--gate {r.relax}" for r in breached)
          + " (or in GateConfig in a --config file).")
    _write_json(os.path.join(result_uri, PROFILE_FILE),
                {**gates.data_profile(report), "ingest_report": report_uri})
    print(f"[DataGate] {len(results)} gates passed "
          f"({', '.join(r.name for r in results)})", flush=True)
