"""Every messy-folder case gets its outcome and reason (no TensorFlow needed)."""

import os
import resource
import shutil
import unicodedata

import numpy as np
import pytest
from PIL import Image

import pipeline_config
from components.image_example_gen import image_checks
from components.ingest import walk as ingest_walk
from components.image_example_gen.image_checks import FileRecord
from tests import image_factory

OPTIONS = pipeline_config.IngestConfig()


def inspect(path, options=OPTIONS):
  return image_checks.inspect_file(FileRecord(path=os.path.basename(path), source=path),
                                   options)


def decode(record):
  import io  # pylint: disable=import-outside-toplevel
  return Image.open(io.BytesIO(record.encoded))


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png")])
def test_rgb_jpeg_and_png_are_ingested_byte_for_byte(tmp_path, fmt, ext):
  path = image_factory.save(image_factory.pattern(), str(tmp_path / f"a.{ext}"), fmt)
  record = inspect(path)
  assert (record.outcome, record.reason) == ("ingested", "")
  with open(path, "rb") as f:
    assert record.encoded == f.read()
  assert (record.width, record.height, record.format) == (48, 32, fmt)


def test_grayscale_is_ingested(tmp_path):
  path = image_factory.save(image_factory.pattern(mode="L"), str(tmp_path / "g.png"), "PNG")
  assert inspect(path).outcome == "ingested"


def test_exif_rotation_is_applied(tmp_path):
  record = inspect(image_factory.exif_rotated_jpeg(str(tmp_path / "r.jpg"), orientation=6))
  assert record.outcome == "normalised"
  assert "exif_orientation 6" in record.reason
  image = decode(record)
  assert image.size == (32, 48) and (record.width, record.height) == (32, 48)
  # Orientation 6 rotates 90 degrees clockwise: the red top-left block ends top-right.
  pixels = np.asarray(image.convert("RGB")).astype(int)
  assert pixels[2, -3, 0] > 200 and pixels[2, -3, 1] < 60
  assert not 0x0112 in image.getexif()


def test_cmyk_is_converted(tmp_path):
  record = inspect(image_factory.cmyk_jpeg(str(tmp_path / "c.jpg")))
  assert record.outcome == "normalised" and "mode CMYK converted to RGB" in record.reason
  assert decode(record).mode == "RGB"


@pytest.mark.parametrize("transparent,expected", [
    (False, "mode P converted to RGB"), (True, "mode P composited onto background")])
def test_palette_images(tmp_path, transparent, expected):
  record = inspect(image_factory.palette_png(str(tmp_path / "p.png"), transparent))
  assert record.outcome == "normalised" and expected in record.reason
  assert decode(record).mode == "RGB"


def test_rgba_is_composited_onto_the_configured_background(tmp_path):
  options = pipeline_config.IngestConfig(background_color=(0, 255, 0))
  record = inspect(image_factory.rgba_png(str(tmp_path / "a.png")), options)
  assert record.outcome == "normalised" and "mode RGBA composited" in record.reason
  pixels = np.asarray(decode(record))
  assert tuple(pixels[20, 2]) == (0, 255, 0)          # transparent half -> background
  assert tuple(pixels[20, 40]) != (0, 255, 0)


def test_la_is_composited(tmp_path):
  record = inspect(image_factory.la_png(str(tmp_path / "la.png")))
  assert record.outcome == "normalised" and "mode LA composited" in record.reason


def test_16_bit_is_rescaled_not_clipped(tmp_path):
  record = inspect(image_factory.gray16_png(str(tmp_path / "d.png"), value=60000))
  assert record.outcome == "normalised" and "rescaled to 8-bit" in record.reason
  pixels = np.asarray(decode(record))
  assert pixels[0, 0, 0] == round(30000 * 255 / 65535)    # not 255 (clipped)
  assert pixels[-1, 0, 0] == round(60000 * 255 / 65535)


def test_animated_gif_keeps_the_first_frame(tmp_path):
  record = inspect(image_factory.animated_gif(str(tmp_path / "a.gif"), frames=3))
  assert record.outcome == "normalised" and "animated: first frame of 3" in record.reason
  assert decode(record).format == "PNG"


@pytest.mark.parametrize("make,reason", [
    (lambda p: image_factory.write_bytes(p, b""), "empty_file"),
    (lambda p: image_factory.write_bytes(p, b"hello, I am text"), "not_an_image"),
    (lambda p: image_factory.write_bytes(p, os.urandom(2000)), "not_an_image"),
    (image_factory.truncated_jpeg, "truncated"),
    (image_factory.eps_file, "format_not_allowed: EPS"),
    (lambda p: image_factory.save(image_factory.pattern(4, 4), p, "PNG"), "too_small"),
])
def test_bad_files_are_rejected_with_a_reason(tmp_path, make, reason):
  record = inspect(make(str(tmp_path / "bad.jpg")))
  assert record.outcome == "rejected"
  assert record.reason.startswith(reason), record.reason
  assert record.encoded is None


def test_corrupt_png_body_is_rejected(tmp_path):
  data = bytearray(image_factory.encoded(image_factory.pattern(64, 64), "PNG"))
  data[100:400] = b"\x00" * 300
  record = inspect(image_factory.write_bytes(str(tmp_path / "x.png"), bytes(data)))
  assert record.outcome == "rejected"
  assert record.reason.split(":")[0] in ("corrupt", "truncated")


def test_format_outside_the_allowlist_is_rejected(tmp_path):
  path = image_factory.save(image_factory.pattern(), str(tmp_path / "a.bmp"), "BMP")
  options = pipeline_config.IngestConfig(allowed_formats=("JPEG", "PNG"))
  record = inspect(path, options)
  assert (record.outcome, record.reason.split(" (")[0]) == ("rejected",
                                                             "format_not_allowed: BMP")
  assert inspect(path).outcome == "normalised"   # BMP is in the default allowlist


def test_byte_size_limit(tmp_path):
  path = image_factory.save(image_factory.pattern(), str(tmp_path / "a.png"), "PNG")
  record = inspect(path, pipeline_config.IngestConfig(max_file_bytes=100))
  assert record.outcome == "rejected" and record.reason.startswith("file_too_large")


def test_decompression_bomb_is_rejected_from_the_header(tmp_path):
  path = image_factory.huge_png(str(tmp_path / "bomb.png"))
  assert os.path.getsize(path) < 1_000_000
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  record = inspect(path)
  grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
  assert record.outcome == "rejected" and record.reason.startswith("too_many_pixels")
  assert "20000x20000" in record.reason or "400000000" in record.reason
  assert grown_kib < 100_000   # decoding would need 400 MB


def test_pixel_limit_is_configurable_below_pillows_own(tmp_path):
  path = image_factory.save(image_factory.pattern(100, 100), str(tmp_path / "a.png"), "PNG")
  record = inspect(path, pipeline_config.IngestConfig(max_pixels=5000))
  assert record.outcome == "rejected" and "100x100 exceeds max_pixels=5000" in record.reason


def build_messy_root(root):
  """A folder with good images and every walk-level case; returns the outside file path."""
  image_factory.class_folder_dataset(root, classes=("cat", "dog"), per_class=3)
  outside = image_factory.save(image_factory.pattern(seed=77),
                               os.path.join(os.path.dirname(root), "outside.png"), "PNG")
  image_factory.write_bytes(os.path.join(root, "cat", ".DS_Store"), b"\0\0")
  image_factory.write_bytes(os.path.join(root, "cat", "._000.png"), b"\0\0")
  image_factory.save(image_factory.pattern(), os.path.join(root, "cat", ".hidden.png"), "PNG")
  image_factory.write_bytes(os.path.join(root, "dog", "Thumbs.db"), b"\0")
  image_factory.write_bytes(os.path.join(root, "dog", "desktop.ini"), b"[x]")
  image_factory.write_bytes(os.path.join(root, "README.txt"), b"top-level file")
  os.symlink(outside, os.path.join(root, "dog", "escape.png"))
  os.symlink(os.path.join(root, "cat", "000.png"), os.path.join(root, "dog", "inside.png"))
  os.mkfifo(os.path.join(root, "cat", "pipe.png"))
  os.symlink(os.path.dirname(root), os.path.join(root, "dog", "loop"))
  return outside


def test_walk_skips_and_lists_every_special_file(tmp_path):
  root = str(tmp_path / "data")
  build_messy_root(root)
  walk = image_checks.walk_data_root(root)
  skipped = {r.path: r.reason for r in walk.skipped}
  assert skipped == {
      "cat/.DS_Store": "hidden_file", "cat/._000.png": "hidden_file",
      "cat/.hidden.png": "hidden_file", "dog/Thumbs.db": "system_file",
      "dog/desktop.ini": "system_file", "README.txt": "not_in_class_folder",
      "dog/escape.png": "symlink_outside_root", "cat/pipe.png": "not_a_regular_file",
      "dog/loop": "symlink_outside_root"}
  candidates = {r.path: r.source for r in walk.candidates}
  assert candidates["dog/inside.png"] == os.path.realpath(os.path.join(root, "cat", "000.png"))
  assert len(candidates) == 7
  assert walk.class_names == ["cat", "dog"]


def test_symlink_outside_root_is_never_read(tmp_path):
  root = str(tmp_path / "data")
  outside = build_messy_root(root)
  os.chmod(outside, 0)   # reading it would fail loudly if anything tried
  before = os.stat(outside).st_atime
  walk = image_checks.walk_data_root(root)
  for record in walk.candidates:
    image_checks.inspect_file(record, OPTIONS)
  assert all(r.source != outside for r in walk.candidates)
  assert os.stat(outside).st_atime == before


def test_class_names_are_unicode_nfc(tmp_path):
  root = tmp_path / "data"
  nfd = unicodedata.normalize("NFD", "café")
  nfc = unicodedata.normalize("NFC", "café")
  assert nfd != nfc
  image_factory.save(image_factory.pattern(seed=1), str(root / nfd / "a.png"), "PNG")
  image_factory.save(image_factory.pattern(seed=2), str(root / nfc / "b.png"), "PNG")
  image_factory.save(image_factory.pattern(seed=3), str(root / "日本" / "c.png"), "PNG")
  walk = image_checks.walk_data_root(str(root))
  assert walk.class_names == sorted([nfc, "日本"])
  assert {r.class_name for r in walk.candidates} == {nfc, "日本"}


def test_symlinked_folder_inside_the_root_is_followed_and_a_loop_is_listed(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("cat", "dog"), per_class=2)
  os.symlink(os.path.join(root, "cat"), os.path.join(root, "dog", "cats_too"))
  os.symlink(root, os.path.join(root, "cat", "again"))            # back to the root: a loop
  walk = image_checks.walk_data_root(root)
  candidates = {r.path: r for r in walk.candidates}
  assert {"dog/cats_too/000.png", "dog/cats_too/001.png"} <= set(candidates)
  assert candidates["dog/cats_too/000.png"].class_name == "dog"
  skipped = {r.path: r.reason for r in walk.skipped}
  assert skipped["cat/again"].startswith("symlink_loop")
  # Followed once through dog/cats_too, where cat/again loops back as well.
  assert skipped["dog/cats_too/again"].startswith("symlink_loop")
  assert walk.class_names == ["cat", "dog"]


def test_unreadable_folder_gets_a_row(tmp_path, monkeypatch):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, classes=("cat", "dog"), per_class=2)
  os.makedirs(os.path.join(root, "dog", "locked"))
  image_factory.save(image_factory.pattern(seed=9), os.path.join(root, "dog", "locked", "x.png"))
  real_scandir = os.scandir

  def scandir(path):
    if os.path.basename(path) == "locked":   # as for a folder without read permission
      raise PermissionError(13, "Permission denied", path)
    return real_scandir(path)

  monkeypatch.setattr(ingest_walk.os, "scandir", scandir)
  walk = image_checks.walk_data_root(root)
  rows = {r.path: r for r in walk.skipped}
  assert rows["dog/locked"].reason == "unreadable_folder: Permission denied"
  assert rows["dog/locked"].class_name == "dog"
  assert len(walk.candidates) == 4


def test_hidden_top_level_folder_is_no_class(tmp_path):
  from components.data_gate import gates  # pylint: disable=import-outside-toplevel
  from components.ingest import report as ingest_report  # pylint: disable=import-outside-toplevel
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root), classes=("a", "b"), per_class=12)
  (root / ".git").mkdir()
  (root / ".git" / "HEAD").write_text("ref: refs/heads/main")
  walk = image_checks.walk_data_root(str(root))
  assert walk.class_names == ["a", "b"]
  row = next(r.report_row() for r in walk.skipped if r.path == ".git/HEAD")
  assert row["reason"] == "hidden_file" and row["class"] is None
  rows = [dict(r.report_row(), outcome="ingested", split="train") for r in walk.candidates]
  report = ingest_report.build_report(rows + [row], walk.class_names)
  results = {r.name: r for r in gates.evaluate(report, {}, pipeline_config.GateConfig(), None)}
  assert results["min_images_per_class"].passed and results["max_class_imbalance"].passed
