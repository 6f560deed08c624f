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
  BMP    uncompressed 24/32-bit and 8-bit grayscale; a 32-bit BMP's fourth byte is
         ignored, as Pillow does;
  alpha  composited onto `background` (ingestion's `background_color`).

Before decoding, it refuses bytes it cannot decode to the pixels ingestion stores, with an
InvalidArgumentError naming what they are and what to send instead (never a prediction on
other pixels): WEBP, TIFF, HEIF/AVIF and any other format; a GIF whose first frame has
transparency; a palette, 1/4/16-bit, RLE/bitfield-compressed or OS/2 BMP; empty bytes. The
rule is schemas/image_formats.py's serving_refusal, on the same bytes (ingestion stores such files as PNG,
which a client must send instead). Bump DECODER_VERSION whenever what this module produces
changes: it is part of the feature cache's key.
"""

import dataclasses
from typing import Optional, Sequence

import tensorflow as tf

from schemas import image_formats

DECODER_VERSION = "2"
DEFAULT_BACKGROUND = (255, 255, 255)

# The Exif APP1 segment comes right after SOI, or after a JFIF APP0 or Adobe APP14 segment;
# IFD0 (which holds the orientation) starts a few bytes into it. Reading only these windows
# keeps the parse cheap next to the decode; an orientation beyond them is not applied.
_APP1_SEARCH_BYTES = image_formats.EXIF_SEARCH_BYTES
_IFD_WINDOW_BYTES = 4096
_MAX_IFD_ENTRIES = 64
_ORIENTATION_TAG = 0x0112


def _byte_reader(encoded: tf.Tensor, start: tf.Tensor):
  """A function reading unsigned bytes at (vectors of) offsets from `start`; 0 outside."""
  head = tf.io.decode_raw(tf.strings.substr(encoded, start, _IFD_WINDOW_BYTES), tf.uint8)
  last = tf.size(head) - 1

  def at(offset):
    value = tf.cast(tf.gather(head, tf.clip_by_value(offset, 0, last)), tf.int32)
    return tf.where(tf.logical_and(offset >= 0, offset <= last), value, 0)

  return at, last


def _exif_tiff_offset(encoded: tf.Tensor) -> tf.Tensor:
  """Offset of the TIFF header inside the JPEG's Exif APP1 segment, or -1.

  Vectorised instead of walking the segments: the first `FF E1 len len "Exif\0\0"` in the
  head of the file. Entropy-coded data cannot contain it (a 0x00 byte there only follows
  0xFF), and APP1 comes before the image data.
  """
  head = tf.io.decode_raw(tf.strings.substr(encoded, 0, _APP1_SEARCH_BYTES), tf.uint8)
  n = tf.size(head) - 9
  pattern = {0: 0xFF, 1: 0xE1, 4: 0x45, 5: 0x78, 6: 0x69, 7: 0x66, 8: 0x00, 9: 0x00}
  match = tf.ones([tf.maximum(n, 0)], tf.bool)
  for shift, byte in pattern.items():
    match = tf.logical_and(match, tf.equal(head[shift:shift + tf.maximum(n, 0)], byte))
  first = tf.reduce_min(tf.concat([tf.cast(tf.where(match)[:, 0], tf.int32),
                                   [_APP1_SEARCH_BYTES]], axis=0))
  return tf.where(first < _APP1_SEARCH_BYTES, first + 10, -1)


def jpeg_orientation(encoded: tf.Tensor) -> tf.Tensor:
  """The EXIF orientation (1-8) of a JPEG's IFD0; 1 when absent or unreadable.

  No tf.cond: inside tf.data's map and the serving function a conditional costs more than
  reading IFD0 (clipped reads, 0 outside the window) whether or not there is one."""
  found = _exif_tiff_offset(encoded)
  return tf.where(found >= 0, _ifd0_orientation(encoded, tf.maximum(found, 0)), 1)


def _ifd0_orientation(encoded: tf.Tensor, tiff_start: tf.Tensor) -> tf.Tensor:
  """Reads tag 0x0112 from IFD0 of the TIFF structure at `tiff_start`; 1 when absent."""
  at, _ = _byte_reader(encoded, tiff_start)   # offsets below are relative to the TIFF header
  little = tf.equal(at(0), 0x49)   # "II": little-endian; "MM": big-endian

  def u16(offset):
    return tf.where(little, at(offset) + at(offset + 1) * 256,
                    at(offset) * 256 + at(offset + 1))

  def u32(offset):
    return tf.where(little, u16(offset) + u16(offset + 2) * 65536,
                    u16(offset) * 65536 + u16(offset + 2))

  ifd = u32(4)
  count = u16(ifd)
  entries = ifd + 2 + 12 * tf.range(_MAX_IFD_ENTRIES)
  is_orientation = tf.logical_and(tf.range(_MAX_IFD_ENTRIES) < count,
                                  tf.equal(u16(entries), _ORIENTATION_TAG))
  value = tf.reduce_max(tf.where(is_orientation, u16(entries + 8), 0))
  return tf.where(tf.logical_and(value >= 1, value <= 8), value, 1)


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
  return tf.cond(tf.equal(orientation, 1), lambda: image,
                 lambda: tf.switch_case(tf.clip_by_value(orientation, 1, 8) - 1, branches))


def apply_orientation_square(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
  """apply_orientation for a square image, without control flow: the eight flips and
  transposes of a small square cost less than a tf.cond in tf.data's map (same pixels)."""
  t = tf.transpose(image, [1, 0, 2])
  variants = tf.stack([
      image,                    # 1: upright
      tf.reverse(image, [1]),   # 2: mirrored (flip_left_right)
      tf.reverse(image, [0, 1]),  # 3: rotated 180
      tf.reverse(image, [0]),   # 4: mirrored vertically (flip_up_down)
      t,                        # 5: transposed
      tf.reverse(t, [1]),       # 6: rotated 90 clockwise (rot90 k=3)
      tf.reverse(t, [0, 1]),    # 7: transversed
      tf.reverse(t, [0]),       # 8: rotated 90 counter-clockwise (rot90 k=1)
  ])
  return tf.gather(variants, tf.clip_by_value(orientation, 1, 8) - 1)


def _composite(image: tf.Tensor, background: tf.Tensor) -> tf.Tensor:
  """[h, w, 1|2|3|4] floats in [0, 255] -> RGB in [0, 255], alpha over `background`."""
  def over(rgb, alpha):
    alpha = alpha / 255.0
    return rgb * alpha + background * (1.0 - alpha)

  branches = [
      lambda: tf.tile(image, [1, 1, 3]),
      lambda: over(tf.tile(image[..., :1], [1, 1, 3]), image[..., 1:2]),
      lambda: image,
      lambda: over(image[..., :3], image[..., 3:4]),
  ]
  return tf.switch_case(tf.shape(image)[-1] - 1, branches)


def _has_prefix(encoded: tf.Tensor, magic: bytes, at: int = 0) -> tf.Tensor:
  """Whether `magic` is at offset `at` (substr refuses a start beyond the end)."""
  start = tf.minimum(at, tf.strings.length(encoded)) if at else 0
  return tf.equal(tf.strings.substr(encoded, start, len(magic)), magic)


def _any_prefix(encoded: tf.Tensor, magics) -> tf.Tensor:
  found = [_has_prefix(encoded, m) for m in magics]
  return found[0] if len(found) == 1 else tf.reduce_any(tf.stack(found))


def _bytes_at(encoded: tf.Tensor, offset: tf.Tensor, count: int) -> tf.Tensor:
  """`count` unsigned bytes (int64) from `offset`, 0 beyond the end of `encoded`."""
  start = tf.minimum(tf.cast(offset, tf.int64), tf.cast(tf.strings.length(encoded), tf.int64))
  raw = tf.io.decode_raw(tf.strings.substr(encoded, start, count), tf.uint8)
  return tf.cast(tf.reshape(tf.pad(raw, [[0, count - tf.size(raw)]]), [count]), tf.int64)


def _little_endian(values: tf.Tensor) -> tf.Tensor:
  return tf.reduce_sum(values * tf.bitwise.left_shift(
      tf.constant(1, tf.int64), 8 * tf.range(tf.size(values, out_type=tf.int64))))


def _refused(is_servable: tf.Tensor, message: tf.Tensor):
  """An op that raises InvalidArgumentError(`message`) unless `is_servable`."""
  return tf.debugging.Assert(is_servable, [message])


def _other_format_message(encoded: tf.Tensor) -> tf.Tensor:
  """image_formats.serving_refusal's message for bytes that are not JPEG, PNG, GIF or BMP."""
  message = image_formats.serving_message
  named = [
      (tf.equal(tf.strings.length(encoded), 0),
       message("Empty image bytes", stored_as_png=False)),
      (tf.logical_and(_has_prefix(encoded, b"RIFF"), _has_prefix(encoded, b"WEBP", 8)),
       message("WEBP images")),
      (_any_prefix(encoded, image_formats.TIFF_MAGICS), message("TIFF images")),
      (_has_prefix(encoded, b"ftyp", 4),
       message("HEIF/AVIF images", stored_as_png=False)),
  ]
  result = tf.constant(message("Images that are not JPEG, PNG, GIF or BMP", stored_as_png=False))
  for found, text in reversed(named):
    result = tf.where(found, text, result)
  return result


def _gif_first_frame(encoded: tf.Tensor) -> tf.Tensor:
  """image_formats.gif_first_frame in the graph: 1 opaque, 2 transparent, 0 or 3 not found.

  A tf.while_loop over the blocks before the first image descriptor (a few for a usual
  GIF: the looping extension, a Graphic Control Extension); only GIF bytes come here."""
  packed = _bytes_at(encoded, 10, 1)[0]
  table = tf.bitwise.left_shift(tf.constant(3, tf.int64), tf.bitwise.bitwise_and(packed, 7) + 1)
  start = 13 + tf.where(tf.bitwise.bitwise_and(packed, 0x80) > 0, table,
                        tf.constant(0, tf.int64))
  length = tf.cast(tf.strings.length(encoded), tf.int64)

  def step(i, pos, in_sub_blocks, found):
    byte, label, _, flags = tf.unstack(_bytes_at(encoded, pos, 4))
    is_image, is_extension = tf.equal(byte, 0x2C), tf.equal(byte, 0x21)
    transparent = tf.logical_and(
        is_extension, tf.logical_and(tf.equal(label, 0xF9),
                                     tf.equal(tf.bitwise.bitwise_and(flags, 1), 1)))
    next_pos = tf.where(in_sub_blocks, pos + byte + 1,
                        tf.where(is_image, pos, tf.where(is_extension, pos + 2, pos + 1)))
    next_in_sub_blocks = tf.where(in_sub_blocks, tf.not_equal(byte, 0), is_extension)
    verdict = tf.where(pos >= length, 3, tf.where(
        in_sub_blocks, 0, tf.where(is_image, 1, tf.where(transparent, 2, 0))))
    return i + 1, next_pos, next_in_sub_blocks, verdict

  _, _, _, found = tf.while_loop(
      lambda i, pos, in_sub_blocks, found: tf.logical_and(
          i < image_formats.GIF_MAX_BLOCKS, tf.equal(found, 0)),
      step, [tf.constant(0), start, tf.constant(False), tf.constant(0)])
  return found


def _gif_check(encoded: tf.Tensor):
  found = _gif_first_frame(encoded)
  message = tf.where(
      tf.equal(found, 2), image_formats.serving_message("GIF images with transparency"),
      image_formats.serving_message("GIF images whose first frame is not within "
                                   f"{image_formats.GIF_MAX_BLOCKS} blocks"))
  return _refused(tf.equal(found, 1), message)


def _bmp_check(encoded: tf.Tensor):
  """image_formats._bmp_refusal in the graph: the header's fields and an 8-bit palette."""
  header = _little_endian(_bytes_at(encoded, 14, 4))
  bits = _little_endian(_bytes_at(encoded, 28, 2))
  compression = _little_endian(_bytes_at(encoded, 30, 4))
  colors = _little_endian(_bytes_at(encoded, 46, 4))
  colors = tf.where(tf.equal(colors, 0), tf.constant(256, tf.int64), colors)
  palette = tf.reshape(_bytes_at(encoded, 14 + header, 4 * 256), [256, 4])[:, :3]
  index = tf.range(256, dtype=tf.int64)
  identity = tf.reduce_all(tf.logical_or(index >= colors,
                                         tf.reduce_all(tf.equal(palette, index[:, None]), 1)))
  grayscale = tf.logical_and(tf.logical_and(colors > 2, colors <= 256), identity)
  message = image_formats.serving_message
  text = tf.where(
      header < 40, message("BMP images with an OS/2 header"), tf.where(
          tf.not_equal(compression, 0), message("Compressed (RLE or bitfield) BMP images"),
          tf.where(tf.equal(bits, 8), message("BMP images with a colour palette"),
                   tf.strings.join([tf.strings.as_string(bits),
                                    message("-bit BMP images")]))))
  servable = tf.logical_and(
      tf.logical_and(header >= 40, tf.equal(compression, 0)),
      tf.logical_or(tf.logical_or(tf.equal(bits, 24), tf.equal(bits, 32)),
                    tf.logical_and(tf.equal(bits, 8), grayscale)))
  return _refused(servable, text)


_JPEG, _PNG, _GIF, _BMP, _OTHER = range(5)


def _format_index(encoded: tf.Tensor) -> tf.Tensor:
  """Which decoder the magic bytes name (_JPEG ... _BMP), or _OTHER."""
  index = tf.constant(_OTHER)
  for magic, value in reversed([((image_formats.JPEG_MAGIC,), _JPEG),
                                ((image_formats.PNG_MAGIC,), _PNG),
                                (image_formats.GIF_MAGICS, _GIF),
                                ((image_formats.BMP_MAGIC,), _BMP)]):
    index = tf.where(_any_prefix(encoded, magic), value, index)
  return index


@dataclasses.dataclass(frozen=True)
class Limits:
  """What ingestion refuses from a file's size and header (IngestConfig's max_file_bytes,
  max_pixels and min_side), checked by the serving signature before any pixel is decoded:
  a 10000x10000 PNG is refused from its 24-byte header, not decoded into 400 MB."""
  max_file_bytes: int
  max_pixels: int
  min_side: int

  @classmethod
  def of(cls, ingest) -> "Limits":
    return cls(ingest.max_file_bytes, ingest.max_pixels, ingest.min_side)


def _big_endian(values: tf.Tensor) -> tf.Tensor:
  return _little_endian(tf.reverse(values, [0]))


def jpeg_size(encoded: tf.Tensor) -> tf.Tensor:
  """(width, height) int64 from the JPEG's frame header (extract_jpeg_shape reads markers
  only, no pixels)."""
  shape = tf.cast(tf.image.extract_jpeg_shape(encoded), tf.int64)
  return tf.stack([shape[1], shape[0]])


def png_size(encoded: tf.Tensor) -> tf.Tensor:
  """(width, height) from the IHDR chunk (big-endian, bytes 16-23)."""
  return tf.stack([_big_endian(_bytes_at(encoded, 16, 4)),
                   _big_endian(_bytes_at(encoded, 20, 4))])


def gif_size(encoded: tf.Tensor) -> tf.Tensor:
  """(width, height) of the logical screen (little-endian, bytes 6-9), as Pillow reads it."""
  return tf.stack([_little_endian(_bytes_at(encoded, 6, 2)),
                   _little_endian(_bytes_at(encoded, 8, 2))])


def bmp_size(encoded: tf.Tensor) -> tf.Tensor:
  """(width, height) from the info header (signed little-endian; a negative height is a
  top-down BMP)."""
  def signed(value):
    return tf.where(value >= 2 ** 31, value - 2 ** 32, value)
  return tf.abs(tf.stack([signed(_little_endian(_bytes_at(encoded, 18, 4))),
                          signed(_little_endian(_bytes_at(encoded, 22, 4)))]))


def _limit_checks(encoded: tf.Tensor, size_of, limits: Optional[Limits]) -> list:
  """Asserts raising InvalidArgumentError for what ingestion would reject by size (too many
  bytes, too many pixels declared, a side under min_side), with the figures. Built inside
  the format's branch, after its format check, so a refused format is named first."""
  if limits is None:
    return []
  length = tf.cast(tf.strings.length(encoded), tf.int64)
  size_ok = tf.debugging.Assert(length <= limits.max_file_bytes, [
      f"Image bytes over max_file_bytes={limits.max_file_bytes} (ingestion rejects such "
      "files as too_large); received bytes:", length], name="max_file_bytes")
  with tf.control_dependencies([size_ok]):
    size = size_of(encoded)
  width, height = size[0], size[1]
  pixels_ok = tf.debugging.Assert(width * height <= limits.max_pixels, [
      f"Image declares more pixels than max_pixels={limits.max_pixels} (ingestion rejects "
      "it as too_many_pixels before decoding); width, height:", width, height],
                                  name="max_pixels")
  side_ok = tf.debugging.Assert(tf.minimum(width, height) >= limits.min_side, [
      f"Image side under min_side={limits.min_side} (ingestion rejects it as too_small); "
      "width, height:", width, height], name="min_side")
  return [size_ok, pixels_ok, side_ok]


def _decode_stored_orientation(encoded: tf.Tensor, background: Sequence[int],
                               limits: Optional[Limits] = None):
  """(float32 RGB [h, w, 3] in [0, 255] as stored in the file, its EXIF orientation).

  Raises InvalidArgumentError, before any decoding, for bytes serving refuses (and with
  `limits`, for what ingestion rejects from the file's size and header)."""
  bg = tf.constant(background, tf.float32)
  index = _format_index(encoded)

  def decode_image():
    # JPEG (CMYK arrives as RGB, grayscale as one channel) or GIF (first frame).
    return tf.cast(tf.io.decode_image(encoded, channels=0, expand_animations=False),
                   tf.float32)

  def jpeg():
    with tf.control_dependencies(_limit_checks(encoded, jpeg_size, limits)):
      return decode_image()

  def png():
    with tf.control_dependencies(_limit_checks(encoded, png_size, limits)):
      return tf.cast(tf.io.decode_png(encoded, channels=0, dtype=tf.uint16),
                     tf.float32) * (255.0 / 65535.0)

  def gif():
    with tf.control_dependencies([_gif_check(encoded)]):
      with tf.control_dependencies(_limit_checks(encoded, gif_size, limits)):
        return decode_image()

  def bmp():
    with tf.control_dependencies([_bmp_check(encoded)]):
      with tf.control_dependencies(_limit_checks(encoded, bmp_size, limits)):
        image = tf.io.decode_bmp(encoded, channels=0)
    # A 32-bit BMP's fourth byte is padding in most files (Pillow reads it as RGB).
    image = tf.cond(tf.equal(tf.shape(image)[-1], 4), lambda: image[..., :3], lambda: image)
    return tf.cast(image, tf.float32)

  def other():
    with tf.control_dependencies([_refused(tf.less(index, _OTHER),
                                           _other_format_message(encoded))]):
      return tf.zeros([0, 0, 3], tf.float32)

  image = tf.switch_case(index, [jpeg, png, gif, bmp, other])
  rgb = _composite(image, bg)
  rgb.set_shape([None, None, 3])
  # After the decode, so that bytes serving refuses fail with the refusal, not the parse.
  with tf.control_dependencies([image]):
    orientation = tf.where(tf.equal(index, _JPEG), jpeg_orientation(encoded), 1)
  return rgb, orientation


def decode_rgb(encoded: tf.Tensor,
               background: Sequence[int] = DEFAULT_BACKGROUND,
               limits: Optional[Limits] = None) -> tf.Tensor:
  """One encoded image (scalar tf.string) -> float32 RGB [height, width, 3] in [0, 255],
  upright."""
  rgb, orientation = _decode_stored_orientation(encoded, background, limits)
  return apply_orientation(rgb, orientation)


def decode_resized(encoded: tf.Tensor, image_size: int,
                   background: Sequence[int] = DEFAULT_BACKGROUND,
                   limits: Optional[Limits] = None) -> tf.Tensor:
  """One encoded image -> float32 RGB [image_size, image_size, 3] in [0, 255], upright.

  The orientation is applied after resizing: flips and transposes commute with a resize to
  a square, and turning the small image costs nothing next to turning the full one.
  """
  rgb, orientation = _decode_stored_orientation(encoded, background, limits)
  resized = tf.image.resize(rgb, [image_size, image_size])
  return apply_orientation_square(resized, orientation)
