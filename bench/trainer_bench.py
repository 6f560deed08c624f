"""Trainer speed: head epochs on cached features vs end to end through the frozen base, the
extraction cost of a 10% data drop, and the input pipeline against raw decoding."""

import glob
import os
import shutil
import time

import numpy as np
import tensorflow as tf
from tensorflow import keras

from bench.ingest_bench import time_ingest
from bench.photos import write_photo_folder
from schemas import backbones
from trainer.image import data, feature_cache, image_decoding, model as model_lib
from trainer.image.image_trainer import compile_model

BACKBONE, IMAGE_SIZE, BATCH = "vgg16", 64, 32


class _EpochTimes(keras.callbacks.Callback):
  def on_train_begin(self, logs=None):
    self.times = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    self.times.append(time.perf_counter() - self._start)


def _second_epoch(model, *args, **kwargs) -> float:
  """Seconds of the second epoch (the first includes tracing)."""
  timer = _EpochTimes()
  model.fit(*args, epochs=2, verbose=0, callbacks=[timer], **kwargs)
  return timer.times[1]


def run(work: str, count: int) -> dict:
  root = os.path.join(work, f"trainer_photos_{count}")
  if not os.path.isdir(root):
    write_photo_folder(root, count, classes=4, seed=1)
  examples = os.path.join(work, "trainer_examples")
  time_ingest(root, examples, [])
  files = [os.path.join(examples, "examples", "Split-train", "*")]
  backbone = backbones.get_backbone(BACKBONE)
  keras.utils.set_random_seed(0)
  model, base = model_lib.build_classifier(backbone, 4, IMAGE_SIZE, None, 64, 0.3)
  extractor = model_lib.feature_extractor(model)
  fingerprint = feature_cache.weights_fingerprint(base)
  cache_root = os.path.join(work, "feature_cache")

  def extract_seconds():
    cache = feature_cache.FeatureCache(
        cache_root, BACKBONE, IMAGE_SIZE, fingerprint,
        decoding_fingerprint=feature_cache.decoding_fingerprint(
            image_decoding.DEFAULT_BACKGROUND))
    start = time.perf_counter()
    features, labels = feature_cache.extract_from_files(extractor, cache, files, IMAGE_SIZE,
                                                        BATCH)
    return time.perf_counter() - start, cache.stats(), features, labels

  # The bare backbone's forward pass on the same batch size (pixels already in memory):
  # what extraction would cost with free decoding and caching.
  forward = tf.function(lambda x: extractor(x, training=False))
  pixels = tf.random.uniform((BATCH, IMAGE_SIZE, IMAGE_SIZE, 3), 0, 255)
  forward(pixels)
  batches = max(1, count // BATCH)
  start = time.perf_counter()
  for _ in range(batches):
    forward(pixels).numpy()
  forward_rate = batches * BATCH / (time.perf_counter() - start)

  # Cold extraction, then a drop: 10% of the images have no cached features yet.
  shutil.rmtree(cache_root, ignore_errors=True)
  extract_seconds()                  # traces the extraction function
  shutil.rmtree(cache_root, ignore_errors=True)
  cold_s, cold_stats, features, labels = extract_seconds()
  entries = sorted(glob.glob(os.path.join(cache_root, "*", "*", "*.npy")))
  for path in entries[:: 10]:
    os.remove(path)
  drop_s, drop_stats, _, _ = extract_seconds()

  # Head epochs: end to end through the frozen base vs on the cached features.
  train_data = data.make_dataset(files, IMAGE_SIZE, BATCH, shuffle=True, seed=0)
  compile_model(model, keras.optimizers.Adam(1e-3))
  end_to_end_s = _second_epoch(model, train_data)
  head = model.get_layer(model_lib.HEAD)
  compile_model(head, keras.optimizers.Adam(1e-3))
  cached_s = _second_epoch(head, features, labels, batch_size=BATCH, shuffle=True)

  # Input pipeline (parallel decode, resize, batch) vs decoding the same bytes one by one.
  start = time.perf_counter()
  seen = sum(int(x.shape[0]) for x, _ in data.make_dataset(files, IMAGE_SIZE, BATCH, True, 0))
  input_rate = seen / (time.perf_counter() - start)
  encoded = [b.numpy() for batch in data.record_batches(files, BATCH)
             for b in batch[data.IMAGE_KEY]]
  start = time.perf_counter()
  for e in encoded:
    data.decode_image(tf.constant(e), IMAGE_SIZE)
  decode_rate = len(encoded) / (time.perf_counter() - start)

  return {
      "trainer_images": int(len(labels)),
      "trainer_backbone": f"{BACKBONE} {IMAGE_SIZE}px weights=none batch {BATCH}",
      "epoch_end_to_end_s": round(end_to_end_s, 3),
      "epoch_cached_features_s": round(cached_s, 4),
      "cache_epoch_speedup": round(end_to_end_s / cached_s, 1),
      "extraction_cold_s": round(cold_s, 2),
      "extraction_images_per_s": round(len(labels) / cold_s, 1),
      "forward_images_per_s": round(forward_rate, 1),
      "extraction_vs_forward": round(len(labels) / cold_s / forward_rate, 3),
      "extraction_after_10pct_drop_s": round(drop_s, 2),
      "extraction_drop_misses": drop_stats["misses"],
      "drop_extraction_fraction": round(drop_s / cold_s, 3),
      "input_pipeline_images_per_s": round(input_rate, 1),
      "raw_decode_images_per_s": round(decode_rate, 1),
      "input_vs_decode": round(input_rate / decode_rate, 2),
  }
