"""Pretrained word vectors (GloVe text format, "word v1 ... vN" per line; local or gs://) for
the adapted vocabulary, and how much of the vocabulary they cover.

A word2vec text header ("<count> <dimension>" on the first line) is skipped. Tokens the file
lacks, the padding and the OOV index keep zero vectors (the book's choice); when the Embedding
is frozen they carry no signal, which is why coverage is reported.
"""

import json
import os
import unicodedata
from typing import List, Tuple

import numpy as np
import tensorflow as tf

from pipeline_config import ToolkitError

COVERAGE_FILE = "embeddings.json"
RESERVED_TOKENS = ("", "[UNK]")   # TextVectorization's padding and OOV tokens
EXAMPLE_MISSES = 10


def embedding_matrix(path: str, vocabulary: List[str]) -> Tuple[np.ndarray, dict]:
  """[len(vocabulary), dimension] float32 rows in vocabulary order, and the coverage:
  {file, dimension, vocabulary_tokens, hits, misses, coverage, example_misses}.

  Every line of the file is checked, not only those of vocabulary words: a malformed file is
  reported whatever the corpus.
  """
  if not tf.io.gfile.exists(path):
    raise ToolkitError(f"Embeddings file {path} does not exist. Pass a GloVe-format text file "
                       "('word v1 ... vN' per line, e.g. glove.6B.100d.txt) as embeddings, or "
                       "leave embeddings unset to learn the embedding from scratch.")
  rows = {token: i for i, token in enumerate(vocabulary) if token not in RESERVED_TOKENS}
  matrix, found, dimension = None, set(), None
  number = 0
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      for number, line in enumerate(f, start=1):
        # Split on ASCII spaces only, values from the right: some GloVe words contain
        # other Unicode spaces (U+00A0) or even ASCII spaces (glove.840B).
        stripped = line.rstrip("\r\n").rstrip(" ")
        if not stripped.strip():
          continue
        fields = stripped.split(" ")
        if number == 1 and len(fields) == 2 and all(v.isdigit() for v in fields):
          continue   # word2vec header
        if (dimension is not None and len(fields) > dimension + 1
            and not any(_is_number(v) for v in fields[1:-dimension])):
          fields = [" ".join(fields[:-dimension])] + fields[-dimension:]   # "word with spaces"
        if dimension is None:
          dimension = len(fields) - 1
          if dimension < 1:
            raise _malformed(path, number, "a word without a vector")
          matrix = np.zeros((len(vocabulary), dimension), dtype=np.float32)
        if len(fields) - 1 != dimension:
          raise _malformed(path, number, f"{len(fields) - 1} values where the first vector "
                           f"has {dimension}")
        try:
          vector = np.asarray(fields[1:], dtype=np.float32)
        except ValueError:
          bad = next(v for v in fields[1:] if not _is_number(v))
          raise _malformed(path, number, f"non-numeric value {bad!r}") from None
        if not np.all(np.isfinite(vector)):
          raise _malformed(path, number, "a value that is not finite (nan or inf)")
        word = unicodedata.normalize("NFC", fields[0])
        if word in rows and word not in found:
          matrix[rows[word]] = vector
          found.add(word)
  except UnicodeDecodeError as e:
    raise ToolkitError(f"Embeddings file {path} line {number + 1} is not UTF-8 text ({e}). "
                       "Convert the file to UTF-8.") from None
  if dimension is None:
    raise ToolkitError(f"Embeddings file {path} holds no vectors. Pass a GloVe-format text "
                       "file ('word v1 ... vN' per line).")
  tokens = [t for t in vocabulary if t not in RESERVED_TOKENS]
  misses = [t for t in tokens if t not in found]
  coverage = {"file": path, "dimension": dimension, "vocabulary_tokens": len(tokens),
              "hits": len(found), "misses": len(misses),
              "coverage": len(found) / len(tokens) if tokens else 0.0,
              # Vocabulary order is frequency order: these are the most frequent misses.
              "example_misses": misses[:EXAMPLE_MISSES]}
  return matrix, coverage


def write_coverage(coverage: dict, model_run_dir: str) -> str:
  path = os.path.join(model_run_dir, COVERAGE_FILE)
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump(coverage, f, indent=1)
  return path


def _malformed(path: str, number: int, problem: str) -> ToolkitError:
  return ToolkitError(f"Embeddings file {path} line {number} is malformed: {problem}. Every "
                      "line must read 'word v1 ... vN' with the same N numbers; fix or delete "
                      "that line.")


def _is_number(value: str) -> bool:
  try:
    float(value)
    return True
  except ValueError:
    return False
