"""Train/serve parity at the pixel level: the graph decoder (serving, training, the
Evaluator) gives the same pixels for a file's original bytes as for the bytes ingestion
stored, and both match what Pillow's normalisation shows a person."""

import io
import re
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

import pipeline_config
from components.image_example_gen import image_checks
from tests import image_factory
from trainer.image import image_decoding

OPTIONS = pipeline_config.IngestConfig()
# JPEG re-encoding at quality 95 and 16-bit -> 8-bit rounding move pixels by a few levels.
TOLERANCE = {"mean": 2.0, "max": 40.0}


def inspect(path, options=OPTIONS):
  record = image_checks.FileRecord(path=os.path.basename(path), source=path)
  return image_checks.inspect_file(record, options)


def graph_pixels(encoded, background=image_decoding.DEFAULT_BACKGROUND):
  return image_decoding.decode_rgb(tf.constant(encoded), background).numpy()


def pillow_pixels(path, background=image_decoding.DEFAULT_BACKGROUND):
  """What a person sees: EXIF applied, alpha over the background, first frame."""
  with Image.open(path) as image:
    image.seek(0)
    if image.format == "JPEG":
      image = ImageOps.exif_transpose(image)
    rgb, _ = image_checks._to_rgb(image, background)  # pylint: disable=protected-access
    return np.asarray(rgb, dtype=np.float32)


def assert_close(a, b, what):
  assert a.shape == b.shape, f"{what}: {a.shape} != {b.shape}"
  diff = np.abs(a.astype(np.float32) - b.astype(np.float32))
  assert diff.mean() <= TOLERANCE["mean"] and diff.max() <= TOLERANCE["max"], (
      f"{what}: mean {diff.mean():.2f}, max {diff.max():.1f}")


@pytest.mark.parametrize("case", sorted(image_factory.NORMALISE_CASES))
def test_original_and_stored_bytes_decode_to_the_same_pixels(tmp_path, case):
  path = image_factory.NORMALISE_CASES[case](str(tmp_path / case))
  record = inspect(path)
  assert record.outcome in ("ingested", "normalised"), record.reason
  with open(path, "rb") as f:
    original = graph_pixels(f.read())
  stored = graph_pixels(record.encoded)
  assert_close(original, stored, f"{case} original vs stored")
  assert_close(original, pillow_pixels(path), f"{case} graph vs Pillow")
  assert (record.height, record.width) == original.shape[:2]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exactly_in_geometry(tmp_path, orientation):
  path = image_factory.exif_rotated_jpeg(str(tmp_path / "r.jpg"), orientation=orientation)
  with open(path, "rb") as f:
    data = f.read()
  assert int(image_decoding.jpeg_orientation(tf.constant(data))) == orientation
  decoded = graph_pixels(data)
  reference = pillow_pixels(path)
  assert decoded.shape == reference.shape
  # The red block stays where Pillow puts it: compare the red mask, not JPEG noise.
  red = lambda p: (p[..., 0] > 200) & (p[..., 1] < 80) & (p[..., 2] < 80)
  assert (red(decoded) == red(reference)).mean() > 0.97


def test_big_endian_exif_after_a_jfif_segment_with_other_entries_first():
  image = image_factory.pattern(48, 32)
  exif = Image.Exif()
  exif._endian = ">"  # pylint: disable=protected-access
  exif[0x010F] = "camera maker"                    # an IFD0 entry before the orientation
  exif[0x0112] = 8
  out = io.BytesIO()
  image.save(out, "JPEG", exif=exif.tobytes(), quality=95, dpi=(72, 72))  # dpi: JFIF APP0
  data = out.getvalue()
  assert data[2:4] == b"\xff\xe0" and b"MM\x00\x2a" in data[:200]
  assert int(image_decoding.jpeg_orientation(tf.constant(data))) == 8
  assert graph_pixels(data).shape == (48, 32, 3)


def test_no_exif_and_non_jpeg_bytes_mean_upright():
  png = image_factory.encoded(image_factory.pattern(), "PNG")
  jpeg = image_factory.encoded(image_factory.pattern(), "JPEG")
  assert int(image_decoding.jpeg_orientation(tf.constant(jpeg))) == 1
  assert int(image_decoding.jpeg_orientation(tf.constant(png))) == 1


def test_alpha_is_composited_onto_the_configured_background(tmp_path):
  path = image_factory.rgba_png(str(tmp_path / "a.png"))
  with open(path, "rb") as f:
    data = f.read()
  green = graph_pixels(data, (0, 255, 0))
  white = graph_pixels(data)
  assert tuple(green[20, 2]) == (0.0, 255.0, 0.0)     # the transparent left half
  assert tuple(white[20, 2]) == (255.0, 255.0, 255.0)
  np.testing.assert_array_equal(green[:, 30:], white[:, 30:])   # the opaque half


@pytest.mark.parametrize("case", sorted(image_factory.NOT_SERVABLE_CASES))
def test_files_serving_refuses_are_stored_as_png_and_refused_by_name_when_sent(tmp_path, case):
  make, message = image_factory.NOT_SERVABLE_CASES[case]
  path = make(str(tmp_path / case))
  record = inspect(path)
  # Ingested as PNG, counted under the reason that tells a client what to send.
  assert record.outcome == "normalised", record.reason
  assert record.reason.startswith(image_checks.SEND_AS_PNG), record.reason
  assert record.encoded.startswith(image_checks.PNG_MAGIC)
  # The stored PNG is the image a person sees (upright, first frame, alpha over background).
  with Image.open(path) as image:
    image.seek(0)
    upright = ImageOps.exif_transpose(image)
    expected, _ = image_checks._to_rgb(upright, image_decoding.DEFAULT_BACKGROUND)  # pylint: disable=protected-access
  assert_close(graph_pixels(record.encoded), np.asarray(expected, np.float32), case)
  # The original bytes are refused by the serving decoder, with a message naming them; the
  # rule on the bytes is the same on both sides.
  with open(path, "rb") as f:
    data = f.read()
  assert image_checks.serving_refusal(data) is not None
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
    graph_pixels(data)


def test_the_refusal_names_the_format_and_what_to_send(tmp_path):
  data = open(image_factory.webp_file(str(tmp_path / "x.webp")), "rb").read()
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    graph_pixels(data)
  assert "WEBP images cannot be decoded by the serving signature" in str(error.value)
  assert "send PNG or JPEG instead" in str(error.value)
  for payload in (b"", b"not an image at all"):
    with pytest.raises(tf.errors.InvalidArgumentError, match="send PNG or JPEG"):
      graph_pixels(payload)


@pytest.mark.parametrize("case", sorted(image_factory.NORMALISE_CASES))
def test_what_serving_decodes_passes_the_byte_rule(tmp_path, case):
  path = image_factory.NORMALISE_CASES[case](str(tmp_path / case))
  with open(path, "rb") as f:
    assert image_checks.serving_refusal(f.read()) is None, case


@pytest.mark.parametrize("payload", [b"", b"not an image at all", b"\xff\xd8\xff\xe0garbage",
                                     b"\x89PNG\r\n\x1a\ntruncated"])
def test_undecodable_payload_is_an_invalid_argument_error(payload):
  with pytest.raises(tf.errors.InvalidArgumentError):
    graph_pixels(payload)


def test_an_exif_segment_far_from_the_start_is_ignored_on_both_sides(tmp_path):
  path = image_factory.exif_rotated_jpeg(str(tmp_path / "r.jpg"), orientation=6)
  with open(path, "rb") as f:
    data = f.read()
  comment = b"x" * 5000                      # a COM segment pushes APP1 past the search window
  far = data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]
  far_path = image_factory.write_bytes(str(tmp_path / "far.jpg"), far)
  assert Image.open(far_path).getexif()[0x0112] == 6          # Pillow alone would turn it
  record = inspect(far_path)
  assert "exif_orientation" not in record.reason
  assert int(image_decoding.jpeg_orientation(tf.constant(far))) == 1
  assert_close(graph_pixels(far), graph_pixels(record.encoded), "far exif")
  assert graph_pixels(far).shape == (32, 48, 3)


@pytest.mark.parametrize("orientation", range(0, 10))
def test_the_square_orientation_without_control_flow_turns_like_the_general_one(orientation):
  image = tf.random.uniform([5, 5, 3], 0, 255, seed=orientation)
  expected = image_decoding.apply_orientation(image, tf.constant(orientation))
  if orientation in (0, 9):                      # out of range: clipped alike
    expected = image_decoding.apply_orientation(image, tf.constant(min(max(orientation, 1), 8)))
  got = image_decoding.apply_orientation_square(image, tf.constant(orientation))
  np.testing.assert_array_equal(got.numpy(), expected.numpy())
