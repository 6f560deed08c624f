"""Feature cache: the frozen base's output per image, computed once and reused.

A cached entry is keyed by (image sha256, augmentation variant and the augmentation
parameters that made it) inside a namespace made of the backbone, a fingerprint of the base's
actual weights, the input size and a fingerprint of the decoding (the decoder's version and the
background that transparency is composited onto: the pixels the base sees from a file), so
changing the backbone, the weights, the size, the decoding or the augmentation can never
reuse stale features. Any tf.io.gfile path works (a local folder or gs://...).

No lock is taken: an entry is written to a unique temporary name and renamed over its final
name (gfile.rename with overwrite). Locally the rename is atomic; on an object store (GCS) it
is a copy then a delete, and an object appears whole or not at all, so a reader never sees a
partial entry. Two Trainers computing the same entry both write it, with the same content.

Layout ({ns} = {backbone}-{size}px-{weights_fingerprint[:16]}-d{decoding_fingerprint[:8]}):
  {cache_root}/{ns}/{sha[:2]}/{sha}-v0.npy
  {cache_root}/{ns}/{sha[:2]}/{sha}-v{k}-{aug[:12]}.npy
"""

import concurrent.futures
import dataclasses
import hashlib
import io
import json
import os
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow import keras

from trainer.image import data, image_decoding
from trainer.common import examples


def config_fingerprint(config) -> str:
  """sha256 of the augmentation parameters that shape a variant's pixels (not mode or K)."""
  values = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("mode", "variants")}
  return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def decoding_fingerprint(background: Sequence[int]) -> str:
  """sha256 of what turns a file into pixels: the decoder's version and the background."""
  key = f"{image_decoding.DECODER_VERSION}:{tuple(int(c) for c in background)}"
  return hashlib.sha256(key.encode()).hexdigest()


def weights_fingerprint(base: keras.Model) -> str:
  """sha256 over every weight of the base: the same only for exactly the same weights."""
  digest = hashlib.sha256()
  for weight in base.weights:
    digest.update(weight.name.encode())
    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
  return digest.hexdigest()


class FeatureCache:
  """Stores and loads per-image feature arrays; counts hits and misses."""

  def __init__(self, root: str, backbone: str, image_size: int, fingerprint: str,
               augmentation_fingerprint: str = "", *, decoding_fingerprint: str):
    self.namespace = os.path.join(
        root, f"{backbone}-{image_size}px-{fingerprint[:16]}-d{decoding_fingerprint[:8]}")
    self._augmentation = augmentation_fingerprint[:12]
    self.hits = 0
    self.misses = 0

  def _path(self, sha256: str, variant: int) -> str:
    name = f"{sha256}-v{variant}" + (f"-{self._augmentation}" if variant else "")
    return os.path.join(self.namespace, sha256[:2], name + ".npy")

  def get(self, sha256: str, variant: int = 0) -> Optional[np.ndarray]:
    try:
      with tf.io.gfile.GFile(self._path(sha256, variant), "rb") as f:
        features = np.load(io.BytesIO(f.read()))
    except tf.errors.NotFoundError:     # one request on an object store, not exists + read
      self.misses += 1
      return None
    self.hits += 1
    return features

  def put(self, sha256: str, variant: int, features: np.ndarray) -> None:
    path = self._path(sha256, variant)
    tf.io.gfile.makedirs(os.path.dirname(path))
    buffer = io.BytesIO()
    np.save(buffer, features.astype(np.float32))
    # Write then rename, so a crash never leaves a truncated entry behind. The temporary name
    # is unique: Trainers sharing a cache never write into each other's file.
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with tf.io.gfile.GFile(tmp, "wb") as f:
      f.write(buffer.getvalue())
    tf.io.gfile.rename(tmp, path, overwrite=True)

  def stats(self) -> Dict[str, object]:
    return {"namespace": self.namespace, "hits": self.hits, "misses": self.misses}


def _traced_forward(extractor: keras.Model):
  """The extractor's inference function, traced once per model: a Trainer extracts every
  split with the same model, and a trace costs as much as dozens of images."""
  forward = getattr(extractor, "_toolkit_forward", None)
  if forward is None:
    forward = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    extractor._toolkit_forward = forward  # pylint: disable=protected-access
  return forward


def extract_from_files(extractor: keras.Model, cache: FeatureCache, file_patterns: List[str],
                       image_size: int, batch_size: int,
                       background: Sequence[int] = image_decoding.DEFAULT_BACKGROUND
                       ) -> Tuple[np.ndarray, np.ndarray]:
  """Features and labels of every example, decoding and running the base only for images
  the cache lacks. `extractor` maps pixels to pooled features (trainer.image.model).

  Two passes over the records: the keys (sha256, variant, label) and the cache lookups
  first; then the misses alone are decoded on tf.data's parallel threads and prefetched, so
  decoding overlaps the base's forward pass, and their features are written to the cache on
  background threads."""
  files = examples.record_files(file_patterns)
  key_spec = {data.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
              data.SHA_KEY: tf.io.FixedLenFeature([], tf.string),
              data.VARIANT_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0)}
  shas, variants, labels = [], [], []
  for batch in examples.records(files).batch(1024).map(
      lambda b: tf.io.parse_example(b, key_spec)):
    shas += [s.decode() for s in batch[data.SHA_KEY].numpy()]
    variants += batch[data.VARIANT_KEY].numpy().tolist()
    labels.append(batch[data.LABEL_KEY].numpy())
  found = [cache.get(s, v) for s, v in zip(shas, variants)]
  missing = np.array([f is None for f in found])
  if missing.any():
    wanted = tf.constant(missing)
    image_spec = {data.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
    pixels = (examples.records(files).enumerate()
              .filter(lambda i, _: wanted[i])
              .map(lambda i, record: (i, data.decode_image(
                  tf.io.parse_single_example(record, image_spec)[data.IMAGE_KEY],
                  image_size, background)),
                   num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
              .batch(batch_size).prefetch(2))
    forward = _traced_forward(extractor)
    with concurrent.futures.ThreadPoolExecutor(2) as writers:
      written = []
      for index, batch in pixels:
        values = forward(batch).numpy()
        for i, value in zip(index.numpy().tolist(), values):
          found[i] = value
          written.append(writers.submit(cache.put, shas[i], variants[i], value))
      for future in written:
        future.result()                     # a failed write fails the Trainer
  return np.stack(found), np.concatenate(labels)
