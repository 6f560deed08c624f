"""The rows TimeseriesExampleGen wrote, read back into arrays, and windows over them.

Rows of one split are grouped by series and ordered by `time_index` (never by file or Beam
order); a chunk is a run of consecutive steps of one segment. Windows are cut where
schemas/windows.py says, so they never cross a chunk, and are built
batch by batch from the array (tf.gather on window-end indices): only the indices are
shuffled (one permutation per epoch, no shuffle buffer), and no window is materialised before
its batch.
"""

import dataclasses
from typing import List, Optional

import numpy as np
import tensorflow as tf

from schemas import windows as windowing
from trainer.common import examples

_ROW_SPEC = {
    "series": tf.io.FixedLenFeature([], tf.string),
    "time_index": tf.io.FixedLenFeature([], tf.int64),
    "segment": tf.io.FixedLenFeature([], tf.int64),
    "timestamp": tf.io.FixedLenFeature([], tf.int64),
    "values": tf.io.VarLenFeature(tf.float32),
}


@dataclasses.dataclass
class SplitRows:
  values: np.ndarray              # [rows, features] float32, raw units, chunk after chunk
  timestamps: np.ndarray          # [rows] epoch seconds
  chunks: List[tuple]             # (start, end, series) per chunk


def read_rows(file_patterns: List[str], num_features: int) -> SplitRows:
  series, index, segment, stamps, values = [], [], [], [], []
  for batch in examples.records(examples.record_files(file_patterns)).batch(4096):
    parsed = tf.io.parse_example(batch, _ROW_SPEC)
    series += [s.decode("utf-8") for s in parsed["series"].numpy()]
    index.append(parsed["time_index"].numpy())
    segment.append(parsed["segment"].numpy())
    stamps.append(parsed["timestamp"].numpy())
    values.append(tf.sparse.to_dense(parsed["values"]).numpy().reshape(-1, num_features))
  if not series:
    return SplitRows(np.zeros((0, num_features), np.float32), np.zeros(0, np.int64), [])
  index, segment = np.concatenate(index), np.concatenate(segment)
  names = np.asarray(series)
  order = np.lexsort((index, names))
  names, index, segment = names[order], index[order], segment[order]
  stamps, values = np.concatenate(stamps)[order], np.concatenate(values)[order]
  breaks = np.flatnonzero((names[1:] != names[:-1]) | (np.diff(index) != 1)
                          | (segment[1:] != segment[:-1])) + 1
  edges = [0, *breaks.tolist(), len(names)]
  return SplitRows(values.astype(np.float32), stamps,
                   [(a, b, str(names[a])) for a, b in zip(edges[:-1], edges[1:])])


def window_ends(rows: SplitRows, lookback: int, delay: int) -> np.ndarray:
  """Last-row index of every window of the split, chunk after chunk."""
  ends = [windowing.window_ends(a, b, lookback, delay) for a, b, _ in rows.chunks]
  return np.concatenate(ends) if ends else np.zeros(0, np.int64)


def window_dataset(values: np.ndarray, ends: np.ndarray, lookback: int, delay: int,
                   target_index: int, batch_size: int, shuffle: bool = False,
                   seed: Optional[int] = None) -> tf.data.Dataset:
  """(window [batch, lookback, features] raw, target [batch]) batches, gathered per batch."""
  data = tf.constant(values, tf.float32)
  targets = data[:, target_index]
  offsets = tf.range(-lookback + 1, 1, dtype=tf.int64)
  ends = tf.constant(ends.astype(np.int64))
  if shuffle:
    # A new permutation of the window ends every epoch, drawn from a seeded generator whose
    # state advances each time the dataset is iterated: no shuffle buffer of per-window
    # elements.
    generator = tf.random.Generator.from_seed(seed or 0)
    dataset = tf.data.Dataset.range(1).flat_map(
        lambda _: tf.data.Dataset.from_tensor_slices(tf.gather(ends, tf.argsort(
            generator.uniform(tf.shape(ends))))))
  else:
    dataset = tf.data.Dataset.from_tensor_slices(ends)

  def gather(batch_ends):
    return (tf.gather(data, batch_ends[:, None] + offsets[None, :]),
            tf.gather(targets, batch_ends + delay))
  return dataset.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
      tf.data.AUTOTUNE)


def baseline_forecasts(values: np.ndarray, ends: np.ndarray, target_index: int,
                       seasonal_lag: Optional[int]) -> dict:
  """The common-sense forecasts of every window's target: persistence y[t] and, with a
  season inside the window, seasonal naive y[t - lag]."""
  forecasts = {"persistence": values[ends, target_index]}
  if seasonal_lag is not None:
    forecasts["seasonal_naive"] = values[ends - seasonal_lag, target_index]
  return forecasts
