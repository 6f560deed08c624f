"""BatchInference's executor: the blessed, served model of this run (the one it pushed, or the
one already served when the Pusher found it identical) scores every file under `infer_root`
on the pipeline's Beam (components/inference/beam.py: the rows of `predict`), into
`{inference_result.uri}/rows-SSSSS-of-NNNNN.jsonl` and `summary.json`. A run whose model was
not blessed records why and scores nothing: the served model stays the older one."""

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.artifacts import custom_property

from components.inference import beam as inference_beam, signature

PUSHED_MODEL_KEY = "pushed_model"
INFER_ROOT_KEY = "infer_root"
TOP_K_KEY = "top_k"
BATCH_SIZE_KEY = "batch_size"
INFERENCE_RESULT_KEY = "inference_result"
SUMMARY_FILE = "summary.json"
ROWS_PREFIX = "rows"


class Executor(base_beam_executor.BaseBeamExecutor):
  """Scores the unlabelled folder with the model this run pushed."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    result = artifact_utils.get_single_instance(output_dict[INFERENCE_RESULT_KEY])
    root = exec_properties[INFER_ROOT_KEY]
    tf.io.gfile.makedirs(result.uri)
    model_dir = (custom_property(pushed, "pushed_destination") if custom_property(pushed, "pushed", 0) else
                 custom_property(pushed, "served_model") if custom_property(pushed, "unchanged", 0) else None)
    summary = {"model": model_dir, "infer_root": root}
    if model_dir is None:
      summary["skipped"] = "this run's model was not blessed: nothing was pushed"
    else:
      files = signature.input_files([root])
      prefix = os.path.join(result.uri, ROWS_PREFIX)
      with self._make_beam_pipeline() as pipeline:
        rows = (pipeline | "Files" >> beam.Create(files)
                | "Score" >> inference_beam.ScoreFiles(
                    model_dir, exec_properties.get(TOP_K_KEY) or 3,
                    exec_properties.get(BATCH_SIZE_KEY) or 64))
        inference_beam.write_rows(rows, prefix)
      shards = sorted(tf.io.gfile.glob(prefix + "-*-of-*.jsonl"))
      counted = [json.loads(line) for path in shards
                 for line in tf.io.gfile.GFile(path).read().splitlines() if line.strip()]
      summary.update(files=len(files), rows=len(counted),
                     errors=sum("error" in row for row in counted),
                     shards=[os.path.basename(path) for path in shards])
      result.set_int_custom_property("rows", len(counted))
    with tf.io.gfile.GFile(os.path.join(result.uri, SUMMARY_FILE), "w") as f:
      json.dump(summary, f, indent=1)
    print(f"[BatchInference] {summary['skipped']}" if model_dir is None else
          f"[BatchInference] {summary['rows']} rows ({summary['errors']} files that could not "
          f"be used) for the {summary['files']} files under {root}", flush=True)
