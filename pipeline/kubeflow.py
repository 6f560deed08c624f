"""`python -m pipeline compile`: the same pipeline as `run`, compiled for Kubeflow.

Both targets go through TFX's KubeflowV2DagRunner:
  vertex  the PipelineJob JSON that Vertex AI Pipelines runs (`PipelineJob(template_path=...)`),
          with everything Vertex runs: the latest-blessed-model resolver, and the ExampleGen
          driver as the preCacheCheck hook, which resolves the newest span.
  kfp     the pipeline-spec YAML that `kfp.Client` uploads. The open-source KFP v2 backend
          rejects resolver tasks, so two LatestPushedModel steps (components/pushed_model)
          bring the latest blessed model from the push destination instead; the pipeline
          root is kept as the spec's defaultPipelineRoot.

Nothing of the compiling machine goes into the file: the data root and pipeline root are the
URIs given, schemas are read from the installed toolkit, executors and the Trainer's
run_fn are import paths inside the image.
"""

import json
import os
import re

import pipeline_config
from pipeline import factory

COMPILE_TARGETS = ("vertex", "kfp")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


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
                     image: str) -> dict:
  """Writes the compiled pipeline to `output` (a path or URI) and returns it as a dict."""
  from tfx.dsl.io import fileio  # pylint: disable=import-outside-toplevel
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2  # pylint: disable=import-outside-toplevel
  if target not in COMPILE_TARGETS:
    raise pipeline_config.ToolkitError(
        f"Unknown compile target. Choose one of {', '.join(COMPILE_TARGETS)}. Received: "
        f"{target!r}")
  config.validate()
  check_for_cluster(config, image)
  pipeline = factory.create_pipeline(config, target=target)
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
