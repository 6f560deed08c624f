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


def class_folder_dataset(root, classes=("cat", "dog"), per_class=6, size=(40, 40), fmt="PNG"):
  """`root/<class>/<n>.png` with distinct images; returns the list of paths written."""
  paths = []
  for c, name in enumerate(classes):
    for i in range(per_class):
      ext = "jpg" if fmt == "JPEG" else fmt.lower()
      paths.append(save(pattern(*size, seed=1000 * c + i),
                        os.path.join(root, name, f"{i:03d}.{ext}"), fmt))
  return paths
