"""Every patch of a private API, in one place. Each asserts the pinned version it was written
for, so an upgrade fails loudly here until the patch is checked against it (then add the
version). Called by the modules whose work they speed up, on import, so Beam workers and the
Trainer's process get them too: components/ingest/transforms.py and trainer/common/hygiene.py.
Nothing is imported at load time (this module stays light, like the rest of schemas/)."""

PATCHED_BEAM_VERSIONS = ("2.59.0",)
PATCHED_TF_VERSIONS = ("2.16.",)


def _check_beam(beam) -> None:
  if beam.__version__ not in PATCHED_BEAM_VERSIONS:
    raise RuntimeError(
        f"schemas/patches.py uses apache_beam.io.tfrecordio's private "
        f"_default_crc32c_fn, written for Beam {', '.join(PATCHED_BEAM_VERSIONS)}; this is "
        f"{beam.__version__}. Check the patch against it and add the version.")


def beam_crc32c():
  """Beam's own CRC32C function (private), for code that frames TFRecords itself where
  google-crc32c's C implementation is missing."""
  import apache_beam as beam  # pylint: disable=import-outside-toplevel
  from apache_beam.io import tfrecordio  # pylint: disable=import-outside-toplevel
  _check_beam(beam)
  return tfrecordio._default_crc32c_fn  # pylint: disable=protected-access


def fast_tfrecord_checksums() -> None:
  """Beam's TFRecord writer checksums every record with python-snappy's CRC32C when it is
  installed, else crcmod's (it logs "Couldn't find python-snappy ..."). google-crc32c (a
  dependency of the Google Cloud clients, in the lock) computes the same CRC32C about 30x
  faster; with its C implementation it becomes the writer's function. Same values: the files
  are byte-identical."""
  import apache_beam as beam  # pylint: disable=import-outside-toplevel
  try:
    import google_crc32c  # pylint: disable=import-outside-toplevel
    from apache_beam.io import tfrecordio  # pylint: disable=import-outside-toplevel
  except ImportError:
    return
  _check_beam(beam)
  if google_crc32c.implementation == "c" and not tfrecordio._default_crc32c_fn.fn:  # pylint: disable=protected-access
    tfrecordio._default_crc32c_fn.fn = google_crc32c.value  # pylint: disable=protected-access


def skip_autograph_for_tf_keras() -> None:
  """TF 2.16's AutoGraph skips the `keras` package but converts tf_keras's own functions, about
  600 of them on the first fit of every process (17 s on 2 cores). tf_keras is written for
  graph mode already, so it is excluded the way `keras` is."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if not tf.__version__.startswith(PATCHED_TF_VERSIONS):
    raise RuntimeError(
        "schemas/patches.py adds a rule to TensorFlow's private AutoGraph "
        f"CONVERSION_RULES, written for TensorFlow {', '.join(PATCHED_TF_VERSIONS)}; this is "
        f"{tf.__version__}. Check the rule against it and add the version.")
  try:
    from tensorflow.python.autograph.core import config  # pylint: disable=import-outside-toplevel
  except ImportError:
    return
  rule = config.DoNotConvert("tf_keras")
  if not any(getattr(r, "_prefix", None) == "tf_keras" for r in config.CONVERSION_RULES):
    config.CONVERSION_RULES = (rule,) + tuple(config.CONVERSION_RULES)
