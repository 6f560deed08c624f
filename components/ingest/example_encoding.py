"""Serialises ingested records as tf.Example protos without importing TensorFlow.

Beam workers in multi-processing mode import this module; importing TensorFlow there would
cost each worker seconds before it reads its first file. The wire format is protobuf's:
  Example   { Features features = 1; }
  Features  { map<string, Feature> feature = 1; }
  Feature   { oneof { BytesList bytes_list = 1; FloatList float_list = 2;
                      Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }   Int64List { repeated int64 value = 1 [packed]; }
  FloatList { repeated float value = 1 [packed]; }
tests/test_image_example_gen.py checks that TensorFlow parses what this writes.
"""

import struct
from typing import Dict, List, Sequence, Union

import numpy as np

Value = Union[bytes, int, float, Sequence[float], np.ndarray]


def _varint(value: int) -> bytes:
  if 0 <= value < 0x80:         # field keys and short lengths: most calls
    return _ONE_BYTE[value]
  if 0 <= value < 0x4000:
    return bytes((value & 0x7F | 0x80, value >> 7))
  value &= (1 << 64) - 1   # int64 is encoded as its two's-complement uint64
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _header(number: int, length: int) -> bytes:
  return _varint(number << 3 | 2) + _varint(length)


def _feature_parts(value: Value) -> list:
  """A Feature's bytes as parts to join, so a large value (an image) is copied once."""
  if isinstance(value, bytes):                       # bytes_list { value: ... }
    inner = _header(1, len(value))
    return [_header(1, len(inner) + len(value)), inner, value]
  if isinstance(value, (int, np.integer)):
    return [_field(3, _field(1, _varint(int(value))))]   # int64_list { value: [...] packed }
  if isinstance(value, (float, np.floating)):
    return [_field(2, _field(1, struct.pack("<f", value)))]
  # float_list { value: [...] packed little-endian float32 }
  return [_field(2, _field(1, np.asarray(value, "<f4").tobytes()))]


def _entry_parts(name: str, value: Value) -> list:
  """One `feature` map entry {key: name, value: Feature} as parts to join."""
  key = _field(1, name.encode("utf-8"))
  feature = _feature_parts(value)
  feature_length = sum(len(p) for p in feature)
  entry_header = _header(2, feature_length)
  return [_header(1, len(key) + len(entry_header) + feature_length), key, entry_header] + feature


# Entries of small scalar values (a label, a class name, a size) repeat across examples:
# encoded once. Bounded: cleared when full.
_SMALL_ENTRIES: Dict[tuple, bytes] = {}
_SMALL_LIMIT, _SMALL_BYTES = 4096, 48      # a 64-character sha256 is never cached


def _entry(name: str, value: Value) -> list:
  if isinstance(value, (bytes, int, np.integer)) and not isinstance(value, bool) and (
      not isinstance(value, bytes) or len(value) <= _SMALL_BYTES):
    cache_key = (name, type(value), value)
    entry = _SMALL_ENTRIES.get(cache_key)
    if entry is None:
      if len(_SMALL_ENTRIES) >= _SMALL_LIMIT:
        _SMALL_ENTRIES.clear()
      entry = _SMALL_ENTRIES[cache_key] = b"".join(_entry_parts(name, value))
    return [entry]
  return _entry_parts(name, value)


def encode_example(features: Dict[str, Value]) -> bytes:
  """A serialized tf.Example: bytes, int64 and float features (one value), or float lists."""
  return b"".join(example_parts(features))


def example_parts(features: Dict[str, Value]) -> List[bytes]:
  """encode_example's bytes as consecutive parts: a writer that takes them one by one never
  copies an image into a new buffer."""
  parts = []
  for name, value in sorted(features.items()):
    parts += _entry(name, value)
  return [_header(1, sum(len(p) for p in parts))] + parts
