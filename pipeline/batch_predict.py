"""`python -m pipeline predict --beam`: the same rows as the in-process `predict`, on Beam
through `RunInference` (DirectRunner by default; any runner ingestion runs on):
components/inference/beam.py's ScoreFiles over the listed files, written as sharded JSON
Lines or CSV, `<output>-SSSSS-of-NNNNN.jsonl` (or `.csv`, each shard with its header).
"""

import json
from typing import List, Optional, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import pipeline_config
from components.inference import beam as inference_beam
from pipeline import predict


def run(model_dir: str, inputs: List[str], output: str, top_k: int = 3,
        batch_size: int = 64, beam_args: Optional[List[str]] = None
        ) -> Tuple[Optional[int], Optional[int], str]:
  """Runs the Beam pipeline; (rows, errors, output pattern). The counts come from Beam's
  metrics (None where a runner does not report them)."""
  if not output:
    raise pipeline_config.ToolkitError(
        "predict on Beam writes sharded files: pass --output PREFIX (PREFIX.csv for CSV; "
        "shards are PREFIX-SSSSS-of-NNNNN.jsonl or .csv).")
  files = predict.files_of(inputs)
  as_csv = output.endswith(".csv")
  prefix = output[:-4] if as_csv else output[:-6] if output.endswith(".jsonl") else output
  pipeline = beam.Pipeline(options=PipelineOptions(list(beam_args or [])))
  rows = (pipeline | "Files" >> beam.Create(files)
          | "Score" >> inference_beam.ScoreFiles(model_dir, top_k, batch_size))
  inference_beam.write_rows(rows, prefix, as_csv)
  result = pipeline.run()
  result.wait_until_finish()
  return (*inference_beam.counts(result), f"{prefix}-*-of-*{'.csv' if as_csv else '.jsonl'}")


def read_shards(pattern: str) -> List[dict]:
  """The JSON Lines rows of every shard matching `pattern` (tests, and a user's check)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  rows = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    with tf.io.gfile.GFile(path) as f:
      rows += [json.loads(line) for line in f if line.strip()]
  return rows
