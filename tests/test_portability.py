"""Runner portability (contract): every task's ingestion gives the same examples and the same
ingest report on Beam's DirectRunner, on the PortableRunner with an embedded job server
(LOOPBACK workers), and on a local job service with an external worker pool, the set-up a
Flink, Spark or Dataflow cluster presents (a job endpoint, SDK workers elsewhere)."""

import glob
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

import pipeline_config
from components.artifacts import IngestReport
from components.image_example_gen import executor as image_executor
from components.ingest import executor as ingest_executor
from components.text_example_gen import executor as text_executor
from components.timeseries_example_gen import executor as timeseries_executor
from tests import image_factory, text_factory, timeseries_factory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
  deadline = time.time() + seconds
  while time.time() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f"{process.args} exited with {process.returncode}")
    with socket.socket() as s:
      if s.connect_ex(("localhost", port)) == 0:
        return
    time.sleep(0.2)
  raise RuntimeError(f"{process.args} did not listen on {port} within {seconds} s")


@pytest.fixture(scope="module")
def external_services(tmp_path_factory):
  """A local job service and an external SDK worker pool, started and stopped here; the
  workers import the toolkit as a cluster's image would (PYTHONPATH)."""
  logs = tmp_path_factory.mktemp("beam_services")
  # The pool starts each SDK worker as `python -c ...`: this environment's python first.
  env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
         "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
  job_port, pool_port = _free_port(), _free_port()
  started = []
  try:
    for name, args, port in (
        ("worker_pool", ["-m", "apache_beam.runners.worker.worker_pool_main",
                         f"--service_port={pool_port}"], pool_port),
        ("job_service", ["-m", "apache_beam.runners.portability.local_job_service_main",
                         f"--port={job_port}", f"--staging_dir={logs / 'staging'}"], job_port)):
      log = open(logs / f"{name}.log", "w")  # pylint: disable=consider-using-with
      started.append((subprocess.Popen([sys.executable, *args], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=str(logs)), log))
      _wait_for(port, started[-1][0])
    yield ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
           "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}"]
  finally:
    for process, log in started:
      process.terminate()
      try:
        process.wait(timeout=20)
      except subprocess.TimeoutExpired:
        process.kill()
      log.close()


EMBEDDED = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]

TASKS = {
    "image": (image_executor.Executor, None, ("examples", "ingest_report")),
    "text": (text_executor.Executor, pipeline_config.TextIngestConfig(),
             ("examples", "ingest_report")),
    "timeseries": (timeseries_executor.Executor,
                   pipeline_config.TimeseriesConfig(target_column="temp", lookback=24, delay=6),
                   ("examples", "windows", "ingest_report")),
}


def _data(task: str, root: str) -> None:
  if task == "image":
    image_factory.class_folder_dataset(root, classes=("cats", "dogs"), per_class=12)
    image_factory.exif_rotated_jpeg(os.path.join(root, "cats", "rotated.jpg"))
    image_factory.truncated_jpeg(os.path.join(root, "dogs", "broken.jpg"))
  elif task == "text":
    text_factory.class_folder_corpus(root, per_class=10)
    text_factory.write_cases(os.path.join(root, "tech"))
  else:
    os.makedirs(root)
    timeseries_factory.write_series(os.path.join(root, "a.csv"), hours=400)
    timeseries_factory.write_series(os.path.join(root, "b.csv"), hours=300, seed=1,
                                    gap=range(100, 103))


def _ingest(task: str, root: str, out: str, beam_args) -> dict:
  executor_class, task_config, outputs = TASKS[task]
  artifacts = {}
  for key in outputs:
    artifacts[key] = IngestReport() if key == "ingest_report" else standard_artifacts.Examples()
    artifacts[key].uri = os.path.join(out, key)
  properties = {ingest_executor.INPUT_BASE_KEY: root,
                ingest_executor.INGEST_CONFIG_KEY: pipeline_config.to_json(
                    pipeline_config.IngestConfig())}
  if task_config is not None:
    properties[ingest_executor.TASK_CONFIG_KEY] = pipeline_config.to_json(task_config)
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=list(beam_args), tmp_dir=os.path.join(out, "tmp"), unique_id="1")
  executor_class(context).Do({}, {k: [a] for k, a in artifacts.items()}, properties)
  return {key: artifact.uri for key, artifact in artifacts.items()}


def _digests(examples_uri: str) -> dict:
  """{split: sorted sha256 of every serialized example}: the same examples, in any order."""
  found = {}
  for folder in sorted(glob.glob(os.path.join(examples_uri, "Split-*"))):
    files = sorted(glob.glob(os.path.join(folder, "*")))
    found[os.path.basename(folder)] = sorted(
        hashlib.sha256(record.numpy()).hexdigest()
        for record in tf.data.TFRecordDataset(files))
  return found


def _report(uri: str) -> dict:
  with open(os.path.join(uri, "ingest_report.json")) as f:
    report = json.load(f)
  report["files"] = sorted(report["files"], key=lambda r: json.dumps(r, sort_keys=True))
  return report


@pytest.mark.parametrize("task", sorted(TASKS))
def test_ingestion_is_the_same_on_portable_runners(task, tmp_path, external_services):
  root = str(tmp_path / "data")
  _data(task, root)
  runs = {name: _ingest(task, root, str(tmp_path / name), args) for name, args in (
      ("direct", []), ("embedded", EMBEDDED), ("external", external_services))}
  direct = runs.pop("direct")
  expected = {key: _digests(uri) for key, uri in direct.items() if key != "ingest_report"}
  assert all(any(splits.values()) for splits in expected.values())
  report = _report(direct["ingest_report"])
  assert report["totals"]["found"] > 0
  for name, uris in runs.items():
    for key, splits in expected.items():
      assert _digests(uris[key]) == splits, f"{name}: {key} differ from the DirectRunner's"
    assert _report(uris["ingest_report"]) == report, f"{name}: the ingest report differs"
