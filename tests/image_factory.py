"""Creates image files, good and bad, on the fly in temporary folders (no binary blobs)."""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image


def pattern(width=48, height=32, seed=0, mode="RGB"):
  """A deterministic, non-symmetric test image (distinct per seed)."""
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
  pixels[: height // 2, : width // 3] = (255, 0, 0)   # a red block, top left
  image = Image.fromarray(pixels, "RGB")
  return image if mode == "RGB" else image.convert(mode)


def save(image, path, fmt=None, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, format=fmt, **kwargs)
  return path


def write_bytes(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)
  return path


def encoded(image, fmt="PNG", **kwargs):
  out = io.BytesIO()
  image.save(out, format=fmt, **kwargs)
  return out.getvalue()


def exif_rotated_jpeg(path, orientation=6, seed=0):
  image = pattern(48, 32, seed)
  exif = Image.Exif()
  exif[0x0112] = orientation
  return save(image, path, "JPEG", exif=exif.tobytes(), quality=95)


def cmyk_jpeg(path, seed=0):
  return save(pattern(seed=seed).convert("CMYK"), path, "JPEG")


def palette_png(path, transparent=False, seed=0):
  image = pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16)
  if transparent:
    return save(image, path, "PNG", transparency=0)
  return save(image, path, "PNG")


def rgba_png(path, seed=0):
  image = pattern(seed=seed).convert("RGBA")
  alpha = np.zeros((image.height, image.width), dtype=np.uint8)
  alpha[:, image.width // 2:] = 255   # left half fully transparent
  image.putalpha(Image.fromarray(alpha, "L"))
  return save(image, path, "PNG")


def la_png(path, seed=0):
  return save(pattern(seed=seed).convert("LA"), path, "PNG")


def gray16_png(path, value=65535):
  pixels = np.full((32, 32), value, dtype=np.uint16)
  pixels[:16] = value // 2
  return save(Image.fromarray(pixels, "I;16"), path, "PNG")


def animated_gif(path, frames=3, seed=0):
  images = [pattern(seed=seed + i).convert("P") for i in range(frames)]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=100)
  return path


def truncated_jpeg(path, seed=0):
  data = encoded(pattern(64, 64, seed), "JPEG", quality=95)
  return write_bytes(path, data[: len(data) // 2])


def eps_file(path):
  return write_bytes(path, b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
                           b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")


def huge_png(path, width=20000, height=20000):
  """A 1-bit PNG of width x height that is small on disk (a decompression bomb)."""
  def chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
  row = b"\0" + b"\0" * ((width + 7) // 8)
  compressor = zlib.compressobj(9)
  data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
  png = (b"\x89PNG\r\n\x1a\n"
         + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
         + chunk(b"IDAT", data) + chunk(b"IEND", b""))
  return write_bytes(path, png)


def class_folder_dataset(root, classes=("cat", "dog"), per_class=6, size=(40, 40), fmt="PNG",
                         offset=0):
  """`root/<class>/<n>.png` with distinct images (another `offset`, other images); returns
  the list of paths written."""
  paths = []
  for c, name in enumerate(classes):
    for i in range(per_class):
      ext = "jpg" if fmt == "JPEG" else fmt.lower()
      paths.append(save(pattern(*size, seed=1000 * c + i + offset),
                        os.path.join(root, name, f"{i:03d}.{ext}"), fmt))
  return paths


def webp_file(path, seed=0, **kwargs):
  return save(pattern(seed=seed), path, "WEBP", lossless=True, **kwargs)


def rgba_webp(path, seed=0):
  image = pattern(seed=seed).convert("RGBA")
  alpha = np.full((image.height, image.width), 255, dtype=np.uint8)
  alpha[:, : image.width // 2] = 0             # left half fully transparent
  image.putalpha(Image.fromarray(alpha, "L"))
  return save(image, path, "WEBP", lossless=True)


def animated_webp(path, frames=3, seed=0):
  images = [pattern(seed=seed + i) for i in range(frames)]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], lossless=True,
                 duration=100)
  return path


def exif_rotated_webp(path, orientation=6, seed=0):
  exif = Image.Exif()
  exif[0x0112] = orientation
  return webp_file(path, seed, exif=exif.tobytes())


def tiff_file(path, seed=0):
  return save(pattern(seed=seed), path, "TIFF")


def gray16_tiff(path, value=50000):
  pixels = np.full((32, 32), value, dtype=np.uint16)
  pixels[:16] = value // 2
  return save(Image.fromarray(pixels, "I;16"), path, "TIFF")


def multipage_tiff(path, pages=2, seed=0):
  images = [pattern(seed=seed + i) for i in range(pages)]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  images[0].save(path, format="TIFF", save_all=True, append_images=images[1:])
  return path


def transparent_gif(path, seed=0):
  image = pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16)
  return save(image, path, "GIF", transparency=0)


def gif_with_long_comment(path, seed=0, sub_blocks=1100):
  """A GIF whose first frame comes after more comment sub-blocks than serving reads."""
  return save(pattern(seed=seed).convert("P"), path, "GIF", comment=b"x" * 255 * sub_blocks)


def palette_bmp(path, seed=0):
  return save(pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16), path, "BMP")


def bmp_bytes(width, height, bits, rows, palette=b"", compression=0, colors=0):
  """A BMP with a BITMAPINFOHEADER around `rows` (the pixel data, bottom row first)."""
  offset = 14 + 40 + len(palette)
  info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(rows),
                     2835, 2835, colors, 0)
  return (b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette
          + rows)


def _padded(row: bytes) -> bytes:
  return row + b"\0" * (-len(row) % 4)


def _palette_of(image):
  rgb = image.getpalette()[: 3 * 256]
  return b"".join(bytes((rgb[i + 2], rgb[i + 1], rgb[i], 0)) for i in range(0, len(rgb), 3))


def rle8_bmp(path, seed=0):
  """An 8-bit run-length encoded BMP (Pillow reads it; TensorFlow does not)."""
  image = pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16)
  indices = np.asarray(image)
  rows = b"".join(b"".join(bytes((1, int(i))) for i in row) + b"\0\0"
                  for row in indices[::-1]) + b"\0\1"
  return write_bytes(path, bmp_bytes(image.width, image.height, 8, rows, _palette_of(image),
                                     compression=1, colors=256))


def bmp_16bit(path, seed=0):
  """A 16-bit (5-5-5) BMP."""
  pixels = np.asarray(pattern(seed=seed)).astype(np.uint16) >> 3
  words = (pixels[..., 0] << 10) | (pixels[..., 1] << 5) | pixels[..., 2]
  rows = b"".join(_padded(row.astype("<u2").tobytes()) for row in words[::-1])
  return write_bytes(path, bmp_bytes(words.shape[1], words.shape[0], 16, rows))


def bmp_1bit(path, seed=0):
  return save(pattern(seed=seed).convert("1"), path, "BMP")


def os2_bmp(path, seed=0):
  """A 24-bit BMP with the 12-byte OS/2 BITMAPCOREHEADER."""
  pixels = np.asarray(pattern(seed=seed))
  rows = b"".join(_padded(row[:, ::-1].tobytes()) for row in pixels[::-1])
  core = struct.pack("<IHHHH", 12, pixels.shape[1], pixels.shape[0], 1, 24)
  return write_bytes(path, b"BM" + struct.pack("<IHHI", 26 + len(rows), 0, 0, 26) + core
                     + rows)


def gray_bmp_16_colours(path):
  """An 8-bit BMP whose 16-entry palette is the identity grayscale (Pillow's mode L)."""
  indices = (np.asarray(pattern(mode="L")) >> 4).astype(np.uint8)
  palette = b"".join(bytes((i, i, i, 0)) for i in range(16))
  rows = b"".join(_padded(row.tobytes()) for row in indices[::-1])
  return write_bytes(path, bmp_bytes(indices.shape[1], indices.shape[0], 8, rows, palette,
                                     colors=16))


def rgba_icon(path, seed=0, size=48):
  """An icon-like RGBA PNG: an opaque shape with soft (partly transparent) edges."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:size, :size]
  radius = size * (0.25 + 0.15 * rng.random())
  distance = np.hypot(yy - size / 2, xx - size / 2)
  alpha = np.clip((radius - distance) * 64, 0, 255).astype(np.uint8)
  colour = rng.integers(0, 256, 3)
  rgb = np.broadcast_to(colour, (size, size, 3)).astype(np.uint8).copy()
  rgb[::4] = 255 - rgb[::4]        # stripes, so the content is not flat
  rgba = np.dstack([rgb, alpha])
  return save(Image.fromarray(rgba, "RGBA"), path, "PNG")


# Every case ingestion normalises (decodes and re-encodes), by name: the parity tests send
# the original bytes and the stored bytes of each through the serving decoder.
NORMALISE_CASES = {
    **{f"exif_orientation_{o}": (lambda p, o=o: exif_rotated_jpeg(p + ".jpg", orientation=o))
       for o in range(2, 9)},
    "cmyk_jpeg": lambda p: cmyk_jpeg(p + ".jpg"),
    "palette_png": lambda p: palette_png(p + ".png"),
    "palette_png_transparent": lambda p: palette_png(p + ".png", transparent=True),
    "la_png": lambda p: la_png(p + ".png"),
    "rgba_png": lambda p: rgba_png(p + ".png"),
    "rgba_icon": lambda p: rgba_icon(p + ".png"),
    "gray16_png": lambda p: gray16_png(p + ".png", value=50000),
    "animated_gif": lambda p: animated_gif(p + ".gif"),
    "gif": lambda p: save(pattern().convert("P"), p + ".gif", "GIF"),
    "bmp_24": lambda p: save(pattern(), p + ".bmp", "BMP"),
    "bmp_32": lambda p: save(pattern().convert("RGBA"), p + ".bmp", "BMP"),
    "bmp_gray": lambda p: save(pattern(mode="L"), p + ".bmp", "BMP"),
    "bmp_gray_16_colours": lambda p: gray_bmp_16_colours(p + ".bmp"),
}

# Cases the serving signature refuses as sent (it could not decode them to the pixels
# ingestion stores): ingestion normalises them to PNG, and serving raises an error naming
# them. Name -> (maker, the start of serving's message).
NOT_SERVABLE_CASES = {
    "webp": (lambda p: webp_file(p + ".webp"), "WEBP images"),
    "webp_rgba": (lambda p: rgba_webp(p + ".webp"), "WEBP images"),
    "webp_animated": (lambda p: animated_webp(p + ".webp"), "WEBP images"),
    "webp_exif_orientation_6": (lambda p: exif_rotated_webp(p + ".webp"), "WEBP images"),
    "tiff": (lambda p: tiff_file(p + ".tif"), "TIFF images"),
    "tiff_gray16": (lambda p: gray16_tiff(p + ".tif"), "TIFF images"),
    "tiff_multipage": (lambda p: multipage_tiff(p + ".tif"), "TIFF images"),
    "transparent_gif": (lambda p: transparent_gif(p + ".gif"), "GIF images with transparency"),
    "gif_long_comment": (lambda p: gif_with_long_comment(p + ".gif"),
                         "GIF images whose first frame is not within"),
    "palette_bmp": (lambda p: palette_bmp(p + ".bmp"), "BMP images with a colour palette"),
    "bmp_1bit": (lambda p: bmp_1bit(p + ".bmp"), "1-bit BMP images"),
    "bmp_16bit": (lambda p: bmp_16bit(p + ".bmp"), "16-bit BMP images"),
    "bmp_rle8": (lambda p: rle8_bmp(p + ".bmp"), "Compressed (RLE or bitfield) BMP images"),
    "bmp_os2": (lambda p: os2_bmp(p + ".bmp"), "BMP images with an OS/2 header"),
}
