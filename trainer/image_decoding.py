"""Encoded image bytes -> RGB pixels, in the TensorFlow graph.

This is the one decoder that the trainer's input pipeline, the feature cache, the Evaluator's
`serving_examples` signature and `serving_default` all run, so the model sees the same pixels
in training, evaluation and production. It does in the graph what ingestion's Pillow
normalisation does (components/image_example_gen/image_checks.py), so that a client's
original file and the example ingestion stored from it decode to the same pixels:

  JPEG   EXIF orientation (IFD0 tag 0x0112 in the APP1 segment) applied; CMYK and grayscale
         converted to RGB by libjpeg;
  PNG    decoded at its own bit depth (16-bit keeps its precision until the final float);
         grayscale, grayscale + alpha, palette (with tRNS transparency), RGB and RGBA;
  GIF    first frame;
  BMP    24/32-bit and 8-bit grayscale; a 32-bit BMP's fourth byte is ignored, as Pillow does;
  alpha  composited onto `background` (ingestion's `background_color`).

Formats outside this list (WEBP, TIFF, ...) are rejected at ingestion (`format_not_servable`)
and sent to serving raise InvalidArgumentError ("Unknown image file format"), never a silent
prediction. Bump DECODER_VERSION whenever what this module produces changes: it is part of the
feature cache's key.
"""

from typing import Sequence

import tensorflow as tf

DECODER_VERSION = "2"
DEFAULT_BACKGROUND = (255, 255, 255)

# An APP1 (Exif) segment is at most 64 KiB and comes right after SOI/APP0.
_EXIF_SCAN_BYTES = 1 << 17
_MAX_SEGMENTS = 32
_MAX_IFD_ENTRIES = 64
_ORIENTATION_TAG = 0x0112


def _byte_reader(encoded: tf.Tensor):
  """A function reading unsigned bytes at (vectors of) offsets; 0 past the end."""
  head = tf.io.decode_raw(tf.strings.substr(encoded, 0, _EXIF_SCAN_BYTES), tf.uint8)
  head = tf.concat([tf.cast(head, tf.int32), tf.zeros([16], tf.int32)], axis=0)
  last = tf.size(head) - 1

  def at(offset):
    return tf.gather(head, tf.clip_by_value(offset, 0, last))

  return at, last


def _exif_tiff_offset(at, last) -> tf.Tensor:
  """Offset of the TIFF header inside the JPEG's Exif APP1 segment, or -1."""
  exif_magic = tf.constant([0x45, 0x78, 0x69, 0x66, 0x00, 0x00])   # "Exif\0\0"

  def keep_walking(pos, found):
    marker = at(pos + 1)
    return tf.logical_and(
        tf.logical_and(found < 0, pos + 4 < last),
        tf.logical_and(tf.equal(at(pos), 0xFF),
                       tf.logical_and(tf.not_equal(marker, 0xDA), tf.not_equal(marker, 0xD9))))

  def next_segment(pos, found):
    length = at(pos + 2) * 256 + at(pos + 3)
    is_exif = tf.logical_and(tf.equal(at(pos + 1), 0xE1),
                             tf.reduce_all(tf.equal(at(pos + 4 + tf.range(6)), exif_magic)))
    return pos + 2 + length, tf.where(is_exif, pos + 10, -1)

  _, found = tf.while_loop(keep_walking, next_segment, (tf.constant(2), tf.constant(-1)),
                           maximum_iterations=_MAX_SEGMENTS)
  return found


def jpeg_orientation(encoded: tf.Tensor) -> tf.Tensor:
  """The EXIF orientation (1-8) of a JPEG's IFD0; 1 when absent or unreadable."""
  at, last = _byte_reader(encoded)
  tiff = _exif_tiff_offset(at, last)
  little = tf.equal(at(tiff), 0x49)   # "II": little-endian; "MM": big-endian

  def u16(offset):
    return tf.where(little, at(offset) + at(offset + 1) * 256,
                    at(offset) * 256 + at(offset + 1))

  def u32(offset):
    return tf.where(little, u16(offset) + u16(offset + 2) * 65536,
                    u16(offset) * 65536 + u16(offset + 2))

  ifd = tiff + u32(tiff + 4)
  count = u16(ifd)
  entries = ifd + 2 + 12 * tf.range(_MAX_IFD_ENTRIES)
  is_orientation = tf.logical_and(tf.range(_MAX_IFD_ENTRIES) < count,
                                  tf.equal(u16(entries), _ORIENTATION_TAG))
  values = tf.boolean_mask(u16(entries + 8), is_orientation)
  value = tf.cond(tf.size(values) > 0, lambda: values[0], lambda: tf.constant(1))
  valid = tf.logical_and(tiff >= 0, tf.logical_and(value >= 1, value <= 8))
  return tf.where(valid, value, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
  """Turns an image stored with EXIF `orientation` upright (as PIL.ImageOps.exif_transpose)."""
  def transpose(x):
    return tf.transpose(x, [1, 0, 2])

  branches = [
      lambda: image,                                     # 1: upright
      lambda: tf.image.flip_left_right(image),           # 2: mirrored
      lambda: tf.image.rot90(image, 2),                  # 3: rotated 180
      lambda: tf.image.flip_up_down(image),              # 4: mirrored vertically
      lambda: transpose(image),                          # 5: transposed
      lambda: tf.image.rot90(image, 3),                  # 6: rotated 90 clockwise
      lambda: tf.image.rot90(transpose(image), 2),       # 7: transversed
      lambda: tf.image.rot90(image, 1),                  # 8: rotated 90 counter-clockwise
  ]
  return tf.switch_case(tf.clip_by_value(orientation, 1, 8) - 1, branches)


def _composite(image: tf.Tensor, background: tf.Tensor) -> tf.Tensor:
  """[h, w, 1|2|3|4] floats in [0, 1] -> RGB in [0, 1], alpha over `background`."""
  def over(rgb, alpha):
    return rgb * alpha + background * (1.0 - alpha)

  branches = [
      lambda: tf.tile(image[..., :1], [1, 1, 3]),
      lambda: over(tf.tile(image[..., :1], [1, 1, 3]), image[..., 1:2]),
      lambda: image[..., :3],
      lambda: over(image[..., :3], image[..., 3:4]),
  ]
  return tf.switch_case(tf.shape(image)[-1] - 1, branches)


def _has_prefix(encoded: tf.Tensor, magic: bytes) -> tf.Tensor:
  return tf.equal(tf.strings.substr(encoded, 0, len(magic)), magic)


def decode_rgb(encoded: tf.Tensor,
               background: Sequence[int] = DEFAULT_BACKGROUND) -> tf.Tensor:
  """One encoded image (scalar tf.string) -> float32 RGB [height, width, 3] in [0, 255]."""
  bg = tf.constant([c / 255.0 for c in background], tf.float32)

  def png():
    return tf.cast(tf.io.decode_png(encoded, channels=0, dtype=tf.uint16),
                   tf.float32) / 65535.0

  def jpeg():
    image = tf.io.decode_jpeg(encoded, channels=3)
    return tf.cast(apply_orientation(image, jpeg_orientation(encoded)), tf.float32) / 255.0

  def bmp():
    image = tf.io.decode_bmp(encoded, channels=0)
    # A 32-bit BMP's fourth byte is padding in most files (Pillow reads it as RGB).
    image = tf.cond(tf.equal(tf.shape(image)[-1], 4), lambda: image[..., :3], lambda: image)
    return tf.cast(image, tf.float32) / 255.0

  def other():
    # GIF (first frame) or anything else: decode_image raises InvalidArgumentError
    # "Unknown image file format" for bytes it cannot decode.
    return tf.cast(tf.io.decode_image(encoded, channels=0, expand_animations=False),
                   tf.float32) / 255.0

  image = tf.case([(_has_prefix(encoded, b"\x89PNG\r\n\x1a\n"), png),
                   (_has_prefix(encoded, b"\xff\xd8\xff"), jpeg),
                   (_has_prefix(encoded, b"BM"), bmp)], default=other, exclusive=False)
  rgb = _composite(image, bg) * 255.0
  rgb.set_shape([None, None, 3])
  return rgb
