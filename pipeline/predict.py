"""`python -m pipeline predict`: a pushed model on new data, through the serving signature a
client calls (parity by construction), one output row per input file, in input order.
How each file is given to the signature, and the rows, are components/inference/signature.py's
(shared with `predict --beam` and the pipeline's BatchInference step).
"""

import sys
from typing import Iterator, List, Optional, Tuple

import pipeline_config
from components.inference.signature import CSV_FIELDS, ServedModel, csv_line, input_files, \
    join as _join, json_line, prepare, score

MODEL_FILE = "saved_model.pb"


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def _versions(folder: str) -> List[str]:
  gfile = _gfile()
  names = [n.rstrip("/") for n in gfile.listdir(folder)] if gfile.isdir(folder) else []
  return sorted((n for n in names if n.isdigit() and gfile.exists(
      _join(_join(folder, n), MODEL_FILE))), key=int)


def resolve_model(path: str, pipeline_name: Optional[str] = None) -> str:
  """A SavedModel folder, a serving folder of versions (its newest), or a work dir (the
  newest pushed model of its pipeline: `serving/<pipeline name>/<version>`)."""
  gfile = _gfile()
  path = path.rstrip("/")
  if gfile.exists(_join(path, MODEL_FILE)):
    return path
  versions = _versions(path)
  if versions:
    return _join(path, versions[-1])
  serving = _join(path, "serving") if gfile.isdir(_join(path, "serving")) else path
  pipelines = sorted(n.rstrip("/") for n in gfile.listdir(serving)
                     if _versions(_join(serving, n.rstrip("/")))) if gfile.isdir(serving) else []
  if pipeline_name:
    if pipeline_name not in pipelines:
      raise pipeline_config.ToolkitError(
          f"No pushed model of pipeline {pipeline_name} under {serving}"
          + (f"; it has {', '.join(pipelines)}." if pipelines else "."))
    pipelines = [pipeline_name]
  if len(pipelines) == 1:
    folder = _join(serving, pipelines[0])
    return _join(folder, _versions(folder)[-1])
  if pipelines:
    raise pipeline_config.ToolkitError(
        f"{path} holds pushed models of several pipelines ({', '.join(pipelines)}); pass "
        "--pipeline-name NAME, or --model with that pipeline's serving folder.")
  raise pipeline_config.ToolkitError(
      f"No model at {path}: pass a SavedModel folder, a serving folder "
      "(<work-dir>/serving/<pipeline name>) or a work dir that a blessed run pushed to.")


def files_of(inputs: List[str]) -> List[str]:
  files = input_files(inputs)
  if not files:
    raise pipeline_config.ToolkitError(f"No files under {', '.join(inputs)}: pass files or "
                                       "folders that hold them.")
  return files


def predict(model_dir: str, inputs: List[str], top_k: int = 3,
            batch_size: int = 64, progress=None) -> Iterator[dict]:
  """One row per input file, in order: {"path", ...the prediction} or {"path", "error"}."""
  model = ServedModel(model_dir)
  files = files_of(inputs)
  for start in range(0, len(files), batch_size):
    pending = [prepare(model, path) for path in files[start:start + batch_size]]
    usable = [item for item in pending if item[1] is not None]
    predicted = {row["path"]: row for row in score(model, usable, top_k)} if usable else {}
    for path, value, extra in pending:
      yield predicted[path] if value is not None else {"path": path, **extra}
    if progress:
      progress(min(start + batch_size, len(files)), len(files))


def write_rows(rows: Iterator[dict], output: Optional[str]) -> Tuple[int, int]:
  """JSON Lines (stdout, or a file) or CSV (a file ending .csv); (rows, errors)."""
  count = errors = 0
  as_csv = bool(output and output.endswith(".csv"))
  stream = _gfile().GFile(output, "w") if output else sys.stdout
  try:
    end = "\r\n" if as_csv else "\n"         # CSV's own line end, as csv.writer writes it
    if as_csv:
      stream.write(",".join(CSV_FIELDS) + end)
    for row in rows:
      stream.write((csv_line(row) if as_csv else json_line(row)) + end)
      count, errors = count + 1, errors + ("error" in row)
  finally:
    if output:
      stream.close()
  return count, errors
