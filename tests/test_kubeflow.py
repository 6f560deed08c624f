"""Compiling for Kubeflow (pipeline/kubeflow.py): the files, the image they name, and the
compiled steps run the way the cluster runs them (tests/kubeflow_steps.py)."""

import glob
import json
import os
import shutil
import subprocess
import sys
import venv

import pytest
import yaml

import pipeline_config
from tests import kubeflow_steps, text_factory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "gs://toolkit-test"
IMAGE = "europe-docker.pkg.dev/acme/ml/toolkit:1.0"
DRIVER = "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
# The built-in tasks (a test-only task registered by another test is not compiled here).
BUILT_IN_TASKS = ("image", "text", "timeseries")


def _config(task: str) -> pipeline_config.PipelineConfig:
  config = pipeline_config.PipelineConfig(data_root=f"{BUCKET}/data", task=task,
                                          pipeline_root_uri=f"{BUCKET}/pipelines")
  config.text_trainer.epochs = 2
  config.timeseries.target_column = "temp"
  config.timeseries.time_column = "time_hour"
  if task == "timeseries":
    config.infer_root = f"{BUCKET}/unlabelled"     # --infer-root: the BatchInference step
  return config


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  """{(task, target): (path, text)} for every task, both targets."""
  from pipeline import kubeflow  # pylint: disable=import-outside-toplevel
  out = tmp_path_factory.mktemp("compiled")
  files = {}
  for task in BUILT_IN_TASKS:
    for target, name in (("vertex", "pipeline.json"), ("kfp", "pipeline.yaml")):
      path = str(out / f"{task}-{name}")
      kubeflow.compile_pipeline(_config(task), target, path, IMAGE)
      with open(path) as f:
        files[task, target] = (path, f.read())
  return files


def _executors(spec: dict) -> dict:
  return spec.get("pipelineSpec", spec)["deploymentSpec"]["executors"]


def _tasks(spec: dict) -> dict:
  return spec.get("pipelineSpec", spec)["root"]["dag"]["tasks"]


def test_kfp_yaml_loads_with_kfps_loader_and_has_no_resolver(compiled):
  from kfp import components  # pylint: disable=import-outside-toplevel
  for task in BUILT_IN_TASKS:
    path, text = compiled[task, "kfp"]
    loaded = components.load_component_from_file(path)
    spec = yaml.safe_load(text)
    assert loaded.name == spec["pipelineInfo"]["name"]
    assert not [name for name in _tasks(spec) if "resolver" in name]
    assert all("container" in executor for executor in _executors(spec).values())
    # The latest blessed model comes from the push destination instead.
    assert {"latest_pushed_model", "evaluator_baseline"} <= set(_tasks(spec))
    evaluator_inputs = _tasks(spec)["Evaluator"]["inputs"]["artifacts"]
    assert evaluator_inputs["baseline_model"]["taskOutputArtifact"]["producerTask"] == (
        "evaluator_baseline")
    assert spec["defaultPipelineRoot"] == f"{BUCKET}/pipelines"


def test_every_pipeline_writes_a_model_card_and_infer_root_adds_batch_inference(compiled):
  for task in BUILT_IN_TASKS:
    for target in ("vertex", "kfp"):
      _, text = compiled[task, target]
      steps = _tasks(json.loads(text) if target == "vertex" else yaml.safe_load(text))
      assert "ModelCardGen" in steps and "StateCommit" in steps
      assert ("BatchInference" in steps) is (task == "timeseries")
      if task == "timeseries":
        assert f"{BUCKET}/unlabelled" in text


def test_vertex_json_names_the_image_the_resolver_and_the_span_driver(compiled):
  for task in BUILT_IN_TASKS:
    spec = json.loads(compiled[task, "vertex"][1])
    containers = [e["container"] for e in _executors(spec).values() if "container" in e]
    assert containers and {c["image"] for c in containers} == {IMAGE}
    assert any("resolver" in e for e in _executors(spec).values())
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == f"{BUCKET}/pipelines"
    example_gen = [c for c in containers if "lifecycle" in c]
    assert len(example_gen) == 1
    hook = example_gen[0]["lifecycle"]["preCacheCheck"]
    assert hook["command"][-1] == DRIVER
    assert "{SPAN}" in json.dumps(_tasks(spec)), "the input pattern names the drops"


def test_no_path_of_the_compiling_machine_in_either_file(compiled, tmp_path):
  local = {REPO, os.path.dirname(REPO), os.path.expanduser("~"), os.getcwd(),
           str(tmp_path.parent), sys.prefix}
  for (task, target), (_, text) in compiled.items():
    leaked = [p for p in local if p and p != "/" and p in text]
    assert not leaked, f"{task}/{target} contains {leaked}"
    assert "schemas/" not in text and f"{task}_schema.pbtxt" in text


def test_kfp_never_caches_ingestion_or_the_pushed_model(compiled):
  for task in BUILT_IN_TASKS:
    spec = yaml.safe_load(compiled[task, "kfp"][1])
    uncached = {name for name, t in _tasks(spec).items()
                if not t.get("cachingOptions", {}).get("enableCache")}
    assert {"latest_pushed_model", "evaluator_baseline"} <= uncached
    assert [name for name in uncached if name.endswith("ExampleGen")]
    assert "Trainer" not in uncached


def test_every_task_names_the_drops_time_series_too(compiled):
  patterns = {task: json.loads(json.loads(compiled[task, "vertex"][1])["pipelineSpec"]["root"][
      "dag"]["tasks"][f"{task.capitalize()}ExampleGen"]["inputs"]["parameters"]["input_config"][
          "runtimeValue"]["constantValue"]["stringValue"])["splits"][0]["pattern"]
              for task in BUILT_IN_TASKS}
  assert patterns == {"image": "span-{SPAN}/*/*", "text": "span-{SPAN}/*/*",
                      "timeseries": "span-{SPAN}/*"}


def test_compile_refuses_what_a_cluster_cannot_use(tmp_path):
  from pipeline import kubeflow  # pylint: disable=import-outside-toplevel
  config = _config("text")
  config.pipeline_name = "my_pipeline"
  with pytest.raises(pipeline_config.ToolkitError, match="no underscores"):
    kubeflow.compile_pipeline(config, "kfp", str(tmp_path / "p.yaml"), IMAGE)
  config = _config("text")
  config.data_root = str(tmp_path)
  with pytest.raises(pipeline_config.ToolkitError, match="--data-root must be a URI"):
    kubeflow.compile_pipeline(config, "vertex", str(tmp_path / "p.json"), IMAGE)
  assert not os.path.exists(tmp_path / "p.json")


def _named_imports(specs) -> set:
  """Executor class paths and the Trainer's run_fn module the specs name."""
  names = set()
  for spec in specs:
    for executor in _executors(spec).values():
      args = executor.get("container", {}).get("args", [])
      if "--executor_class_path" in args:
        names.add(args[args.index("--executor_class_path") + 1])
    for task in _tasks(spec).values():
      for key in ("run_fn", "tuner_fn"):
        value = task.get("inputs", {}).get("parameters", {}).get(key)
        if value:
          names.add(value["runtimeValue"]["constantValue"]["stringValue"])
  return names


@pytest.mark.slow
def test_every_named_step_imports_from_an_installed_wheel(compiled, tmp_path):
  """The image installs the project with `pip install .`: a wheel of it, in a clean virtual
  environment (the locked dependencies reached through a .pth file), imports every executor
  and Trainer module the compiled files name, from outside the repository."""
  specs = [json.loads(text) if target == "vertex" else yaml.safe_load(text)
           for (_, target), (_, text) in compiled.items()]
  names = _named_imports(specs)
  assert any(n.startswith("trainer.") for n in names) and any(
      n.startswith("components.") for n in names)
  wheels, source = tmp_path / "wheels", tmp_path / "source"
  # A copy of the sources, as `docker build` gets them (.dockerignore): the build writes its
  # build/ and egg-info there, not into the repository.
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      ".venv", ".git", "work", "demo_data", "out", "build", "*.egg-info", "__pycache__",
      ".pytest_cache"))
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-q", "-w", str(wheels), str(source)], check=True, cwd=tmp_path)
  wheel, = glob.glob(str(wheels / "*.whl"))
  env_dir = tmp_path / "venv"
  venv.EnvBuilder(with_pip=False).create(env_dir)
  site, = glob.glob(str(env_dir / "lib" / "python3.*" / "site-packages"))
  deps = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
  with open(os.path.join(site, "locked_dependencies.pth"), "w") as f:
    f.write("\n".join(deps) + "\n")
  python = str(env_dir / "bin" / "python")
  subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                  "-q", wheel], check=True, cwd=tmp_path)
  probe = (
      "import importlib, json, os, sys\n"
      "from tfx.utils import import_utils\n"
      "found = {}\n"
      "for name in sys.argv[1:]:\n"
      "  module, _, attr = name.rpartition('.')\n"
      "  if name.startswith('trainer.'):\n"
      "    obj = getattr(importlib.import_module(module), attr)\n"
      "  else:\n"
      "    obj = import_utils.import_class_by_path(name)\n"
      "  found[name] = sys.modules[obj.__module__].__file__\n"
      "import schemas\n"
      "found['schemas'] = [os.path.exists(schemas.schema_path(t + '_schema.pbtxt'))\n"
      "                    for t in ('image', 'text', 'timeseries')]\n"
      "print(json.dumps(found))\n")
  clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  done = subprocess.run([python, "-c", probe, *sorted(names)], capture_output=True,
                        text=True, cwd=tmp_path, env=clean_env)
  assert done.returncode == 0, done.stderr[-3000:]
  found = json.loads(done.stdout.strip().splitlines()[-1])
  assert found.pop("schemas") == [True, True, True]
  ours = {n: f for n, f in found.items() if not n.startswith("tfx.")}
  assert ours and all(f.startswith(site) for f in ours.values()), ours


@pytest.mark.slow
def test_compiled_steps_run_as_on_the_cluster_and_the_driver_resolves_a_new_span(
    compiled, tmp_path):
  """The text pipeline's Vertex spec, step by step in subprocesses (container command and
  arguments from the spec): the ExampleGen driver resolves span 1, then span 2 once it
  lands; ExampleGen, PackagedSchemaGen, StatisticsGen, ExampleValidator, DataGate and Trainer
  then run on the newest window with local URIs."""
  spec = json.loads(compiled["text", "vertex"][1])
  steps = kubeflow_steps.CompiledPipeline(spec, str(tmp_path), BUCKET)
  data = tmp_path / "data"
  text_factory.class_folder_corpus(str(data / "span-1"), per_class=16)
  # The image has the project installed (test_every_named_step_imports_from_an_installed_wheel).
  env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}

  first = steps.run_driver("TextExampleGen", "run1", env)
  assert first["parameterValues"]["span"] == 1
  text_factory.class_folder_corpus(str(data / "span-2"), per_class=16)
  second = steps.run_driver("TextExampleGen", "run2", env)
  assert second["parameterValues"]["span"] == 2
  assert '"span-2/*/*"' in second["parameterValues"]["input_config"]
  assert second["parameterValues"]["input_fingerprint"] != first["parameterValues"][
      "input_fingerprint"]

  outputs = steps.run_step("TextExampleGen", "run2", env)
  examples = outputs["examples"]["uri"]
  assert examples.startswith(str(tmp_path))
  assert glob.glob(os.path.join(examples, "Split-train", "data_tfrecord-span2-*"))
  assert glob.glob(os.path.join(examples, "Split-eval_history", "data_tfrecord-span1-*"))
  with open(os.path.join(outputs["ingest_report"]["uri"], "ingest_report.json")) as f:
    report = json.load(f)
  assert report["spans"]["newest"] == 2 and report["spans"]["window"] == [1, 2]
  assert report["totals"]["ingested"] == 96
  assert outputs["examples"]["metadata"]["span"] == 2   # Examples.span, as TFX sets it
  for name in ("PackagedSchemaGen", "StatisticsGen", "ExampleValidator"):
    steps.run_step(name, "run2", env)
  gate = steps.run_step("DataGate", "run2", env)
  with open(os.path.join(gate["gate_result"]["uri"], "gates.json")) as f:
    assert all(g["passed"] for g in json.load(f))
  # The drop's profile is a proposal in the gate's artifact; StateCommit, after a push,
  # makes it the drift baseline under the pipeline root (nothing was pushed here).
  assert os.path.isfile(os.path.join(gate["gate_result"]["uri"], "accepted_profile.json"))
  assert not glob.glob(str(tmp_path / "pipelines" / "*" / "data_gate" / "accepted_profile.json"))
  assert "StateCommit" in json.dumps(spec)
  model = steps.run_step("Trainer", "run2", env)["model"]["uri"]
  assert os.path.exists(os.path.join(model, "Format-Serving", "saved_model.pb"))


def test_vertex_training_machine_routes_the_trainer_to_vertex_ai_training(tmp_path):
  from pipeline import kubeflow  # pylint: disable=import-outside-toplevel
  training = kubeflow.VertexTraining.from_flags("n1-standard-8", "NVIDIA_TESLA_T4:2",
                                                "acme-ml", "europe-west4")
  path = str(tmp_path / "pipeline.json")
  job = kubeflow.compile_pipeline(_config("image"), "vertex", path, IMAGE, training)
  trainer = next(e for name, e in _executors(job).items() if "Trainer" in name)
  args = trainer["container"]["args"]
  assert args[args.index("--executor_class_path") + 1] == (
      "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor")
  task = _tasks(job)["Trainer"]
  custom = json.loads(task["inputs"]["parameters"]["custom_config"]["runtimeValue"][
      "constantValue"]["stringValue"])
  assert custom["ai_platform_enable_vertex"] is True
  assert custom["ai_platform_vertex_region"] == "europe-west4"
  spec = custom["ai_platform_training_args"]
  assert spec["project"] == "acme-ml"
  pool = spec["job_spec"]["worker_pool_specs"][0]
  assert pool["machine_spec"] == {"machine_type": "n1-standard-8",
                                  "accelerator_type": "NVIDIA_TESLA_T4",
                                  "accelerator_count": 2}
  assert pool["container_spec"] == {"image_uri": IMAGE}
  assert custom["image_trainer"]["distribution"] == "auto"     # MirroredStrategy on 2 GPUs
  assert task["inputs"]["parameters"]["run_fn"]["runtimeValue"]["constantValue"][
      "stringValue"] == "trainer.image.image_trainer.run_fn"
  with pytest.raises(pipeline_config.ToolkitError, match="--target vertex"):
    kubeflow.compile_pipeline(_config("image"), "kfp", str(tmp_path / "p.yaml"), IMAGE,
                              training)


@pytest.mark.parametrize("flags, message", [
    (("n1-standard-8", None, None, "us-central1"), "--vertex-project"),
    ((None, "NVIDIA_L4", "p", "r"), "needs --vertex-training-machine"),
    (("n1-standard-8", "nvidia-l4", "p", "r"), "TYPE or TYPE:COUNT"),
    (("n1-standard-8", "NVIDIA_L4:0", "p", "r"), "TYPE or TYPE:COUNT"),
    (("N1 standard", None, "p", "r"), "machine type"),
])
def test_vertex_training_flags_say_what_is_wrong(flags, message):
  from pipeline import kubeflow  # pylint: disable=import-outside-toplevel
  with pytest.raises(pipeline_config.ToolkitError, match=message):
    kubeflow.VertexTraining.from_flags(*flags)
  assert kubeflow.VertexTraining.from_flags(None, None, None, None) is None
  assert kubeflow.VertexTraining.from_flags("n1-standard-4", None, "p", "r").accelerator_type \
      is None
