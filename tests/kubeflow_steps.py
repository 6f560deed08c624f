"""Runs the steps of a compiled Kubeflow pipeline the way the cluster would: each step's
container command and arguments from the spec, in a subprocess, with an ExecutorInput built
from the spec (parameters, upstream artifacts, output URIs under a local folder).

What the cluster adds and this harness does too: `{{$}}` becomes the ExecutorInput JSON; the
ExampleGen driver (the preCacheCheck hook) runs first and writes the task's output file,
which the executor then reads; each step's output artifacts (with the metadata its
ExecutorOutput records) feed the steps that consume them. `python` in the container command
is this interpreter; `bucket` URIs in parameters become the local folder.
"""

import json
import os
import subprocess
import sys
from typing import Dict, List, Optional


class CompiledPipeline:

  def __init__(self, spec: dict, root: str, bucket: str):
    self.spec = spec.get("pipelineSpec", spec)
    self.root = root
    self.bucket = bucket.rstrip("/")
    self.produced: Dict[tuple, dict] = {}

  def task(self, name: str) -> dict:
    return self.spec["root"]["dag"]["tasks"][name]

  def container(self, name: str) -> dict:
    executor = self.spec["components"][self.task(name)["componentRef"]["name"]]["executorLabel"]
    return self.spec["deploymentSpec"]["executors"][executor]["container"]

  def _parameters(self, name: str) -> dict:
    values = {}
    for key, value in self.task(name).get("inputs", {}).get("parameters", {}).items():
      constant = dict(value["runtimeValue"]["constantValue"])
      if "stringValue" in constant:
        constant["stringValue"] = constant["stringValue"].replace(self.bucket, self.root)
      values[key] = constant
    return values

  def executor_input(self, name: str, run: str) -> dict:
    component = self.spec["components"][self.task(name)["componentRef"]["name"]]
    inputs = {}
    for key, value in self.task(name).get("inputs", {}).get("artifacts", {}).items():
      source = value["taskOutputArtifact"]
      artifact = self.produced.get((source["producerTask"], source["outputArtifactKey"]))
      if artifact is not None:
        inputs[key] = {"artifacts": [artifact]}
    outputs = {
        key: {"artifacts": [{"name": f"{run}-{name}-{key}",
                             "uri": os.path.join(self.root, run, name, key),
                             "type": definition["artifactType"], "metadata": {}}]}
        for key, definition in component.get("outputDefinitions", {}).get(
            "artifacts", {}).items()}
    return {"inputs": {"parameters": self._parameters(name), "artifacts": inputs},
            "outputs": {"artifacts": outputs,
                        "outputFile": os.path.join(self.root, run, name, "output.json")}}

  def _command(self, command: List[str], args: List[str], invocation: dict) -> List[str]:
    line = [sys.executable if part == "python" else part for part in command]
    return line + [json.dumps(invocation) if arg == "{{$}}" else arg for arg in args]

  def _call(self, line: List[str], env: Optional[dict]) -> str:
    done = subprocess.run(line, capture_output=True, text=True, cwd=self.root,
                          env={**os.environ, **(env or {})}, timeout=900)
    if done.returncode != 0:
      raise AssertionError(f"{line[:4]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout + done.stderr

  def run_driver(self, name: str, run: str, env: Optional[dict] = None) -> dict:
    """The preCacheCheck hook alone; returns its ExecutorOutput (span, input_config, ...)."""
    hook = self.container(name)["lifecycle"]["preCacheCheck"]
    invocation = self.executor_input(name, run)
    self._call(self._command(hook["command"], hook["args"], invocation), env)
    with open(invocation["outputs"]["outputFile"]) as f:
      return json.load(f)

  def run_step(self, name: str, run: str, env: Optional[dict] = None) -> dict:
    """The step's executor (after its driver, if it has one); records its output artifacts
    for downstream steps and returns them {key: artifact dict}."""
    container = self.container(name)
    invocation = self.executor_input(name, run)
    if "lifecycle" in container:
      driver_output = self.run_driver(name, run, env)
      for key, listed in driver_output.get("artifacts", {}).items():
        invocation["outputs"]["artifacts"][key]["artifacts"][0]["metadata"].update(
            listed["artifacts"][0].get("metadata", {}))
    self._call(self._command(container.get("command", []), container["args"], invocation),
               env)
    recorded = {}
    output_file = invocation["outputs"]["outputFile"]
    if os.path.exists(output_file):
      with open(output_file) as f:
        recorded = json.load(f).get("artifacts", {})
    result = {}
    for key, listed in invocation["outputs"]["artifacts"].items():
      artifact = dict(listed["artifacts"][0])
      if key in recorded:
        artifact["metadata"] = {**artifact["metadata"],
                                **recorded[key]["artifacts"][0].get("metadata", {})}
      self.produced[(name, key)] = artifact
      result[key] = artifact
    return result
