"""What ImageExampleGen does with each file it finds: walk the data root safely, then decode
each candidate once with Pillow and decide whether it is ingested, normalised or rejected.

Outcomes (the ingest report's contract):
  ingested    the original bytes are stored unchanged (an RGB or grayscale JPEG/PNG);
  normalised  the image was decoded and re-encoded (EXIF rotation, mode conversion, first
              frame of an animation, a format TensorFlow does not decode well);
  rejected    the file is not a usable image, or one the serving signature could not decode
              the same way (`not_servable`); `reason` says why;
  skipped     the file was never opened as an image (hidden, system file, symlink leaving
              the data root, not a regular file, duplicate content).
"""

import dataclasses
import hashlib
import io
import os
import stat
import unicodedata
import warnings
import zlib
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import pipeline_config

INGESTED = "ingested"
NORMALISED = "normalised"
REJECTED = "rejected"
SKIPPED = "skipped"
OUTCOMES = (INGESTED, NORMALISED, REJECTED, SKIPPED)

SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
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
class FileRecord:
  """One file found under the data root, and what became of it."""
  path: str                     # relative to the data root, '/'-separated
  outcome: str = ""
  reason: str = ""
  class_name: Optional[str] = None
  split: Optional[str] = None
  sha256: Optional[str] = None
  label: Optional[int] = None
  height: Optional[int] = None
  width: Optional[int] = None
  format: Optional[str] = None
  mode: Optional[str] = None
  # Absolute path to read (a symlink inside the root is resolved); never in the report.
  source: Optional[str] = None
  encoded: Optional[bytes] = None

  def report_row(self) -> dict:
    row = dataclasses.asdict(self)
    row["class"] = row.pop("class_name")
    del row["source"], row["encoded"]
    return row


@dataclasses.dataclass
class WalkResult:
  class_names: List[str]
  candidates: List[FileRecord]   # to be decoded
  skipped: List[FileRecord]      # already decided


def _is_hidden(part: str) -> bool:
  return part.startswith(".")


def walk_data_root(root: str) -> WalkResult:
  """Lists every file under `root` (sorted), deciding the ones that are never opened.

  Class folders are the non-hidden directories directly under `root`; their names are
  normalised to Unicode NFC so the same name typed on macOS and Linux is one class.
  Symlinks (to files or folders) are followed only when their real path lies inside the data
  root; a symlinked folder that would loop back into itself is listed and not entered. A
  folder that cannot be read gets a row of its own, so nothing disappears from the count.
  Files that are not regular files (FIFOs, sockets, devices) are listed and never opened.
  """
  real_root = os.path.realpath(root)
  class_names = set()
  candidates, skipped = [], []

  def inside_root(real: str) -> bool:
    return os.path.commonpath([real_root, real]) == real_root

  def class_of(rel: str) -> Optional[str]:
    parts = rel.split("/")
    return unicodedata.normalize("NFC", parts[0]) if len(parts) > 1 else None

  def skip(rel, reason, class_name=None):
    skipped.append(FileRecord(path=rel, outcome=SKIPPED, reason=reason, class_name=class_name))

  def visit_folder(full: str, rel_dir: str, open_folders: frozenset) -> None:
    try:
      with os.scandir(full) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    except OSError as e:
      skip(rel_dir or ".", f"unreadable_folder: {e.strerror or e}",
           class_of(rel_dir + "/") if rel_dir else None)
      return
    for entry in entries:
      rel = _join(rel_dir, entry.name)
      try:
        is_dir = entry.is_dir(follow_symlinks=True)
      except OSError:
        is_dir = False
      if is_dir:
        visit_subfolder(entry, rel, open_folders)
      else:
        visit_file(entry, rel)

  def visit_subfolder(entry: os.DirEntry, rel: str, open_folders: frozenset) -> None:
    real = os.path.realpath(entry.path)
    if entry.is_symlink():
      if not inside_root(real):
        skip(rel, "symlink_outside_root", class_of(rel))
        return
      if real in open_folders:
        skip(rel, "symlink_loop: links back to a folder that contains it", class_of(rel))
        return
    if "/" not in rel and not _is_hidden(entry.name):
      class_names.add(unicodedata.normalize("NFC", entry.name))
    visit_folder(entry.path, rel, open_folders | {real})

  def visit_file(entry: os.DirEntry, rel: str) -> None:
    class_name = class_of(rel)
    if any(_is_hidden(p) for p in rel.split("/")):
      skip(rel, "hidden_file", class_name)
      return
    if entry.name.lower() in SYSTEM_FILES:
      skip(rel, "system_file", class_name)
      return
    if class_name is None:
      skip(rel, "not_in_class_folder")
      return
    source = entry.path
    if entry.is_symlink():
      target = os.path.realpath(entry.path)
      if not inside_root(target):
        skip(rel, "symlink_outside_root", class_name)
        return
      source = target
    try:
      mode = os.stat(source).st_mode
    except OSError as e:
      skip(rel, f"unreadable: {e.strerror}", class_name)
      return
    if not stat.S_ISREG(mode):
      skip(rel, "not_a_regular_file", class_name)
      return
    candidates.append(FileRecord(path=rel, class_name=class_name, source=source))

  visit_folder(root, "", frozenset({real_root}))
  return WalkResult(sorted(class_names), candidates, skipped)


def check_data_root(root: str) -> WalkResult:
  """Walks `root`, raising ToolkitError when there is nothing a pipeline could learn from."""
  if not os.path.isdir(root):
    raise pipeline_config.ToolkitError(
        f"Data root {root} does not exist or is not a directory. Pass --data-root pointing to "
        "a folder with one subfolder per class (<root>/<class>/<image files>), or create a "
        "demo set with 'python -m pipeline demo-data --task image --output DIR'.")
  walk = walk_data_root(root)
  if not walk.class_names:
    raise pipeline_config.ToolkitError(
        f"Data root {root} has no class folders. Put the images in one subfolder per class "
        "(<root>/<class>/<image files>); the sorted folder names become the labels.")
  return walk


def _join(rel_dir: str, name: str) -> str:
  return f"{rel_dir}/{name}" if rel_dir else name


def content_fingerprint(root: str) -> str:
  """A digest of every file's relative path and content under `root` (cache key)."""
  digest = hashlib.sha256()
  walk = walk_data_root(root)
  for record in sorted(walk.candidates + walk.skipped, key=lambda r: r.path):
    digest.update(record.path.encode("utf-8") + b"\0" + record.reason.encode() + b"\0")
    if record.source:
      digest.update(_file_sha256(record.source).encode())
  return digest.hexdigest()


def _file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def split_for(sha256: str, split_percentages) -> str:
  """The split an image lands in, decided by its content hash alone (stable across runs)."""
  bucket = int(sha256[:8], 16) % 100
  upper = 0
  for name, percent in split_percentages:
    upper += percent
    if bucket < upper:
      return name
  return split_percentages[-1][0]


def inspect_file(record: FileRecord, options) -> FileRecord:
  """Reads `record.source` once and fills in outcome, reason, sha256 and the encoded image.

  `options` is an IngestConfig. Never raises for a bad file: the reason is recorded.
  """
  data = read_file(record, options)
  return record if data is None else decode_file(record, data, options)


def read_file(record: FileRecord, options) -> Optional[bytes]:
  """The file's bytes with `record.sha256` set, or None with the record rejected."""
  try:
    size = os.path.getsize(record.source)
    if size == 0:
      reject(record, "empty_file")
      return None
    if size > options.max_file_bytes:
      reject(record, f"file_too_large: {size} bytes > {options.max_file_bytes}")
      return None
    with open(record.source, "rb") as f:
      data = f.read()
  except OSError as e:
    reject(record, f"unreadable: {e.strerror or e}")
    return None
  record.sha256 = hashlib.sha256(data).hexdigest()
  return data


def decode_file(record: FileRecord, data: bytes, options) -> FileRecord:
  """Decodes `data` (the bytes of `record`) and decides ingested, normalised or rejected."""
  try:
    return _decode(record, data, options)
  except _Rejection as r:
    return reject(record, str(r))


class _Rejection(Exception):
  pass


def reject(record: FileRecord, reason: str) -> FileRecord:
  record.outcome, record.reason = REJECTED, reason
  return record


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
