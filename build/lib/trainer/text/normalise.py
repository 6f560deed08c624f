"""In the serving graph, what TextExampleGen does to a document before storing it, so that a
client's raw string reaches the model as the training text did (train/serve parity):

  - a leading byte-order mark (U+FEFF) is dropped (ingestion decodes BOMs away);
  - Unicode canonical composition (NFC), from tables built with Python's unicodedata: the
    one-to-one replacements (U+2126 OHM SIGN -> U+03A9, U+037E GREEK QUESTION MARK -> ";",
    CJK compatibility ideographs, ...), then base letter + combining mark pairs, and Hangul
    jamo (L+V, then LV+T), so a client on macOS that sends "e" + U+0301 gets the "é" the
    model was trained on (marks in a non-canonical order are left as sent);
  - truncation to max_chars characters (ingestion's on_too_long="truncate").

TensorFlow has no NFC op without tensorflow-text, whose custom ops a plain TensorFlow client
could not load, so composition is a lookup over adjacent code points, applied three times
(for letters with up to three marks, such as U+1FAF).
"""

import functools
import unicodedata
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

_CODE_POINTS = 0x110000
_PASSES = 3
# Hangul jamo and syllables (Unicode ch. 3.12).
_L, _V, _T, _S = 0x1100, 0x1161, 0x11A7, 0xAC00
_L_COUNT, _V_COUNT, _T_COUNT = 19, 21, 28


@functools.lru_cache(maxsize=1)
def composition_tables() -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
  """((singleton keys, values), (pair keys, values)). A singleton is a code point that NFC
  replaces by another single one; a pair key is first * 0x110000 + second for every pair
  that NFC composes into one code point (canonical decompositions and Hangul jamo)."""
  singles, single_values, keys, values = [], [], [], []
  for cp in range(_CODE_POINTS):
    if 0xD800 <= cp <= 0xDFFF:
      continue
    composed = unicodedata.normalize("NFC", chr(cp))
    if len(composed) == 1 and composed != chr(cp):
      singles.append(cp)
      single_values.append(ord(composed))
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
  for l in range(_L_COUNT):
    for v in range(_V_COUNT):
      lv = _S + (l * _V_COUNT + v) * _T_COUNT
      keys.append((_L + l) * _CODE_POINTS + _V + v)
      values.append(lv)
      for t in range(1, _T_COUNT):
        keys.append(lv * _CODE_POINTS + _T + t)
        values.append(lv + t)
  as_arrays = lambda k, v: (np.array(k, dtype=np.int64), np.array(v, dtype=np.int64))
  return as_arrays(singles, single_values), as_arrays(keys, values)


class IngestionNormaliser(tf.Module):
  """Raw documents -> the text TextExampleGen would have stored (BOM, NFC, max_chars)."""

  def __init__(self, max_chars: Optional[int] = None):
    super().__init__(name="ingestion_normaliser")
    (single_keys, single_values), (keys, values) = composition_tables()
    self._singletons = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(single_keys, single_values), default_value=-1)
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1)
    self._max_chars = max_chars

  def __call__(self, documents: tf.Tensor) -> tf.Tensor:
    documents = tf.strings.regex_replace(documents, "^\ufeff", "")
    code_points = tf.strings.unicode_decode(documents, "UTF-8", errors="replace")
    flat = tf.cast(code_points.flat_values, tf.int64)
    single = self._singletons.lookup(flat)
    code_points = code_points.with_flat_values(
        tf.cast(tf.where(single >= 0, single, flat), code_points.dtype))
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
