"""`python -m pipeline compile`: the same pipeline as `run`, compiled for Kubeflow.

Both targets go through TFX's KubeflowV2DagRunner:
  vertex  the PipelineJob JSON that Vertex AI Pipelines runs (`PipelineJob(template_path=...)`),
          with everything Vertex runs: the latest-blessed-model resolver, and the ExampleGen
          driver as the preCacheCheck hook, which resolves the newest span.
  kfp     the pipeline-spec YAML that `kfp.Client` uploads. The open-source KFP v2 backend
          rejects resolver tasks, so two LatestPushedModel steps (components/pushed_model)
          bring the latest blessed model from the push destination instead; the pipeline
          root is kept as the spec's defaultPipelineRoot.

With --vertex-training-machine (and --accelerator) the Trainer step does not train in its
own container: it starts a Vertex AI custom training job on that machine, through TFX's
google_cloud_ai_platform Trainer, running the same run_fn from the same image. With more
than one accelerator, `--distribution auto` trains with MirroredStrategy.

Nothing of the compiling machine goes into the file: the data root and pipeline root are the
URIs given, schemas are read from the installed toolkit, executors and the Trainer's
run_fn are import paths inside the image.
"""

import dataclasses
import json
import os
import re
from typing import Optional

import pipeline_config
from pipeline import factory

COMPILE_TARGETS = ("vertex", "kfp")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_ACCELERATOR = re.compile(r"([A-Z][A-Z0-9_]*)(?::([1-9][0-9]*))?")
_MACHINE = re.compile(r"[a-z][a-z0-9-]*")


@dataclasses.dataclass
class VertexTraining:
  """A Vertex AI custom training machine for the Trainer step (--vertex-training-machine)."""
  machine_type: str              # e.g. n1-standard-8, a2-highgpu-1g
  project: str
  region: str
  accelerator_type: Optional[str] = None   # e.g. NVIDIA_TESLA_T4, NVIDIA_L4
  accelerator_count: int = 0

  @classmethod
  def from_flags(cls, machine: Optional[str], accelerator: Optional[str],
                 project: Optional[str], region: Optional[str]) -> "Optional[VertexTraining]":
    """None when no flag asks for it; ToolkitError naming the flag that is missing or wrong."""
    if not (machine or accelerator):
      return None
    if not machine:
      raise pipeline_config.ToolkitError(
          "--accelerator needs --vertex-training-machine: the machine type the accelerator is "
          "attached to (e.g. n1-standard-8 for NVIDIA_TESLA_T4).")
    if not _MACHINE.fullmatch(machine):
      raise pipeline_config.ToolkitError(
          "--vertex-training-machine takes a Compute Engine machine type such as "
          f"n1-standard-8 or a2-highgpu-1g. Received: {machine!r}")
    missing = [flag for flag, value in (("--vertex-project", project),
                                        ("--vertex-region", region)) if not value]
    if missing:
      raise pipeline_config.ToolkitError(
          "Training on Vertex AI needs " + " and ".join(missing)
          + ": the project and region the training job runs in (e.g. my-project, "
          "us-central1).")
    kind, count = None, 0
    if accelerator:
      match = _ACCELERATOR.fullmatch(accelerator)
      if not match:
        raise pipeline_config.ToolkitError(
            "--accelerator takes TYPE or TYPE:COUNT with a Vertex AI accelerator type, e.g. "
            f"NVIDIA_TESLA_T4 or NVIDIA_L4:2. Received: {accelerator!r}")
      kind, count = match.group(1), int(match.group(2) or 1)
    return cls(machine, project, region, kind, count)

  def custom_config(self, image: str) -> dict:
    """The keys TFX's Vertex AI Trainer reads from the Trainer's custom_config."""
    from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=import-outside-toplevel
    machine = {"machine_type": self.machine_type}
    if self.accelerator_type:
      machine.update(accelerator_type=self.accelerator_type,
                     accelerator_count=self.accelerator_count)
    return {
        vertex.ENABLE_VERTEX_KEY: True,
        vertex.VERTEX_REGION_KEY: self.region,
        vertex.TRAINING_ARGS_KEY: {
            "project": self.project,
            "job_spec": {"worker_pool_specs": [{
                "machine_spec": machine, "replica_count": 1,
                # The training container is the pipeline's image: same toolkit, same lock.
                "container_spec": {"image_uri": image}}]}},
    }


def check_for_cluster(config: pipeline_config.PipelineConfig, image: str) -> None:
  """What a cluster needs that a local run does not; raises ToolkitError saying what to pass."""
  if not _NAME.fullmatch(config.pipeline_name):
    raise pipeline_config.ToolkitError(
        "Kubeflow pipeline names take lowercase letters, digits and hyphens (no underscores), "
        f"starting with a letter or digit. Received: --pipeline-name {config.pipeline_name}")
  if not image:
    raise pipeline_config.ToolkitError(
        "Pass --image: the container image built from this repository's Dockerfile "
        "(e.g. us-docker.pkg.dev/PROJECT/REPO/toolkit:TAG).")
  for flag, value in (("--data-root", config.data_root),
                      ("--pipeline-root", config.pipeline_root_uri)):
    if not value or "://" not in value:
      raise pipeline_config.ToolkitError(
          f"{flag} must be a URI the cluster can read (gs://bucket/path). Received: "
          f"{value or 'nothing'}")


def compile_pipeline(config: pipeline_config.PipelineConfig, target: str, output: str,
                     image: str, vertex_training: Optional[VertexTraining] = None) -> dict:
  """Writes the compiled pipeline to `output` (a path or URI) and returns it as a dict.
  `vertex_training` (target vertex) runs the Trainer as a Vertex AI training job."""
  from tfx.dsl.io import fileio  # pylint: disable=import-outside-toplevel
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2  # pylint: disable=import-outside-toplevel
  if target not in COMPILE_TARGETS:
    raise pipeline_config.ToolkitError(
        f"Unknown compile target. Choose one of {', '.join(COMPILE_TARGETS)}. Received: "
        f"{target!r}")
  config.validate()
  check_for_cluster(config, image)
  if vertex_training and target != "vertex":
    raise pipeline_config.ToolkitError(
        "--vertex-training-machine and --accelerator route the Trainer to Vertex AI training: "
        "compile with --target vertex.")
  pipeline = factory.create_pipeline(
      config, target=target,
      trainer_custom_config=vertex_training.custom_config(image) if vertex_training else None)
  runner = v2.KubeflowV2DagRunner(config=v2.KubeflowV2DagRunnerConfig(default_image=image))
  job = runner.run(pipeline, write_out=False)
  parent = os.path.dirname(output)
  if parent:
    fileio.makedirs(parent)
  with fileio.open(output, "w") as f:
    if target == "vertex":
      json.dump(job, f, indent=1, sort_keys=True)
      return job
    import yaml  # pylint: disable=import-outside-toplevel
    spec = job["pipelineSpec"]
    # No driver hook runs there: the ExampleGen's inputs never change, so a cached ingestion
    # would hide every new drop; the pushed model changes outside the pipeline's view.
    for name, task in spec["root"]["dag"]["tasks"].items():
      if name.endswith("ExampleGen") or name in (factory.LATEST_PUSHED_ID,
                                                 factory.EVALUATOR_BASELINE_ID):
        task["cachingOptions"] = {"enableCache": False}
    spec["defaultPipelineRoot"] = config.pipeline_root
    f.write(f"# {config.pipeline_name}: compiled by the transfer-learning toolkit from "
            "TFX for open-source KFP v2 (kfp.Client().upload_pipeline / "
            "create_recurring_run).\n")
    yaml.safe_dump(spec, f, sort_keys=True)
    return spec
