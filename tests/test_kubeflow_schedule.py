"""Scheduling a compiled pipeline: the client calls' arguments, cron forms, file kinds, and clear
failures when no service answers (no network, no credentials)."""

import http.server
import inspect
import json
import threading

import pytest

import pipeline_config
from pipeline import kubeflow_schedule as ks

UNREACHABLE_HOST = "http://127.0.0.1:9"


@pytest.fixture
def vertex_file(tmp_path):
  path = tmp_path / "pipeline.json"
  path.write_text(json.dumps({
      "displayName": "toolkit",
      "pipelineSpec": {"pipelineInfo": {"name": "transfer-learning"},
                       "root": {"dag": {"tasks": {}}}, "schemaVersion": "2.1.0",
                       "sdkVersion": "tfx-1.16.0"},
      "runtimeConfig": {"gcsOutputDirectory": "gs://b/r"},
  }))
  return str(path)


@pytest.fixture
def kfp_file(tmp_path):
  path = tmp_path / "pipeline.yaml"
  path.write_text("pipelineInfo:\n  name: transfer-learning\nroot:\n  dag:\n    tasks: {}\n"
                  "schemaVersion: 2.1.0\nsdkVersion: tfx-1.16.0\n")
  return str(path)


# --- the client calls' arguments bind to the installed libraries' signatures ---

def test_vertex_kwargs_bind_to_aiplatform(vertex_file):
  from google.cloud import aiplatform
  job_kwargs = ks.vertex_job_kwargs(vertex_file, project="p", region="us-central1",
                                    display_name="toolkit", pipeline_root="gs://b/root")
  inspect.signature(aiplatform.PipelineJob.__init__).bind(None, **job_kwargs)
  assert job_kwargs["location"] == "us-central1"
  assert job_kwargs["pipeline_root"] == "gs://b/root"
  assert job_kwargs["enable_caching"] is None
  schedule_kwargs = ks.vertex_schedule_kwargs(cron="0 3 * * *", display_name="toolkit",
                                              service_account="sa@p.iam.gserviceaccount.com")
  inspect.signature(aiplatform.PipelineJob.create_schedule).bind(None, **schedule_kwargs)
  assert schedule_kwargs["max_concurrent_run_count"] == 1
  assert schedule_kwargs["max_run_count"] is None
  assert schedule_kwargs["cron"] == "0 3 * * *"


def test_kfp_kwargs_bind_to_kfp_client(kfp_file):
  import kfp
  kwargs = ks.kfp_recurring_run_kwargs(kfp_file, experiment_id="e1", job_name="nightly",
                                       cron="0 3 * * *", pipeline_root="gs://b/root",
                                       params={"epochs": 2})
  inspect.signature(kfp.Client.create_recurring_run).bind(None, **kwargs)
  assert kwargs["max_concurrency"] == 1
  assert kwargs["enabled"] is True
  assert kwargs["cron_expression"] == "0 0 3 * * *"
  assert kwargs["pipeline_root"] == "gs://b/root"
  assert kwargs["pipeline_package_path"] == kfp_file
  assert kwargs["params"] == {"epochs": 2}


# --- cron forms ---

@pytest.mark.parametrize("expr, expected", [
    ("0 3 * * *", "0 0 3 * * *"),
    ("  */15   *  * * MON-FRI ", "0 */15 * * * MON-FRI"),
    ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),
    ("30 0 3 * * *", "30 0 3 * * *"),
])
def test_six_field_cron(expr, expected):
  assert ks.six_field_cron(expr) == expected


@pytest.mark.parametrize("expr", ["", "   ", "0 3 * *", "0 0 0 3 * * *", "@daily",
                                  "0 3 * * * ;rm", "TZ=Europe/Paris 0 3 * * *"])
def test_six_field_cron_rejects(expr):
  with pytest.raises(pipeline_config.ToolkitError, match="cron|time-zone"):
    ks.six_field_cron(expr)


@pytest.mark.parametrize("expr, expected", [
    ("0 3 * * *", "0 3 * * *"),
    ("TZ=America/New_York  0 3 * * 1-5", "TZ=America/New_York 0 3 * * 1-5"),
    ("CRON_TZ=Europe/Paris 0 3 * * *", "CRON_TZ=Europe/Paris 0 3 * * *"),
])
def test_vertex_cron(expr, expected):
  assert ks.vertex_cron(expr) == expected


@pytest.mark.parametrize("expr, message", [
    ("0 0 3 * * *", "no seconds field"),
    ("0 3 * *", "has 4 fields"),
    ("TZ= 0 3 * * *", "malformed time zone"),
    ("TZ=Europe/Paris", "cron expression is empty"),
    ("", "empty"),
])
def test_vertex_cron_rejects(expr, message):
  with pytest.raises(pipeline_config.ToolkitError, match=message):
    ks.vertex_cron(expr)


# --- file kinds ---

def test_files_of_the_right_kind_load(vertex_file, kfp_file):
  assert "pipelineSpec" in ks.load_vertex_template(vertex_file)
  assert ks.load_kfp_package(kfp_file)["pipelineInfo"]["name"] == "transfer-learning"


def test_missing_file_names_the_compile_command(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="--target vertex"):
    ks.load_vertex_template(str(tmp_path / "nope.json"))
  with pytest.raises(pipeline_config.ToolkitError, match="--target kfp"):
    ks.load_kfp_package(str(tmp_path / "nope.yaml"))


def test_wrong_file_kinds_raise(tmp_path, vertex_file, kfp_file):
  with pytest.raises(pipeline_config.ToolkitError, match="--target vertex"):
    ks.schedule_vertex(kfp_file, project="p", region="us-central1", cron="0 3 * * *")
  vertex_as_yaml = tmp_path / "vertex.yaml"
  vertex_as_yaml.write_text(open(vertex_file).read())
  with pytest.raises(pipeline_config.ToolkitError, match="Vertex PipelineJob"):
    ks.schedule_kfp(str(vertex_as_yaml), host=UNREACHABLE_HOST, cron="0 3 * * *",
                    pipeline_root="gs://b/r")
  with pytest.raises(pipeline_config.ToolkitError, match="--target kfp"):
    ks.schedule_kfp(vertex_file, host=UNREACHABLE_HOST, cron="0 3 * * *",
                    pipeline_root="gs://b/r")
  not_a_spec = tmp_path / "other.yaml"
  not_a_spec.write_text("a: 1\n")
  with pytest.raises(pipeline_config.ToolkitError, match="pipelineInfo"):
    ks.load_kfp_package(str(not_a_spec))
  broken = tmp_path / "broken.json"
  broken.write_text("{not json")
  with pytest.raises(pipeline_config.ToolkitError, match="pipelineSpec"):
    ks.load_vertex_template(str(broken))


def test_bad_pipeline_roots_raise(vertex_file, kfp_file):
  with pytest.raises(pipeline_config.ToolkitError, match="gs://"):
    ks.schedule_vertex(vertex_file, project="p", region="us-central1", cron="0 3 * * *",
                       pipeline_root="/local/dir")
  with pytest.raises(pipeline_config.ToolkitError, match="pipeline root"):
    ks.schedule_kfp(kfp_file, host=UNREACHABLE_HOST, cron="0 3 * * *", pipeline_root="")


# --- no service reachable ---

def test_kfp_unreachable_host_raises_with_the_host(kfp_file):
  with pytest.raises(pipeline_config.ToolkitError) as info:
    ks.schedule_kfp(kfp_file, host=UNREACHABLE_HOST, cron="0 3 * * *",
                    pipeline_root="gs://b/r")
  message = str(info.value)
  assert UNREACHABLE_HOST in message
  assert "port-forward" in message


def test_kfp_client_errors_are_wrapped(kfp_file, monkeypatch):
  # Past the probe, the real client's connection error becomes a ToolkitError too.
  monkeypatch.setattr(ks, "probe_kfp_host", lambda host: None)
  with pytest.raises(pipeline_config.ToolkitError) as info:
    ks.schedule_kfp(kfp_file, host=UNREACHABLE_HOST, cron="0 3 * * *",
                    pipeline_root="gs://b/r")
  message = str(info.value)
  assert UNREACHABLE_HOST in message and "cannot talk to the KFP API" in message
  assert "\n" not in message


class _NotFound(http.server.BaseHTTPRequestHandler):
  def do_GET(self):
    self.send_response(404)
    self.end_headers()

  def log_message(self, *args):
    pass


def test_kfp_host_without_the_api_raises():
  server = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  host = f"http://127.0.0.1:{server.server_address[1]}"
  try:
    with pytest.raises(pipeline_config.ToolkitError, match="404"):
      ks.probe_kfp_host(host)
  finally:
    server.shutdown()
    server.server_close()


def test_vertex_without_credentials_raises(vertex_file, monkeypatch, tmp_path):
  monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
  monkeypatch.setenv("NO_GCE_CHECK", "True")
  monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
  monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
  with pytest.raises(pipeline_config.ToolkitError) as info:
    ks.schedule_vertex(vertex_file, project="my-project", region="us-central1",
                       cron="0 3 * * *")
  message = str(info.value)
  assert "credentials" in message
  assert "gcloud auth application-default login" in message
  assert "my-project" in message


# --- the whole flow against stand-in clients ---

def test_schedule_kfp_flow(kfp_file, monkeypatch):
  import kfp
  calls = {}

  class FakeClient:
    def __init__(self, host):
      calls["host"] = host

    def create_experiment(self, name):
      calls["experiment"] = name
      return type("Experiment", (), {"experiment_id": "exp-1"})()

    def create_recurring_run(self, **kwargs):
      inspect.signature(kfp.Client.create_recurring_run).bind(None, **kwargs)
      calls["run"] = kwargs
      return type("RecurringRun", (), {"recurring_run_id": "rr-1"})()

  monkeypatch.setattr(ks, "probe_kfp_host", lambda host: calls.setdefault("probed", host))
  monkeypatch.setattr(kfp, "Client", FakeClient)
  run_id = ks.schedule_kfp(kfp_file, host="http://kfp:8080", cron="0 3 * * *",
                           pipeline_root="gs://b/r", experiment="nightly")
  assert run_id == "rr-1"
  assert calls["probed"] == calls["host"] == "http://kfp:8080"
  assert calls["experiment"] == "nightly"
  assert calls["run"]["experiment_id"] == "exp-1"
  assert calls["run"]["job_name"] == "transfer-learning-schedule"
  assert calls["run"]["cron_expression"] == "0 0 3 * * *"
  assert calls["run"]["pipeline_root"] == "gs://b/r"
  assert calls["run"]["max_concurrency"] == 1


def test_schedule_vertex_flow(vertex_file, monkeypatch):
  from google.cloud import aiplatform
  calls = {}

  class FakeJob:
    def __init__(self, **kwargs):
      inspect.signature(aiplatform.PipelineJob.__init__).bind(None, **kwargs)
      calls["job"] = kwargs

    def create_schedule(self, **kwargs):
      inspect.signature(aiplatform.PipelineJob.create_schedule).bind(None, **kwargs)
      calls["schedule"] = kwargs
      return type("Schedule", (), {"resource_name": "projects/p/locations/r/schedules/1"})()

  monkeypatch.setattr(aiplatform, "PipelineJob", FakeJob)
  name = ks.schedule_vertex(vertex_file, project="p", region="europe-west4",
                            cron="TZ=Europe/Amsterdam 0 3 * * *")
  assert name == "projects/p/locations/r/schedules/1"
  assert calls["job"]["display_name"] == "transfer-learning"
  assert calls["job"]["location"] == "europe-west4"
  assert calls["job"]["pipeline_root"] is None
  assert calls["schedule"]["cron"] == "TZ=Europe/Amsterdam 0 3 * * *"
  assert calls["schedule"]["max_concurrent_run_count"] == 1
