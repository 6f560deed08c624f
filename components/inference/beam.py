"""Scoring files on Beam through `RunInference` (apache_beam.ml.inference): the same rows as
signature.py's in-process scoring, for `predict --beam` and the BatchInference step.

The files are read where the Beam step runs (signature.prepare: the same reading and
refusals), batched by RunInference, and scored by a ModelHandler that loads the SavedModel
with `tf.saved_model.load` once per worker process (not Keras's loader, which Beam's own
TensorFlow handler uses) and calls `serving_default` (signature.score: a refused batch is
retried file by file). Rows carry their path; Beam gives them in no particular order.
"""

from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.ml.inference import base

from components.inference import signature

NAMESPACE = "predict"


class SignatureModelHandler(base.ModelHandler):
  """RunInference's handler for a pushed model: elements are signature.prepare's
  (path, value, extra); each batch gives one row per element."""

  def __init__(self, model_dir: str, top_k: int, batch_size: int):
    super().__init__()
    self._model_dir, self._top_k, self._batch_size = model_dir, top_k, batch_size

  def load_model(self) -> signature.ServedModel:
    return signature.ServedModel(self._model_dir)

  def run_inference(self, batch: Sequence[Tuple[str, object, dict]], model,
                    inference_args: Optional[Dict[str, Any]] = None) -> Iterable[dict]:
    return list(signature.score(model, list(batch), self._top_k))

  def batch_elements_kwargs(self):
    return {"min_batch_size": 1, "max_batch_size": self._batch_size}

  def get_num_bytes(self, batch) -> int:
    return sum(len(value) if isinstance(value, bytes) else 8 * len(value) * len(value[0])
               for _, value, _ in batch)


class _Inputs:
  """What signature.prepare needs of the model (read once where the pipeline is built):
  whether it takes bytes, and a forecaster's features.json."""

  def __init__(self, model: signature.ServedModel):
    self.takes_bytes, self.features = model.takes_bytes, model.features


def _count(row: dict) -> dict:
  beam.metrics.Metrics.counter(NAMESPACE, "rows").inc()
  if "error" in row:
    beam.metrics.Metrics.counter(NAMESPACE, "errors").inc()
  return row


class ScoreFiles(beam.PTransform):
  """File paths -> one row per file: {"path", ...the prediction} or {"path", "error"}."""

  def __init__(self, model_dir: str, top_k: int = 3, batch_size: int = 64):
    super().__init__()
    self._model_dir, self._top_k, self._batch_size = model_dir, top_k, batch_size
    self._inputs = _Inputs(signature.ServedModel(model_dir))

  def expand(self, paths):
    described = self._inputs
    prepared = paths | "Read" >> beam.Map(lambda path: signature.prepare(described, path))
    readable = prepared | "Readable" >> beam.Filter(lambda item: item[1] is not None)
    unreadable = (prepared | "Unreadable" >> beam.Filter(lambda item: item[1] is None)
                  | "Reason" >> beam.Map(lambda item: {"path": item[0], **item[2]}))
    scored = readable | "RunInference" >> base.RunInference(
        SignatureModelHandler(self._model_dir, self._top_k, self._batch_size))
    return (scored, unreadable) | "Rows" >> beam.Flatten() | "Count" >> beam.Map(_count)


def counts(result) -> Tuple[Optional[int], Optional[int]]:
  """(rows, errors) from a finished pipeline's counters; (None, None) where a runner does
  not report them (the shards hold the rows)."""
  try:
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        beam.metrics.MetricsFilter().with_namespace(NAMESPACE))["counters"]}
  except Exception:  # pylint: disable=broad-except
    return None, None
  return counters.get("rows", 0), counters.get("errors", 0)


def write_rows(rows, prefix: str, as_csv: bool = False):
  """Rows as JSON Lines (or CSV, each shard with its header): <prefix>-SSSSS-of-NNNNN.jsonl."""
  return (rows | "Format" >> beam.Map(signature.csv_line if as_csv else signature.json_line)
          | "Write" >> beam.io.WriteToText(
              prefix, file_name_suffix=".csv" if as_csv else ".jsonl",
              header=",".join(signature.CSV_FIELDS) if as_csv else None))
