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


def webp_file(path, seed=0):
  return save(pattern(seed=seed), path, "WEBP", lossless=True)


def tiff_file(path, seed=0):
  return save(pattern(seed=seed), path, "TIFF")


def transparent_gif(path, seed=0):
  image = pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16)
  return save(image, path, "GIF", transparency=0)


def palette_bmp(path, seed=0):
  return save(pattern(seed=seed).convert("P", palette=Image.ADAPTIVE, colors=16), path, "BMP")


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
}

# Cases the serving signature cannot decode to the same pixels: ingestion rejects them.
NOT_SERVABLE_CASES = {
    "webp": lambda p: webp_file(p + ".webp"),
    "tiff": lambda p: tiff_file(p + ".tif"),
    "transparent_gif": lambda p: transparent_gif(p + ".gif"),
    "palette_bmp": lambda p: palette_bmp(p + ".bmp"),
}
