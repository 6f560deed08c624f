"""What ImageExampleGen does with each file the shared walk (components/ingest) finds:
decode each distinct content once with Pillow and decide whether it is ingested, normalised
or rejected.

Outcomes (the ingest report's contract, components/ingest/records.py):
  ingested    the original bytes are stored unchanged (an RGB or grayscale JPEG/PNG);
  normalised  the image was decoded and re-encoded (EXIF rotation, mode conversion, first
              frame of an animation, a format TensorFlow does not decode well);
  rejected    the file is not a usable image, or one the serving signature could not decode
              the same way (`not_servable`); `reason` says why;
  skipped     never opened (see components/ingest/walk.py) or duplicate content.
"""

import dataclasses
import io
import warnings
import zlib
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from components.ingest import records, report, walk
from components.ingest.records import INGESTED, NORMALISED, OUTCOMES, REJECTED, SKIPPED
from components.ingest.records import reject, split_for
from components.ingest.task import IngestTask
_EXIF_ORIENTATION = 0x0112
# What the serving graph decodes (trainer/image_decoding.py). Every kept image must decode
# there to the pixels this module stores (train/serve parity); anything else is rejected
# `not_servable` with the fix. MPO is the multi-picture JPEG that phones write.
SERVABLE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP")
_JPEG_FORMATS = ("JPEG", "MPO")
# The serving graph looks for a JPEG's Exif segment in this many leading bytes (it follows
# SOI, or a JFIF/Adobe segment, in practice); an orientation stored further in is ignored by
# both sides so that they agree.
EXIF_SEARCH_BYTES = 4096


@dataclasses.dataclass
class ImageRecord(records.FileRecord):
  """A file found under an image data root: what ingestion measured of the image."""
  height: Optional[int] = None
  width: Optional[int] = None
  format: Optional[str] = None
  mode: Optional[str] = None


# Tests and callers that build records by hand.
FileRecord = ImageRecord


def inspect_file(record: FileRecord, options) -> FileRecord:
  """Reads `record.source` once and fills in outcome, reason, sha256 and the encoded image.

  `options` is an IngestConfig. Never raises for a bad file: the reason is recorded.
  """
  data = read_file(record, options)
  return record if data is None else decode_file(record, data, options)


def read_file(record: FileRecord, options) -> Optional[bytes]:
  """The file's bytes with `record.sha256` set, or None with the record rejected."""
  return records.read_file(record, options.max_file_bytes)


def decode_file(record: FileRecord, data: bytes, options) -> FileRecord:
  """Decodes `data` (the bytes of `record`) and decides ingested, normalised or rejected."""
  try:
    return _decode(record, data, options)
  except _Rejection as r:
    return reject(record, str(r))


class _Rejection(Exception):
  pass


def _open(data: bytes, allowed: Tuple[str, ...]) -> Image.Image:
  try:
    return Image.open(io.BytesIO(data), formats=list(allowed))
  except UnidentifiedImageError:
    pass
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    raise _Rejection(f"too_many_pixels: {e}")
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise _Rejection(f"corrupt: {e}")
  # Name the format if Pillow knows it, without ever loading its pixels.
  try:
    with Image.open(io.BytesIO(data)) as other:
      fmt = other.format
  except Exception:  # pylint: disable=broad-except
    raise _Rejection("not_an_image: content is not a recognised image format")
  raise _Rejection(f"format_not_allowed: {fmt} (allowed: {', '.join(allowed)})")


def _decode(record: FileRecord, data: bytes, options) -> FileRecord:
  with warnings.catch_warnings():
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    img = _open(data, tuple(options.allowed_formats))
    record.format, record.mode = img.format, img.mode
    width, height = img.size
    if width * height > options.max_pixels:
      raise _Rejection(
          f"too_many_pixels: {width}x{height} exceeds max_pixels={options.max_pixels}")
    if min(width, height) < options.min_side:
      raise _Rejection(f"too_small: {width}x{height} is under min_side={options.min_side}")
    _check_servable(img, data)
    try:
      frames = getattr(img, "n_frames", 1)
      # Only a JPEG's orientation is applied: the serving graph reads it from the APP1
      # segment, and PNG's rarely used eXIf chunk is ignored by both.
      orientation = (img.getexif().get(_EXIF_ORIENTATION, 1)
                     if record.format in _JPEG_FORMATS and _exif_near_start(data) else 1)
      keep_original = (record.format in ("JPEG", "PNG") and img.mode in ("RGB", "L")
                       and frames == 1 and orientation in (None, 1))
      if keep_original and record.format == "JPEG":
        # The original bytes are kept, so pixels are only needed to prove the file decodes:
        # decoding at 1/8 scale still reads every entropy-coded block (a truncated or
        # corrupt stream still fails) and skips most of the inverse DCT.
        img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
      img.load()
    except Image.DecompressionBombError as e:
      raise _Rejection(f"too_many_pixels: {e}")
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error,
            Image.DecompressionBombWarning) as e:
      message = str(e)
      if "truncated" in message or "broken data stream" in message:
        raise _Rejection(f"truncated: {message}")
      raise _Rejection(f"corrupt: {message}")

  if keep_original:
    record.outcome, record.encoded = INGESTED, data
    record.width, record.height = width, height
    return record
  notes = []
  if frames > 1:
    notes.append(f"animated: first frame of {frames}")
  if orientation not in (None, 1):
    img = ImageOps.exif_transpose(img)
    notes.append(f"exif_orientation {orientation} applied")
  rgb, mode_note = _to_rgb(img, tuple(options.background_color))
  if mode_note:
    notes.append(mode_note)
  if record.format not in ("JPEG", "PNG"):
    notes.append(f"{record.format} re-encoded")

  record.width, record.height = rgb.size
  # Lossless: a JPEG re-encode (chroma subsampling, quantisation) would move the stored
  # pixels away from what the serving graph decodes from the original file.
  out = io.BytesIO()
  rgb.save(out, format="PNG")
  record.outcome, record.reason, record.encoded = NORMALISED, "; ".join(notes), out.getvalue()
  return record


def _exif_near_start(data: bytes) -> bool:
  """Whether an Exif APP1 segment starts within EXIF_SEARCH_BYTES, where serving reads it."""
  head = data[:EXIF_SEARCH_BYTES]
  at = head.find(b"Exif\0\0")
  while at != -1:
    if at >= 4 and head[at - 4:at - 2] == b"\xff\xe1":
      return True
    at = head.find(b"Exif\0\0", at + 1)
  return False


def _check_servable(img: Image.Image, data: bytes) -> None:
  """Rejects what the serving graph cannot decode to the pixels stored here."""
  fmt = img.format
  if fmt not in SERVABLE_FORMATS:
    raise _Rejection(
        f"not_servable: {fmt} cannot be decoded by the serving signature (it decodes "
        f"{', '.join(SERVABLE_FORMATS)}); convert the file to PNG or JPEG")
  if fmt == "GIF" and "transparency" in img.info:
    transparent = img.info["transparency"]
    if isinstance(transparent, int) and np.any(np.asarray(img) == transparent):
      raise _Rejection(
          "not_servable: GIF with transparent pixels (TensorFlow's GIF decoder cannot "
          "composite them onto the background); convert the file to PNG")
  if fmt == "BMP":
    bits = int.from_bytes(data[28:30], "little") if len(data) >= 34 else 0
    compression = int.from_bytes(data[30:34], "little") if len(data) >= 34 else -1
    servable = (bits in (24, 32) and compression == 0 and img.mode == "RGB") or (
        bits == 8 and compression == 0 and img.mode == "L")
    if not servable:
      raise _Rejection(
          f"not_servable: {bits}-bit BMP in mode {img.mode} (the serving signature decodes "
          "uncompressed 24/32-bit colour and 8-bit grayscale BMP); convert the file to PNG")


def _to_rgb(img: Image.Image, background) -> Tuple[Image.Image, str]:
  """Returns an RGB image and a note saying what conversion was needed ('' for none)."""
  mode = img.mode
  if mode == "RGB":
    return img, ""
  if mode == "L":
    return img.convert("RGB"), ""
  has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
      mode == "P" and "transparency" in img.info)
  if has_alpha:
    rgba = img.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB"), f"mode {mode} composited onto background {tuple(background)}"
  if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
    pixels = np.asarray(img, dtype=np.float64)
    if mode.startswith("I;16"):
      top = 65535.0
    else:
      top = float(pixels.max()) if pixels.size else 1.0
      top = 255.0 if top <= 255.0 else (65535.0 if top <= 65535.0 else top)
    gray = np.clip(pixels * (255.0 / top), 0, 255).round().astype(np.uint8)
    return Image.fromarray(gray, "L").convert("RGB"), f"mode {mode} rescaled to 8-bit"
  return img.convert("RGB"), f"mode {mode} converted to RGB"


def walk_data_root(root: str) -> walk.WalkResult:
  return walk.walk_data_root(root, ImageRecord)


def check_data_root(root: str) -> walk.WalkResult:
  return walk.check_data_root(root, "image", ImageRecord)


content_fingerprint = walk.content_fingerprint


class ImageIngest(IngestTask):
  """The image half of ingestion: raw bytes are the content key; the first file of each
  content is decoded once (read again, so the shuffle carries paths, not pixels)."""
  name = "ImageExampleGen"
  record_type = ImageRecord
  task = "image"

  def decide(self, record: ImageRecord, options) -> ImageRecord:
    expected = record.sha256
    data = read_file(record, options)
    if data is not None and record.sha256 != expected:
      return records.changed_since_listing(record)
    if data is not None:
      decode_file(record, data, options)
    return record

  def example_features(self, record: ImageRecord) -> dict:
    return {"image": record.encoded, "height": record.height, "width": record.width}

  def profile(self, kept_rows: List[dict]) -> dict:
    """Format mix and median size of the kept images."""
    return {"distributions": {"format": report.distribution(r["format"] for r in kept_rows)},
            "medians": {"width": report.median(kept_rows, "width"),
                        "height": report.median(kept_rows, "height")}}
