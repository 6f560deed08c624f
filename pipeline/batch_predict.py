"""`python -m pipeline predict --beam-arg ...`: the same rows as the in-process `predict`, on
Beam through `RunInference` (DirectRunner by default; any runner ingestion runs on).

Files are listed by the launcher, read on the workers (predict.prepare: the same reading and
refusals as in-process), batched by RunInference, scored by a ModelHandler that loads the
pushed SavedModel with `tf.saved_model.load` once per worker process and calls its
`serving_default` (predict.score: a refused batch is retried file by file), and written as
sharded JSON Lines or CSV: `<output>-SSSSS-of-NNNNN.jsonl` (or `.csv`, each shard with its
header). Rows are not in input order; each carries its path.
"""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.ml.inference import base
from apache_beam.options.pipeline_options import PipelineOptions

import pipeline_config
from pipeline import predict

NAMESPACE = "predict"


class SignatureModelHandler(base.ModelHandler):
  """RunInference's handler for a pushed model: elements are predict.prepare's
  (path, value, extra); each batch gives one row per element."""

  def __init__(self, model_dir: str, top_k: int, batch_size: int):
    super().__init__()
    self._model_dir, self._top_k, self._batch_size = model_dir, top_k, batch_size

  def load_model(self) -> "predict.ServedModel":
    return predict.ServedModel(self._model_dir)

  def run_inference(self, batch: Sequence[Tuple[str, object, dict]], model,
                    inference_args: Optional[Dict[str, Any]] = None) -> Iterable[dict]:
    return list(predict.score(model, list(batch), self._top_k))

  def batch_elements_kwargs(self):
    return {"min_batch_size": 1, "max_batch_size": self._batch_size}

  def get_num_bytes(self, batch) -> int:
    return sum(len(value) if isinstance(value, bytes) else 8 * len(value) * len(value[0])
               for _, value, _ in batch)


class _Inputs:
  """What predict.prepare needs of the model (read once by the launcher): whether it takes
  bytes, and a forecaster's features.json."""

  def __init__(self, model: predict.ServedModel):
    self.takes_bytes, self.features = model.takes_bytes, model.features


def _count(row: dict) -> dict:
  beam.metrics.Metrics.counter(NAMESPACE, "rows").inc()
  if "error" in row:
    beam.metrics.Metrics.counter(NAMESPACE, "errors").inc()
  return row


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
  described = _Inputs(predict.ServedModel(model_dir))
  as_csv = output.endswith(".csv")
  prefix, suffix = (output[:-4], ".csv") if as_csv else (
      (output[:-6], ".jsonl") if output.endswith(".jsonl") else (output, ".jsonl"))
  options = PipelineOptions(list(beam_args or []))
  pipeline = beam.Pipeline(options=options)
  prepared = (pipeline | "Files" >> beam.Create(files)
              | "Read" >> beam.Map(lambda path: predict.prepare(described, path)))
  readable = prepared | "Readable" >> beam.Filter(lambda item: item[1] is not None)
  unreadable = (prepared | "Unreadable" >> beam.Filter(lambda item: item[1] is None)
                | "Reason" >> beam.Map(lambda item: {"path": item[0], **item[2]}))
  scored = readable | "RunInference" >> base.RunInference(
      SignatureModelHandler(model_dir, top_k, batch_size))
  _ = ((scored, unreadable) | "Rows" >> beam.Flatten() | "Count" >> beam.Map(_count)
       | "Format" >> beam.Map(predict.csv_line if as_csv else predict.json_line)
       | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=suffix,
                                        header=",".join(predict.CSV_FIELDS) if as_csv else None))
  result = pipeline.run()
  result.wait_until_finish()
  rows = errors = None
  try:
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        beam.metrics.MetricsFilter().with_namespace(NAMESPACE))["counters"]}
    rows, errors = counters.get("rows", 0), counters.get("errors", 0)
  except Exception:  # pylint: disable=broad-except
    pass                           # a runner without metrics: the shards hold the rows
  return rows, errors, f"{prefix}-*-of-*{suffix}"


def read_shards(pattern: str) -> List[dict]:
  """The JSON Lines rows of every shard matching `pattern` (tests, and a user's check)."""
  import json  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  rows = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    with tf.io.gfile.GFile(path) as f:
      rows += [json.loads(line) for line in f if line.strip()]
  return rows
