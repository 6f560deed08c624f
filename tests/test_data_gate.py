"""DataGate: each gate judged on real ingest reports; the executor stops on a breach."""

import copy
import json
import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import standard_artifacts

import pipeline_config
from components.data_gate import executor, gates
from components.data_gate.component import DataGateResult
from components.image_example_gen.image_checks import ImageIngest
from components.ingest import report as ingest_report
from components.ingest.component import IngestReport
from pipeline import cli


IMAGE = ImageIngest()


def split_of(i):
  """70/10/20 in file order, as the content hash would spread them."""
  return "train" if i % 10 < 7 else ("validation" if i % 10 == 7 else "eval")


def make_report(per_class, rejected=0, conflicts=0, fmt="PNG", size=40, splits=split_of):
  rows = []
  for name, count in per_class.items():
    for i in range(count):
      rows.append({"path": f"{name}/{i}.png", "outcome": "ingested", "reason": "",
                   "class": name, "split": splits(i), "sha256": f"{name}{i}", "format": fmt,
                   "width": size, "height": size})
  for i in range(rejected):
    rows.append({"path": f"bad/{i}.jpg", "outcome": "rejected", "reason": "truncated: x",
                 "class": list(per_class)[0], "split": None, "sha256": None,
                 "format": None, "width": None, "height": None})
  for i in range(conflicts):
    rows.append({"path": f"conflict/{i}.png", "outcome": "rejected",
                 "reason": "label_conflict: same content also filed under b",
                 "class": list(per_class)[0], "split": "eval", "sha256": "c",
                 "format": "PNG", "width": size, "height": size})
  return ingest_report.build_report(rows, sorted(per_class), IMAGE.profile)


def failed(results):
  return {r.name for r in results if not r.passed}


CONFIG = pipeline_config.GateConfig()


def test_clean_data_passes_every_gate():
  results = gates.evaluate(make_report({"a": 50, "b": 40}), {"train": []}, CONFIG, None)
  assert failed(results) == set()
  assert {r.name for r in results} >= {"max_rejected_fraction", "min_images_per_class",
                                        "max_class_imbalance", "max_label_conflicts",
                                        "tfdv_anomalies", "drift"}


@pytest.mark.parametrize("report,anomalies,gate", [
    (make_report({"a": 50, "b": 40}, rejected=10), {}, "max_rejected_fraction"),
    (make_report({"a": 20, "b": 3}, splits=lambda i: pipeline_config.SPLITS[i % 3]), {},
     "min_images_per_class"),
    (make_report({"a": 500, "b": 20}), {}, "max_class_imbalance"),
    (make_report({"a": 50, "b": 40}, conflicts=2), {}, "max_label_conflicts"),
    (make_report({"a": 50, "b": 40}), {"eval": ["image: Low supported image fraction"]},
     "tfdv_anomalies"),
    (make_report({"a": 50, "b": 40}, splits=lambda i: "train" if i % 2 else "eval"), {},
     "min_examples_per_split"),
])
def test_each_gate_breaches_alone(report, anomalies, gate):
  results = gates.evaluate(report, anomalies, CONFIG, None)
  assert failed(results) == {gate}
  # The flag the breach message suggests is enough to let the same data through.
  relaxed = copy.deepcopy(CONFIG)
  cli._set_gate(relaxed, next(r.relax for r in results if not r.passed))  # pylint: disable=protected-access
  assert failed(gates.evaluate(report, anomalies, relaxed, None)) == set()


def test_gates_follow_their_config():
  report = make_report({"a": 50, "b": 3}, splits=lambda i: pipeline_config.SPLITS[i % 3])
  relaxed = pipeline_config.GateConfig(min_images_per_class=3, max_class_imbalance=20)
  assert failed(gates.evaluate(report, {}, relaxed, None)) == set()


def test_drift_against_the_previous_drop():
  previous = gates.data_profile(make_report({"a": 50, "b": 50}))
  same = gates.evaluate(make_report({"a": 40, "b": 40}), {}, CONFIG, previous)
  assert failed(same) == set()
  shifted = gates.evaluate(make_report({"a": 90, "b": 10}), {}, CONFIG, previous)
  assert failed(shifted) == {"max_label_drift"}
  label = next(r for r in shifted if r.name == "max_label_drift")
  assert label.figures["linf"] == pytest.approx(0.4)
  new_format = gates.evaluate(make_report({"a": 50, "b": 50}, fmt="JPEG"), {}, CONFIG,
                              previous)
  assert failed(new_format) == {"max_format_drift"}
  bigger = gates.evaluate(make_report({"a": 50, "b": 50}, size=200), {}, CONFIG, previous)
  assert failed(bigger) == {"max_size_drift"}
  for results, report in ((shifted, make_report({"a": 90, "b": 10})),
                          (new_format, make_report({"a": 50, "b": 50}, fmt="JPEG")),
                          (bigger, make_report({"a": 50, "b": 50}, size=200))):
    relaxed = copy.deepcopy(CONFIG)
    cli._set_gate(relaxed, next(r.relax for r in results if not r.passed))  # pylint: disable=protected-access
    assert failed(gates.evaluate(report, {}, relaxed, previous)) == set()


def commit(gate_result, history_dir, pushed=1, examples=None, vocabulary_uri=None):
  """The pipeline's last step (StateCommit) after a push (pushed=1) or a run whose model
  was not served (pushed=0): returns what it says it committed."""
  from components.state_commit import executor as commit_executor  # pylint: disable=import-outside-toplevel
  from components.artifacts import StateCommitRecord  # pylint: disable=import-outside-toplevel
  pushed_model = standard_artifacts.PushedModel()
  pushed_model.set_int_custom_property("pushed", pushed)
  record = StateCommitRecord()
  record.uri = gate_result.uri + "_commit"
  commit_executor.Executor().Do(
      {commit_executor.PUSHED_MODEL_KEY: [pushed_model],
       commit_executor.GATE_RESULT_KEY: [gate_result],
       **({commit_executor.EXAMPLES_KEY: [examples]} if examples else {})},
      {commit_executor.COMMIT_KEY: [record]},
      {commit_executor.HISTORY_DIR_KEY: history_dir,
       **({commit_executor.VOCABULARY_KEY: vocabulary_uri} if vocabulary_uri else {})})
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  with tf.io.gfile.GFile(os.path.join(record.uri, commit_executor.COMMIT_FILE)) as f:
    return json.load(f)


def run_gate(tmp_path, report, anomalies=None, name="run", inputs=None):
  report_artifact = IngestReport()
  report_artifact.uri = str(tmp_path / name / "report")
  ingest_report.write_report(report, report_artifact.uri)
  anomalies_artifact = standard_artifacts.ExampleAnomalies()
  anomalies_artifact.uri = str(tmp_path / name / "anomalies")
  for split, features in (anomalies or {"train": [], "eval": []}).items():
    proto = anomalies_pb2.Anomalies()
    for feature in features:
      proto.anomaly_info[feature].short_description = "Unexpected string values"
    os.makedirs(os.path.join(anomalies_artifact.uri, f"Split-{split}"))
    with open(os.path.join(anomalies_artifact.uri, f"Split-{split}", "SchemaDiff.pb"),
              "wb") as f:
      f.write(proto.SerializeToString())
  result = DataGateResult()
  result.uri = str(tmp_path / name / "result")
  executor.Executor().Do(
      {executor.INGEST_REPORT_KEY: [report_artifact],
       executor.ANOMALIES_KEY: [anomalies_artifact], **(inputs or {})},
      {executor.GATE_RESULT_KEY: [result]},
      {executor.GATE_CONFIG_KEY: pipeline_config.to_json(CONFIG),
       executor.HISTORY_DIR_KEY: str(tmp_path / "history")})
  return result, report_artifact


def test_executor_passes_records_figures_and_remembers_the_drop(tmp_path):
  result, _ = run_gate(tmp_path, make_report({"a": 50, "b": 50}))
  with open(os.path.join(result.uri, executor.GATES_FILE)) as f:
    assert all(g["passed"] for g in json.load(f))
  assert not (tmp_path / "history").exists()       # a proposal until the model is served
  assert commit(result, str(tmp_path / "history"))["committed"] == {
      "drift_baseline": str(tmp_path / "history" / executor.PROFILE_FILE)}
  with open(tmp_path / "history" / executor.PROFILE_FILE) as f:
    assert json.load(f)["label_distribution"] == {"a": 0.5, "b": 0.5}


def test_state_outside_mlmd_is_committed_only_when_the_model_is_served(tmp_path):
  """Issue 20, case 13: the vocabulary and drift baseline were written while the run ran
  and restored by the local runner alone, so a failed --on-new-class extend run on a
  cluster extended the vocabulary for good."""
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  os.makedirs(examples.uri)
  with open(os.path.join(examples.uri, "labels.json"), "w") as f:
    json.dump(["a", "b", "c"], f)
  vocabulary_uri = str(tmp_path / "state" / "label_vocabulary.json")
  os.makedirs(os.path.dirname(vocabulary_uri))
  with open(vocabulary_uri, "w") as f:
    json.dump(["a", "b"], f)
  result, _ = run_gate(tmp_path, make_report({"a": 50, "b": 50}))
  history = str(tmp_path / "history")
  assert commit(result, history, pushed=0, examples=examples,
                vocabulary_uri=vocabulary_uri) == {"served": False, "committed": {}}
  assert json.load(open(vocabulary_uri)) == ["a", "b"] and not os.path.exists(history)
  done = commit(result, history, pushed=1, examples=examples, vocabulary_uri=vocabulary_uri)
  assert sorted(done["committed"]) == ["drift_baseline", "vocabulary"]
  assert json.load(open(vocabulary_uri)) == ["a", "b", "c"]


def test_executor_stops_naming_gate_figures_and_report(tmp_path):
  first, _ = run_gate(tmp_path, make_report({"a": 50, "b": 50}), name="first")
  commit(first, str(tmp_path / "history"))
  with pytest.raises(pipeline_config.ToolkitError) as error:
    run_gate(tmp_path, make_report({"a": 95, "b": 12}), name="second")
  message = str(error.value)
  assert "max_label_drift" in message and "0.388" in message
  assert os.path.join(str(tmp_path / "second" / "report"), "ingest_report.md") in message


def test_executor_reads_tfdv_anomalies(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="tfdv_anomalies.*label_name"):
    run_gate(tmp_path, make_report({"a": 50, "b": 50}), {"eval": ["label_name"]})


def test_split_gate_names_the_classes_and_splits_that_are_short(tmp_path):
  report = make_report({"a": 30, "b": 30})
  for row in report["files"]:      # class b never reaches the validation split
    if row["class"] == "b" and row["split"] == "validation":
      row["split"] = "train"
  report = ingest_report.build_report(report["files"], report["class_names"], IMAGE.profile)
  with pytest.raises(pipeline_config.ToolkitError) as error:
    run_gate(tmp_path, report)
  message = str(error.value)
  assert "min_examples_per_split" in message and "b (validation 0)" in message
  assert "a (" not in message
  assert "--gate min_examples_per_split=0" in message


def test_breach_message_names_the_flag_that_relaxes_it(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError) as error:
    run_gate(tmp_path, make_report({"a": 50, "b": 40}, conflicts=3))
  assert "--gate max_label_conflicts=3" in str(error.value)
  assert "GateConfig" in str(error.value)


def test_label_conflicts_are_judged_by_their_own_gate_only():
  report = make_report({"a": 50, "b": 40}, conflicts=10)   # 10 of 100 files: over 5%
  assert failed(gates.evaluate(report, {}, CONFIG, None)) == {"max_label_conflicts"}
  relaxed = pipeline_config.GateConfig(max_label_conflicts=10)
  assert failed(gates.evaluate(report, {}, relaxed, None)) == set()


def test_report_gate_and_drift_baseline_live_on_a_non_local_filesystem():
  """TensorFlow's ram:// filesystem stands in for gs://: nothing may go through local file
  I/O (the report, the anomalies, the gate figures, the accepted drop's profile)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  base = f"ram://gate_{os.getpid()}"

  def gate(report, name):
    report_artifact = IngestReport()
    report_artifact.uri = f"{base}/{name}/report"
    ingest_report.write_report(report, report_artifact.uri)
    anomalies_artifact = standard_artifacts.ExampleAnomalies()
    anomalies_artifact.uri = f"{base}/{name}/anomalies"
    tf.io.gfile.makedirs(f"{anomalies_artifact.uri}/Split-eval")
    with tf.io.gfile.GFile(f"{anomalies_artifact.uri}/Split-eval/SchemaDiff.pb", "wb") as f:
      f.write(anomalies_pb2.Anomalies().SerializeToString())
    result = DataGateResult()
    result.uri = f"{base}/{name}/result"
    executor.Executor().Do(
        {executor.INGEST_REPORT_KEY: [report_artifact],
         executor.ANOMALIES_KEY: [anomalies_artifact]},
        {executor.GATE_RESULT_KEY: [result]},
        {executor.GATE_CONFIG_KEY: pipeline_config.to_json(CONFIG),
         executor.HISTORY_DIR_KEY: f"{base}/history"})
    return result

  result = gate(make_report({"a": 50, "b": 50}), "first")
  assert ingest_report.read_report(f"{base}/first/report")["totals"]["found"] == 100
  with tf.io.gfile.GFile(f"{result.uri}/{executor.GATES_FILE}") as f:
    assert all(g["passed"] for g in json.load(f))
  commit(result, f"{base}/history")
  assert tf.io.gfile.exists(f"{base}/history/{executor.PROFILE_FILE}")
  with pytest.raises(pipeline_config.ToolkitError, match="max_label_drift"):
    gate(make_report({"a": 95, "b": 12}), "second")


def test_a_label_agreement_gate_that_cannot_run_says_so_and_why(tmp_path):
  """It returned nothing, so gates.json showed no trace of it (issue 20, case 3)."""
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  result, _ = run_gate(tmp_path, make_report({"a": 50, "b": 50}), inputs={
      executor.EXAMPLES_KEY: [examples], executor.BLESSED_MODEL_KEY: []})
  with open(os.path.join(result.uri, executor.GATES_FILE)) as f:
    listed = {g["name"]: g for g in json.load(f)}
  agreement = listed["max_label_agreement_drop"]
  assert agreement["message"] == "skipped: no blessed model yet (the first run)"
  assert agreement["figures"] == {"skipped": "no blessed model yet (the first run)"}


def test_a_pipeline_compiled_without_gate_families_runs_every_gate_its_report_shows():
  """Specs compiled before descriptors named the families carry no gate_families: the
  executor takes them from the report, so no family is skipped silently."""
  report = make_report({"a": 20, "b": 20})
  assert executor._families_of(report) == ["classes"]  # pylint: disable=protected-access
  for row in report["files"]:
    row["tokens"] = 5
  assert executor._families_of(report) == ["classes", "tokens"]  # pylint: disable=protected-access
  names = {r.name for r in gates.evaluate(report, {}, CONFIG, None,
                                          executor._families_of(report))}  # pylint: disable=protected-access
  assert "min_tokens_per_document" in names and "min_classes" in names
  series = {"class_names": [], "columns": {"features": ["t"]}, "files": []}
  assert executor._families_of(series) == ["series"]  # pylint: disable=protected-access
