"""What ImageExampleGen does with each file the shared walk (components/ingest) finds:
decode each distinct content once with Pillow and decide whether it is ingested, normalised
or rejected.

Outcomes (the ingest report's contract, components/ingest/records.py):
  ingested    the original bytes are stored unchanged (an RGB or grayscale JPEG/PNG);
  normalised  the image was decoded and re-encoded as PNG (EXIF rotation, mode conversion,
              first frame of an animation, or a file the serving signature refuses as sent:
              WEBP, TIFF, GIF with transparency, palette or compressed BMP; the reason then
              says that a client must send it as PNG or JPEG);
  rejected    the file is not a usable image; `reason` says why;
  skipped     never opened (see components/ingest/walk.py) or duplicate content.

`serving_refusal` is the rule, on the file's bytes, for what the serving signature refuses;
trainer/image/image_decoding.py applies the same rule in the graph and raises its message.
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
# The formats serving accepts and its refusal rule are the serving contract, shared with the
# graph decoder (trainer/image/image_decoding.py) through schemas/image_formats.py.
from schemas.image_formats import (  # pylint: disable=unused-import
    BMP_MAGIC, EXIF_SEARCH_BYTES, GIF_MAGICS, GIF_MAX_BLOCKS, JPEG_MAGIC, PNG_MAGIC,
    SEND_AS_PNG, SERVING_ACCEPTS, SERVING_NOTE, TIFF_MAGICS, _bmp_refusal, gif_first_frame,
    serving_message, serving_refusal)
_EXIF_ORIENTATION = 0x0112
# MPO is the multi-picture JPEG that phones write.
_JPEG_FORMATS = ("JPEG", "MPO")
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
    refusal = serving_refusal(data)
    try:
      frames = getattr(img, "n_frames", 1)
      # A JPEG's orientation is applied as the serving graph reads it (from the APP1 segment
      # near the start), PNG's rarely used eXIf chunk is ignored by both; a file serving
      # refuses (WEBP, TIFF) is turned upright as a person sees it.
      orientation = (img.getexif().get(_EXIF_ORIENTATION, 1)
                     if refusal or (record.format in _JPEG_FORMATS and _exif_near_start(data))
                     else 1)
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
  if refusal:
    # First, so that the report counts these under one reason: what a client must convert.
    notes.append(f"{SEND_AS_PNG}: {refusal[0] or record.format} re-encoded as PNG (serving "
                 f"accepts {SERVING_ACCEPTS}: a client must send this image as PNG or JPEG)")
  if frames > 1:
    notes.append(f"animated: first frame of {frames}")
  if orientation not in (None, 1):
    img = ImageOps.exif_transpose(img)
    notes.append(f"exif_orientation {orientation} applied")
  rgb, mode_note = _to_rgb(img, tuple(options.background_color))
  if mode_note:
    notes.append(mode_note)
  if not refusal and record.format not in ("JPEG", "PNG"):
    notes.append(f"{record.format} re-encoded as PNG")

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
    """Format mix and median size of the kept images, and the report's note on what a
    client may send to serving."""
    return {"distributions": {"format": report.distribution(r["format"] for r in kept_rows)},
            "medians": {"width": report.median(kept_rows, "width"),
                        "height": report.median(kept_rows, "height")},
            report.NOTES_KEY: [SERVING_NOTE]}
