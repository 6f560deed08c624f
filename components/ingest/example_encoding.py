"""Serialises ingested records as tf.Example protos without importing TensorFlow.

Beam workers in multi-processing mode import this module; importing TensorFlow there would
cost each worker seconds before it reads its first file. The wire format is protobuf's:
  Example   { Features features = 1; }
  Features  { map<string, Feature> feature = 1; }
  Feature   { oneof { BytesList bytes_list = 1; FloatList float_list = 2;
                      Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }   Int64List { repeated int64 value = 1 [packed]; }
tests/test_image_example_gen.py checks that TensorFlow parses what this writes.
"""

from typing import Dict, Union


def _varint(value: int) -> bytes:
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


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited field (wire type 2)."""
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(value: Union[bytes, int]) -> bytes:
  if isinstance(value, bytes):
    return _field(1, _field(1, value))                 # bytes_list { value: ... }
  return _field(3, _field(1, _varint(value)))          # int64_list { value: [...] packed }


def encode_example(features: Dict[str, Union[bytes, int]]) -> bytes:
  """A serialized tf.Example with one value per feature (bytes or int64)."""
  entries = b"".join(
      _field(1, _field(1, name.encode("utf-8")) + _field(2, _feature(value)))
      for name, value in sorted(features.items()))
  return _field(1, entries)
