"""In the serving graph, what TextExampleGen does to a document before storing it, so that a
client's raw bytes reach the model as the training text did (train/serve parity), and what
ingestion rejects is refused (components/text_example_gen/text_checks.py):

  - bounded cost first: a document is cut to 16 * max_chars bytes (at a character boundary)
    before anything is decoded, and to 4 * max_chars code points before NFC, so a 50 MB
    string costs what a legal one does;
  - decoding as ingestion decodes: a UTF-8, UTF-16 or UTF-32 byte-order mark selects the
    encoding and is dropped; without one, UTF-8, or the configured fallback encoding
    (cp1252, ...) for bytes that are not UTF-8. Invalid bytes, which ingestion rejects
    (not_utf8, corrupt_encoding), are an InvalidArgumentError naming ingestion's reason;
  - binary (a NUL, or more than max_control_fraction control characters) and empty or
    whitespace-only documents are refused as ingestion rejects them;
  - real NFC (Unicode canonical composition): full canonical decomposition, canonical
    ordering of combining marks by their combining class, then composition with blocking,
    from tables built with Python's unicodedata (what ingestion runs), so "o" + U+0323 +
    U+0302, "ô" + U+0323 (cp1258 Vietnamese) and marks out of order all give U+1ED9;
  - truncation to max_chars characters (ingestion's on_too_long="truncate"), or with
    on_too_long="reject" a longer document is refused.

TensorFlow has no NFC op without tensorflow-text, whose custom ops a plain TensorFlow client
could not load, so the normalisation is table lookups, a stable sort and one pass over the
combining marks, all in core TensorFlow ops. One known difference from unicodedata: a
starter that composes with the starter after it once the marks between them were absorbed
into it (no such pair occurs in ordinary text; adjacent starters, as Hangul jamo and the
two-part Indic vowels, are composed).
"""

import codecs
import functools
import unicodedata
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

_CODE_POINTS = 0x110000
_MAX_DECOMPOSITION = 4            # the longest NFD of one code point (Unicode 13/14)
_BYTES_PER_CHAR = 16              # the bytes-first cut: 16 * max_chars bytes
_CODE_POINTS_PER_CHAR = 4         # then 4 * max_chars code points before NFC
# Unicode category Cc less tab, newline, vertical tab, form feed, carriage return (what
# ingestion counts as control characters).
_CONTROL_RANGES = ((0x00, 0x08), (0x0E, 0x1F), (0x7F, 0x9F))
# Encoding ids: a BOM's, or UTF-8 (none), or the fallback for bytes that are not UTF-8.
_ENCODINGS = ("UTF-8", "UTF-16-LE", "UTF-16-BE", "UTF-32-LE", "UTF-32-BE")
_FALLBACK = len(_ENCODINGS)
# Longest first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, 3), (codecs.BOM_UTF32_BE, 4), (codecs.BOM_UTF8, 0),
         (codecs.BOM_UTF16_LE, 1), (codecs.BOM_UTF16_BE, 2))


@functools.lru_cache(maxsize=1)
def nfc_tables():
  """(decomposition keys, decomposition rows [n, 4] padded with -1, combining-class keys,
  their classes, composition pair keys (first * 0x110000 + second), their composites,
  whitespace code points) from Python's unicodedata."""
  decomposed, rows, ccc_keys, ccc_values, pair_keys, pair_values = [], [], [], [], [], []
  for cp in range(_CODE_POINTS):
    if 0xD800 <= cp <= 0xDFFF:
      continue
    char = chr(cp)
    nfd = unicodedata.normalize("NFD", char)
    if nfd != char:
      decomposed.append(cp)
      rows.append([ord(c) for c in nfd] + [-1] * (_MAX_DECOMPOSITION - len(nfd)))
    combining = unicodedata.combining(char)
    if combining:
      ccc_keys.append(cp)
      ccc_values.append(combining)
    parts = unicodedata.decomposition(char).split()
    if len(parts) == 2 and not parts[0].startswith("<"):
      first, second = int(parts[0], 16), int(parts[1], 16)
      # A primary composite: NFC gives it back (composition exclusions do not).
      if unicodedata.normalize("NFC", chr(first) + chr(second)) == char:
        pair_keys.append(first * _CODE_POINTS + second)
        pair_values.append(cp)
  # Hangul: L + V -> LV, LV + T -> LVT (Unicode ch. 3.12), algorithmic in unicodedata.
  for l in range(19):
    for v in range(21):
      lv = 0xAC00 + (l * 21 + v) * 28
      pair_keys.append((0x1100 + l) * _CODE_POINTS + 0x1161 + v)
      pair_values.append(lv)
      for t in range(1, 28):
        pair_keys.append(lv * _CODE_POINTS + 0x11A7 + t)
        pair_values.append(lv + t)
  spaces = [cp for cp in range(_CODE_POINTS) if chr(cp).isspace()]
  as_int64 = lambda values: np.array(values, dtype=np.int64)
  return (as_int64(decomposed), as_int64(rows).reshape(-1, _MAX_DECOMPOSITION),
          as_int64(ccc_keys), as_int64(ccc_values), as_int64(pair_keys),
          as_int64(pair_values), as_int64(spaces))


def _table(keys, values, default=-1):
  return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
      tf.constant(keys, tf.int64), tf.constant(values, tf.int64)), default_value=default)


def _icu_name(encoding: str) -> str:
  """The ICU converter name TensorFlow's decoder takes for a Python codec name."""
  name = codecs.lookup(encoding).name                 # "cp1252", "iso8859-1", "utf-8"
  return {"cp1252": "windows-1252", "iso8859-1": "ISO-8859-1", "latin-1": "ISO-8859-1",
          "ascii": "US-ASCII"}.get(name, name)


class IngestionNormaliser(tf.Module):
  """Raw documents (bytes as a client has them) -> the UTF-8 text TextExampleGen would have
  stored; an InvalidArgumentError for a document ingestion would have rejected."""

  def __init__(self, max_chars: Optional[int] = None, fallback_encoding: Optional[str] = None,
               on_too_long: str = "truncate", max_control_fraction: float = 0.3):
    super().__init__(name="ingestion_normaliser")
    (decomposed, rows, ccc_keys, ccc_values, pair_keys, pair_values,
     spaces) = nfc_tables()
    self._decomposition_index = _table(decomposed, np.arange(len(decomposed)))
    self._decompositions = tf.constant(rows)
    self._ccc = _table(ccc_keys, ccc_values, default=0)
    self._pairs = _table(pair_keys, pair_values)
    self._spaces = _table(spaces, np.ones(len(spaces), np.int64), default=0)
    self._max_chars = max_chars
    self._fallback = _icu_name(fallback_encoding) if fallback_encoding else None
    self._fallback_name = fallback_encoding
    self._reject_long = on_too_long == "reject"
    self._max_control_fraction = float(max_control_fraction)

  def __call__(self, documents: tf.Tensor) -> tf.Tensor:
    code_points, cut = self.decode(documents)
    if self._max_chars:
      # NFC only shortens text, and a character of ordinary text is at most a few code
      # points: the first 4 * max_chars code points give the first max_chars characters.
      keep = _CODE_POINTS_PER_CHAR * self._max_chars
      cut = tf.logical_or(cut, code_points.row_lengths() > keep)
      code_points = code_points[:, :keep]
    code_points = self.nfc(code_points)
    checks = self._content_checks(code_points, cut)
    if self._max_chars:
      code_points = code_points[:, :self._max_chars]
    with tf.control_dependencies(checks + [self._blank_check(code_points)]):
      return tf.strings.unicode_encode(tf.cast(code_points, tf.int32), "UTF-8")

  # Decoding ---------------------------------------------------------------------------

  def decode(self, documents: tf.Tensor) -> Tuple[tf.RaggedTensor, tf.Tensor]:
    """(code points int64 [batch, (chars)], whether each document was cut)."""
    documents = tf.reshape(documents, [-1])
    encoding = tf.zeros(tf.shape(documents), tf.int32)
    bom = tf.zeros(tf.shape(documents), tf.int32)
    for magic, index in reversed(_BOMS):            # longest BOM applied last, so it wins
      found = tf.equal(tf.strings.substr(documents, tf.zeros_like(bom),
                                         tf.fill(tf.shape(bom), len(magic))), magic)
      encoding = tf.where(found, index, encoding)
      bom = tf.where(found, len(magic), bom)
    length = tf.strings.length(documents) - bom
    limit = _BYTES_PER_CHAR * self._max_chars if self._max_chars else None
    cut = tf.zeros(tf.shape(documents), tf.bool)
    keep = length
    if limit:
      cut = length > limit
      keep = tf.where(cut, self._boundary(documents, bom, limit, encoding), length)
    body = tf.strings.substr(documents, bom, keep)
    if self._fallback:
      utf8, _ = self._decode_as(body, "UTF-8")
      encoding = tf.where(tf.logical_and(tf.equal(encoding, 0), tf.logical_not(utf8)),
                          _FALLBACK, encoding)
    names = _ENCODINGS + ((self._fallback,) if self._fallback else ())
    parts, positions, checks = [], [], []
    for index, name in enumerate(names):
      where = tf.where(tf.equal(encoding, index))[:, 0]
      valid, code_points = self._decode_as(tf.gather(body, where), name)
      checks.append(tf.debugging.Assert(tf.reduce_all(valid), [self._invalid_message(
          index, name)], name=f"valid_{name.replace('-', '_')}"))
      parts.append(code_points)
      positions.append(where)
    with tf.control_dependencies(checks):
      order = tf.argsort(tf.concat(positions, axis=0))
    return tf.gather(tf.concat(parts, axis=0), order), cut

  @staticmethod
  def _decode_as(texts: tf.Tensor, name: str) -> Tuple[tf.Tensor, tf.RaggedTensor]:
    """(valid per text, code points): invalid bytes are what `errors="ignore"` drops."""
    replaced = tf.strings.unicode_decode(texts, name, errors="replace")
    ignored = tf.strings.unicode_decode(texts, name, errors="ignore")
    return (tf.equal(replaced.row_lengths(), ignored.row_lengths()),
            tf.cast(replaced, tf.int64))

  def _invalid_message(self, index: int, name: str) -> str:
    if index == 0:
      return ("Text is not valid UTF-8 and has no UTF-16/32 byte-order mark (ingestion "
              "rejects such documents as not_utf8" + (
                  "; the model was trained with no --fallback-encoding). Send UTF-8."
                  if not self._fallback else ")."))
    if index == _FALLBACK:
      return (f"Text is neither UTF-8 nor {self._fallback_name} (the fallback encoding); "
              "ingestion rejects such documents as not_utf8.")
    return (f"Text has a {name} byte-order mark but bytes that are not valid {name} "
            "(ingestion rejects such documents as corrupt_encoding).")

  @staticmethod
  def _boundary(documents, bom, limit: int, encoding) -> tf.Tensor:
    """Bytes to keep of a document longer than `limit`: `limit`, moved back to the start of
    the character it would split (UTF-8 continuation bytes, a UTF-16 high surrogate)."""
    start = tf.minimum(bom + limit - 3, tf.strings.length(documents))
    window = tf.cast(tf.io.decode_raw(tf.strings.substr(documents, start, tf.fill(
        tf.shape(start), 4)), tf.uint8,
                                      fixed_length=4), tf.int32)     # bytes limit-3 .. limit
    lead = tf.not_equal(tf.bitwise.bitwise_and(window, 0xC0), 0x80)
    utf8 = tf.where(lead[:, 3], limit, tf.where(lead[:, 2], limit - 1, tf.where(
        lead[:, 1], limit - 2, tf.where(lead[:, 0], limit - 3, limit))))
    last_le = window[:, 1] + 256 * window[:, 2]         # the last 16-bit unit kept
    last_be = 256 * window[:, 1] + window[:, 2]
    high = lambda unit: tf.logical_and(unit >= 0xD800, unit <= 0xDBFF)
    utf16_le = tf.where(high(last_le), limit - 2, limit)
    utf16_be = tf.where(high(last_be), limit - 2, limit)
    return tf.gather(tf.stack([utf8, utf16_le, utf16_be,
                               tf.fill(tf.shape(utf8), limit), tf.fill(tf.shape(utf8), limit),
                               tf.fill(tf.shape(utf8), limit)], axis=1),
                     encoding, batch_dims=1)

  # Checks -----------------------------------------------------------------------------

  def _content_checks(self, code_points: tf.RaggedTensor, cut: tf.Tensor) -> list:
    flat = code_points.flat_values
    has_nul = tf.reduce_any(tf.equal(code_points, 0), axis=1)
    control = tf.zeros(tf.shape(flat), tf.bool)
    for low, high in _CONTROL_RANGES:
      control = tf.logical_or(control, tf.logical_and(flat >= low, flat <= high))
    controls = tf.reduce_sum(tf.cast(code_points.with_flat_values(control), tf.float32), axis=1)
    lengths = tf.cast(code_points.row_lengths(), tf.float32)
    checks = [
        tf.debugging.Assert(tf.logical_not(tf.reduce_any(has_nul)), [
            "Text contains NUL characters (ingestion rejects such documents as binary)."],
                            name="binary_nul"),
        tf.debugging.Assert(tf.reduce_all(
            controls <= self._max_control_fraction * tf.maximum(lengths, 1.0)), [
                f"Text is more than {self._max_control_fraction:.0%} control characters "
                "(ingestion rejects such documents as binary)."], name="binary_controls")]
    if self._reject_long and self._max_chars:
      checks.append(tf.debugging.Assert(tf.reduce_all(tf.logical_and(
          code_points.row_lengths() <= self._max_chars, tf.logical_not(cut))), [
              f"Text is longer than max_chars={self._max_chars} characters (the model was "
              "trained with on_too_long='reject'; ingestion rejects such documents as "
              "too_long)."], name="too_long"))
    return checks

  def _blank_check(self, code_points: tf.RaggedTensor):
    """Empty or whitespace-only (within max_chars) documents are refused: ingestion rejects
    them as empty_text."""
    space = self._spaces.lookup(code_points.flat_values) > 0
    blank = tf.reduce_all(code_points.with_flat_values(space), axis=1)   # True when empty
    return tf.debugging.Assert(tf.logical_not(tf.reduce_any(blank)), [
        "Text is empty or only whitespace"
        + (f" in its first {self._max_chars} characters" if self._max_chars else "")
        + " (ingestion rejects such documents as empty_text)."], name="empty_text")

  # NFC --------------------------------------------------------------------------------

  def nfc(self, code_points: tf.RaggedTensor) -> tf.RaggedTensor:
    """Unicode NFC of each row: decompose, order the marks, compose."""
    flat, rows = self._decompose(code_points.flat_values, code_points.value_rowids())
    nrows = code_points.nrows()
    ccc = self._ccc.lookup(flat)
    flat, rows, ccc = self._canonical_order(flat, rows, ccc)
    for _ in range(2):                 # Hangul L+V, then LV+T; two-part vowels
      flat, rows, ccc = self._compose_adjacent_starters(flat, rows, ccc)
    flat, rows = self._compose_marks(flat, rows, ccc)
    return tf.RaggedTensor.from_value_rowids(flat, rows, nrows=nrows)

  def _decompose(self, flat, rows):
    index = self._decomposition_index.lookup(flat)
    found = index >= 0
    table = tf.gather(self._decompositions, tf.maximum(index, 0))
    own = tf.concat([flat[:, None], tf.fill([tf.size(flat), _MAX_DECOMPOSITION - 1],
                                            tf.constant(-1, tf.int64))], axis=1)
    expanded = tf.where(found[:, None], table, own)
    keep = expanded >= 0
    rows = tf.broadcast_to(rows[:, None], tf.shape(expanded))
    return tf.boolean_mask(expanded, keep), tf.boolean_mask(rows, keep)

  @staticmethod
  def _groups(rows, ccc):
    """Group id per code point: a new group at each starter (class 0) and each row start."""
    # Shifts written as concat-then-slice keep the length right for zero code points too.
    row_start = tf.not_equal(rows, tf.concat([[-1], rows], axis=0)[:-1])
    return tf.cumsum(tf.cast(tf.logical_or(row_start, tf.equal(ccc, 0)), tf.int64)) - 1

  def _canonical_order(self, flat, rows, ccc):
    """Each run of combining marks sorted by combining class, stably (a starter keeps its
    place: class 0 sorts first in its group)."""
    key = self._groups(rows, ccc) * 256 + ccc
    order = tf.argsort(key, stable=True)
    return tf.gather(flat, order), tf.gather(rows, order), tf.gather(ccc, order)

  def _compose_adjacent_starters(self, flat, rows, ccc):
    following = tf.concat([flat, [-1]], axis=0)[1:]
    following_ccc = tf.concat([ccc, [1]], axis=0)[1:]
    same_row = tf.equal(rows, tf.concat([rows, [-1]], axis=0)[1:])
    composed = self._pairs.lookup(flat * _CODE_POINTS + tf.maximum(following, 0))
    hit = tf.logical_and(tf.logical_and(composed >= 0, same_row),
                         tf.logical_and(tf.equal(ccc, 0), tf.equal(following_ccc, 0)))
    # A starter that was just absorbed cannot start a pair itself.
    hit = tf.logical_and(hit, tf.logical_not(tf.concat([[False], hit], axis=0)[:-1]))
    absorbed = tf.concat([[False], hit], axis=0)[:-1]
    flat = tf.where(hit, composed, flat)
    keep = tf.logical_not(absorbed)
    return tf.boolean_mask(flat, keep), tf.boolean_mask(rows, keep), tf.boolean_mask(ccc, keep)

  def _compose_marks(self, flat, rows, ccc):
    """Canonical composition of each starter with the marks after it, left to right: a mark
    composes unless a mark of the same or a higher class survives between them (after the
    ordering, classes do not decrease within a run, so only the last survivor's matters)."""
    groups = self._groups(rows, ccc)
    n = tf.size(flat, out_type=tf.int64)
    starts = tf.math.segment_min(tf.range(n), groups)
    offset = tf.range(n) - tf.gather(starts, groups)
    group_count = tf.size(starts, out_type=tf.int64)
    leads = tf.gather(flat, starts)
    composite = tf.where(tf.equal(tf.gather(ccc, starts), 0), leads, -1)
    # Marks in order of their offset in the group: one slice per step.
    by_offset = tf.argsort(offset, stable=True)
    counts = tf.math.bincount(tf.cast(offset, tf.int32), dtype=tf.int64)
    bounds = tf.concat([[0], tf.cumsum(counts)], axis=0)
    steps = tf.size(counts)

    def step(k, composite, last_class, alive):
      at = by_offset[bounds[k]:bounds[k + 1]]
      group, mark, mark_class = tf.gather(groups, at), tf.gather(flat, at), tf.gather(ccc, at)
      start, last = tf.gather(composite, group), tf.gather(last_class, group)
      pair = self._pairs.lookup(tf.maximum(start, 0) * _CODE_POINTS + mark)
      joins = tf.logical_and(tf.logical_and(start >= 0, pair >= 0),
                             tf.logical_and(mark_class > 0, last < mark_class))
      composite = tf.tensor_scatter_nd_update(
          composite, tf.boolean_mask(group, joins)[:, None], tf.boolean_mask(pair, joins))
      stays = tf.logical_not(joins)
      last_class = tf.tensor_scatter_nd_update(
          last_class, tf.boolean_mask(group, stays)[:, None],
          tf.where(tf.boolean_mask(mark_class, stays) > 0, tf.boolean_mask(mark_class, stays),
                   256))        # a starter that did not join blocks everything after it
      alive = tf.tensor_scatter_nd_update(alive, tf.boolean_mask(at, joins)[:, None],
                                          tf.zeros([tf.reduce_sum(tf.cast(joins, tf.int32))],
                                                   tf.bool))
      return k + 1, composite, last_class, alive

    _, composite, _, alive = tf.while_loop(
        lambda k, *_: k < steps, step,
        [tf.constant(1), composite, tf.zeros([group_count], tf.int64),
         tf.ones([n], tf.bool)])
    flat = tf.tensor_scatter_nd_update(
        flat, starts[:, None], tf.where(composite >= 0, composite, leads))
    return tf.boolean_mask(flat, alive), tf.boolean_mask(rows, alive)
