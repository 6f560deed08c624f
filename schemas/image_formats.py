"""The image serving contract, shared by ingestion (components/image_example_gen) and the
graph decoder (trainer/image/image_decoding.py) without either importing the other: which bytes
serving_default decodes to the pixels ingestion stores, and the error for those it refuses.
Pure Python on the bytes (no Pillow, no TensorFlow), so both sides apply one rule.
"""

from typing import Optional, Tuple

# What a client may send to the serving signature: trainer/image/image_decoding.py decodes these
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


def serving_message(subject: str, stored_as_png: bool = True) -> str:
  """The serving signature's error for bytes it refuses; `subject` names what they are."""
  # No quote marks: TensorFlow's Assert escapes them in the error it raises.
  return (f"{subject} cannot be decoded by the serving signature (it accepts "
          f"{SERVING_ACCEPTS}); send PNG or JPEG instead"
          + (" (ingestion stores such files as PNG)" if stored_as_png else ""))


def serving_refusal(data: bytes) -> Optional[Tuple[Optional[str], str]]:
  """(what the bytes are, the serving signature's error) for bytes that serving_default
  refuses; None for bytes it decodes to the pixels ingestion stores from them.

  Decided on the bytes alone, so that trainer/image/image_decoding.py can apply the same rule in
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
