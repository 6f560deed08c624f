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
trainer/image_decoding.py applies the same rule in the graph and raises its message.
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
# MPO is the multi-picture JPEG that phones write.
_JPEG_FORMATS = ("JPEG", "MPO")
# What a client may send to the serving signature: trainer/image_decoding.py decodes these
# bytes to the pixels stored here (train/serve parity) and refuses anything else.
SERVING_ACCEPTS = ("JPEG, PNG, GIF without transparency, and uncompressed 24/32-bit colour "
                   "or 8-bit grayscale BMP")
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIF_MAGICS = (b"GIF87a", b"GIF89a")
BMP_MAGIC = b"BM"
TIFF_MAGICS = (b"II*\0", b"MM\0*")
# Blocks (extensions and their sub-blocks) read before a GIF's first frame to find whether
# it has transparency; a GIF whose first frame lies further in is refused by both sides.
GIF_MAX_BLOCKS = 1024
# The reason of a file stored as PNG because serving refuses it as sent.
SEND_AS_PNG = "send_as_png"
SERVING_NOTE = (f"Formats a client may send to serving_default: {SERVING_ACCEPTS}. Serving "
                "refuses anything else (WEBP, TIFF, ...) with an error naming the format; "
                f"files stored as PNG for that reason are listed under `{SEND_AS_PNG}`, and "
                "a client must send them as PNG or JPEG.")
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


def serving_message(subject: str, stored_as_png: bool = True) -> str:
  """The serving signature's error for bytes it refuses; `subject` names what they are."""
  # No quote marks: TensorFlow's Assert escapes them in the error it raises.
  return (f"{subject} cannot be decoded by the serving signature (it accepts "
          f"{SERVING_ACCEPTS}); send PNG or JPEG instead"
          + (" (ingestion stores such files as PNG)" if stored_as_png else ""))


def serving_refusal(data: bytes) -> Optional[Tuple[Optional[str], str]]:
  """(what the bytes are, the serving signature's error) for bytes that serving_default
  refuses; None for bytes it decodes to the pixels ingestion stores from them.

  Decided on the bytes alone, so that trainer/image_decoding.py can apply the same rule in
  the graph: the magic, a BMP's header and palette, a GIF's blocks before its first frame.
  `what` is None for a format the graph does not name (say what Pillow calls it).
  """
  if data.startswith(JPEG_MAGIC) or data.startswith(PNG_MAGIC):
    return None
  if data[:6] in GIF_MAGICS:
    found = gif_first_frame(data)
    if found == "transparent":
      return "GIF with transparency", serving_message("GIF images with transparency")
    if found == "not_found":
      return (f"GIF with its first frame beyond {GIF_MAX_BLOCKS} blocks", serving_message(
          f"GIF images whose first frame is not within {GIF_MAX_BLOCKS} blocks"))
    return None
  if data.startswith(BMP_MAGIC):
    return _bmp_refusal(data)
  if not data:
    return "empty", serving_message("Empty image bytes", stored_as_png=False)
  if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
    return "WEBP", serving_message("WEBP images")
  if data[:4] in TIFF_MAGICS:
    return "TIFF", serving_message("TIFF images")
  if data[4:8] == b"ftyp":
    return "HEIF/AVIF", serving_message("HEIF/AVIF images", stored_as_png=False)
  return None, serving_message("Images that are not JPEG, PNG, GIF or BMP",
                               stored_as_png=False)


def gif_first_frame(data: bytes) -> str:
  """'opaque' or 'transparent' (a Graphic Control Extension before the first image
  descriptor sets the transparency flag, as Pillow reads it), or 'not_found' within
  GIF_MAX_BLOCKS blocks. Bytes between blocks are skipped one by one, as Pillow does."""
  packed = data[10] if len(data) > 10 else 0
  pos = 13 + ((3 << ((packed & 7) + 1)) if packed & 0x80 else 0)   # after the colour table
  in_sub_blocks = False
  for _ in range(GIF_MAX_BLOCKS):
    if pos >= len(data):
      return "not_found"
    byte = data[pos]
    if in_sub_blocks:
      pos, in_sub_blocks = pos + byte + 1, byte != 0
    elif byte == 0x2C:
      return "opaque"
    elif byte == 0x21:
      if data[pos + 1:pos + 2] == b"\xf9" and len(data) > pos + 3 and data[pos + 3] & 1:
        return "transparent"
      pos, in_sub_blocks = pos + 2, True
    else:
      pos += 1
  return "not_found"


def _bmp_refusal(data: bytes) -> Optional[Tuple[str, str]]:
  """What TensorFlow's BMP decoder reads as Pillow does: a BITMAPINFOHEADER (or later),
  uncompressed, 24/32-bit, or 8-bit with the identity grayscale palette (Pillow's mode L;
  TensorFlow ignores the palette and returns the indices)."""
  def uint(at, size):
    return int.from_bytes(data[at:at + size].ljust(size, b"\0"), "little")

  header, bits, compression = uint(14, 4), uint(28, 2), uint(30, 4)
  if header < 40:
    return "OS/2 BMP", serving_message("BMP images with an OS/2 header")
  if compression != 0:
    return "compressed BMP", serving_message("Compressed (RLE or bitfield) BMP images")
  if bits in (24, 32):
    return None
  if bits != 8:
    return f"{bits}-bit BMP", serving_message(f"{bits}-bit BMP images")
  colors = uint(46, 4) or 256
  palette = data[14 + header:14 + header + 4 * min(colors, 256)].ljust(4 * 256, b"\0")
  grayscale = 2 < colors <= 256 and all(
      palette[4 * i:4 * i + 3] == bytes((i, i, i)) for i in range(colors))
  return None if grayscale else ("palette BMP",
                                 serving_message("BMP images with a colour palette"))


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
