"""In the serving graph, what TextExampleGen does to a document before storing it, so that a
client's raw string reaches the model as the training text did (train/serve parity):

  - a leading byte-order mark (U+FEFF) is dropped (ingestion decodes BOMs away);
  - Unicode canonical composition (NFC) of base letters and combining marks, from a table
    built with Python's unicodedata: a client on macOS that sends "e" + U+0301 gets the
    "é" the model was trained on (Hangul syllables, composed algorithmically, and
    non-canonical mark orders are left as sent);
  - truncation to max_chars characters (ingestion's on_too_long="truncate").

TensorFlow has no NFC op without tensorflow-text, whose custom ops a plain TensorFlow client
could not load, so composition is a lookup over adjacent code points, applied twice (for
letters with two marks, such as U+01D6).
"""

import functools
import unicodedata
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

_CODE_POINTS = 0x110000
_PASSES = 2


@functools.lru_cache(maxsize=1)
def composition_pairs() -> Tuple[np.ndarray, np.ndarray]:
  """(keys, values): key = first * 0x110000 + second for every canonical pair that NFC
  composes into one code point."""
  keys, values = [], []
  for cp in range(_CODE_POINTS):
    decomposition = unicodedata.decomposition(chr(cp))
    if not decomposition or decomposition.startswith("<"):
      continue
    parts = decomposition.split()
    if len(parts) != 2:
      continue
    first, second = int(parts[0], 16), int(parts[1], 16)
    if unicodedata.normalize("NFC", chr(first) + chr(second)) == chr(cp):
      keys.append(first * _CODE_POINTS + second)
      values.append(cp)
  return np.array(keys, dtype=np.int64), np.array(values, dtype=np.int64)


class IngestionNormaliser(tf.Module):
  """Raw documents -> the text TextExampleGen would have stored (BOM, NFC, max_chars)."""

  def __init__(self, max_chars: Optional[int] = None):
    super().__init__(name="ingestion_normaliser")
    keys, values = composition_pairs()
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1)
    self._max_chars = max_chars

  def __call__(self, documents: tf.Tensor) -> tf.Tensor:
    documents = tf.strings.regex_replace(documents, "^\ufeff", "")
    code_points = tf.strings.unicode_decode(documents, "UTF-8", errors="replace")
    for _ in range(_PASSES):
      code_points = self._compose(code_points)
    text = tf.strings.unicode_encode(code_points, "UTF-8")
    if self._max_chars:
      text = tf.strings.substr(text, 0, self._max_chars, unit="UTF8_CHAR")
    return text

  def _compose(self, code_points: tf.RaggedTensor) -> tf.RaggedTensor:
    flat = tf.cast(code_points.flat_values, tf.int64)
    rows = code_points.value_rowids()
    following = tf.concat([flat[1:], [-1]], axis=0)
    same_row = tf.concat([tf.equal(rows[1:], rows[:-1]), [False]], axis=0)
    composed = self._table.lookup(flat * _CODE_POINTS + following)
    hit = tf.logical_and(composed >= 0, same_row)
    # A mark that was just absorbed cannot start a pair itself.
    absorbed = tf.concat([[False], hit[:-1]], axis=0)
    hit = tf.logical_and(hit, tf.logical_not(absorbed))
    absorbed = tf.concat([[False], hit[:-1]], axis=0)
    values = tf.cast(tf.where(hit, composed, flat), code_points.dtype)
    merged = code_points.with_flat_values(values)
    return tf.ragged.boolean_mask(merged, code_points.with_flat_values(
        tf.logical_not(absorbed)))
