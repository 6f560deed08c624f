"""Where windows are cut (contract), shared by ingestion (the eval windows the Evaluator
judges), the Trainer (train and validation windows) and the tests. NumPy only.

A chunk is a run of consecutive rows of one series inside one split and one segment. A window
ends at row t of a chunk [start, end): it holds rows t - lookback + 1 .. t (what a client
sends; the model samples every `step`-th row ending at t) and its target is row t + delay.
Every row it reads, target included, lies in the chunk, so no window crosses a split
boundary, a segment break or another series.
"""

import math
from typing import Optional

import numpy as np

DAY = 86400.0


def window_ends(start: int, end: int, lookback: int, delay: int) -> np.ndarray:
  """Indices t of the last rows of every window inside the chunk [start, end)."""
  first, last = start + lookback - 1, end - 1 - delay
  return np.arange(first, last + 1, dtype=np.int64) if last >= first else np.zeros(
      0, np.int64)


def count_windows(length: int, lookback: int, delay: int) -> int:
  return max(0, length - lookback - delay + 1)


def sampled_rows(lookback: int, step: int) -> np.ndarray:
  """Positions inside a window that the model reads: every `step`-th row, ending at the last."""
  return np.arange((lookback - 1) % step, lookback, step, dtype=np.int64)


def seasonal_lag(delay: int, period: Optional[int], lookback: int) -> Optional[int]:
  """How far before the window's last row the seasonal-naive forecast looks: the same phase
  one or more periods before the target, y[t + delay - k*period] with the smallest k that
  reaches back to the window. None when there is no period, or when that row is not inside the
  window (so a client's window alone gives both baselines)."""
  if not period:
    return None
  lag = math.ceil(delay / period) * period - delay
  return lag if lag <= lookback - 1 else None


def default_seasonal_period(frequency_seconds: Optional[float]) -> Optional[int]:
  """One day of rows when the sampling interval divides a day; a week for daily data."""
  if not frequency_seconds or frequency_seconds <= 0:
    return None
  if frequency_seconds < DAY and (DAY / frequency_seconds).is_integer():
    return int(DAY / frequency_seconds)
  if frequency_seconds == DAY:
    return 7
  return None
