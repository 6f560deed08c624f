"""CSV series for the time-series tests: clean hourly series, and one with every finding."""

import datetime
import math
import os

import numpy as np

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
HEADER = ["timestamp", "temp", "humid", "station", "const", "hour"]


def stamp(hour: int) -> str:
  return (START + datetime.timedelta(hours=hour)).isoformat().replace("+00:00", "Z")


def values(hour: int, seed: int = 0):
  """A daily cycle plus slow weather, and a humidity that follows it."""
  rng = np.random.default_rng(seed * 100003 + hour)
  temp = 10 + 6 * math.sin(2 * math.pi * hour / 24) + 3 * math.sin(hour / 53.0) \
      + rng.normal(0, 0.3)
  humid = 60 - 2 * temp + rng.normal(0, 1)
  return round(temp, 3), round(humid, 3)


def row(hour: int, seed: int = 0):
  temp, humid = values(hour, seed)
  return [stamp(hour), str(temp), str(humid), "A", "5", str((START.hour + hour) % 24)]


def write_series(path: str, hours: int, seed: int = 0, gap=range(0)) -> None:
  """`hours` hourly rows, none for the hours in `gap`."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(",".join(HEADER) + "\n")
    for h in range(hours):
      if h not in gap:
        f.write(",".join(row(h, seed)) + "\n")


def write_messy(path: str, hours: int = 600) -> dict:
  """One series with each finding; returns {kind: [line numbers or details]} to expect."""
  lines = [",".join(HEADER)]
  expect = {"unparseable_row": [], "unparseable_value": [], "duplicate_timestamp": [],
            "sorted": [], "interpolated": 0, "missing_rows": 10}

  def add(cells):
    lines.append(",".join(cells))
    return len(lines)              # 1-based line number

  h = 0
  while h < hours:
    if h == 100:                   # two hours out of order
      add(row(101))
      expect["sorted"].append(add(row(100)))
      h = 102
      continue
    if 300 <= h < 310:             # 10 missing hours: longer than max_fill (6), a segment break
      h += 1
      continue
    cells = row(h)
    if h in (200, 201):            # two missing temperatures: interpolated
      cells[1] = "NA"
      expect["interpolated"] += 1
    if h == 250:
      cells[2] = ""                # one missing humidity: interpolated
      expect["interpolated"] += 1
    if h == 403:                   # not a number: a missing value, interpolated
      cells[1] = "warm"
      expect["unparseable_value"].append(len(lines) + 1)
      expect["interpolated"] += 1
    add(cells)
    if h == 150:                   # a repeated timestamp with other values: dropped
      expect["duplicate_timestamp"].append(add(row(150, seed=9)))
    if h == 400:
      expect["unparseable_row"].append(add(["garbage", "1"]))
    if h == 401:
      bad = row(10_000)
      bad[0] = "yesterday"
      expect["unparseable_row"].append(add(bad))
    h += 1
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return expect
