"""Time-series checks: one CSV file per series -> regular rows in time, split by time.

The three steps TimeseriesExampleGen runs (pure Python and NumPy; no TensorFlow, so Beam
workers start fast and tests are cheap):

  parse_file     reads one CSV: header, timestamps (format detected once per file), raw
                 cells; rows with the wrong number of fields or an unreadable timestamp are
                 rejected with their line number;
  decide_columns over every file's column summary: the header most files share (other files
                 are rejected), and per column kept or left out (non-numeric, constant,
                 mostly missing) with its reason;
  finish_series  per file: a cell that is not a number becomes a missing value (line number
                 recorded), rows are restored to time order (recorded), duplicate timestamps dropped (first kept, the rest
                 listed), sampled on the inferred frequency's grid (irregular sampling and
                 gaps recorded), runs of up to max_fill missing rows or values interpolated,
                 longer ones breaking the series into segments; then split by time (train the
                 first 70%, validation the next 10%, eval the last 20%) and the eval windows
                 cut (windows.py).
"""

import csv
import dataclasses
import datetime
import io
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import pipeline_config
from components.ingest import records
from schemas import windows as windowing

MISSING = frozenset({"", "na", "nan", "null", "none", "n/a", "#n/a", "-", "?"})
# Findings listed per kind in the report row (the counts are always complete).
MAX_LISTED = 20
QUANTILES = np.linspace(0.0, 1.0, 21)
_UTC = datetime.timezone.utc


@dataclasses.dataclass
class SeriesRecord(records.FileRecord):
  """One CSV file (one series) and what ingestion found in it."""
  rows: Optional[int] = None             # data rows in the file
  kept_rows: Optional[int] = None        # rows written as examples (time steps)
  steps: Optional[int] = None            # time steps on the series' grid, kept or not
  start: Optional[str] = None            # first and last kept time step (UTC, ISO 8601)
  end: Optional[str] = None
  time_format: Optional[str] = None
  frequency: Optional[str] = None        # inferred sampling interval, e.g. "1h"
  frequency_seconds: Optional[float] = None
  segments: Optional[int] = None
  interpolated: Optional[int] = None     # values filled by linear interpolation
  missing_fraction: Optional[float] = None
  rows_per_split: Optional[dict] = None
  windows_per_split: Optional[dict] = None
  # Row-level findings: kind -> {"count": n, "examples": ["line 12: ...", ...]}.
  findings: Optional[dict] = None
  # Per kept column: 21 quantiles (0%, 5%, ..., 100%) of its kept values (drift profile).
  quantiles: Optional[dict] = None
  # Data drops: the span files this series was built from, oldest first: {"path", "span",
  # "rows" (kept from it), "replaced" (its rows a newer span's rows replaced)}.
  files: Optional[list] = None


def _note(record: SeriesRecord, kind: str, detail: Optional[str] = None, count: int = 1):
  if record.findings is None:
    record.findings = {}
  entry = record.findings.setdefault(kind, {"count": 0, "examples": []})
  entry["count"] += count
  if detail is not None and len(entry["examples"]) < MAX_LISTED:
    entry["examples"].append(detail)


# --- timestamps -------------------------------------------------------------------------

_STRPTIME_FORMATS = (
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%Y%m%d%H%M%S", "%Y%m%d",
)


def _epoch(value: datetime.datetime) -> float:
  if value.tzinfo is None:
    value = value.replace(tzinfo=_UTC)          # naive times are read as UTC
  return value.timestamp()


def _parse_iso(text: str) -> float:
  if text.endswith(("Z", "z")):
    text = text[:-1] + "+00:00"
  return _epoch(datetime.datetime.fromisoformat(text))


def parser(fmt: str):
  """The function reading one time of format `fmt` (detect_time_format's) as epoch seconds."""
  return _parser(fmt)


def _parser(fmt: str):
  if fmt == "iso8601":
    return _parse_iso
  if fmt == "epoch_seconds":
    return lambda text: float(text)
  return lambda text: _epoch(datetime.datetime.strptime(text, fmt))


def detect_time_format(values: Sequence[str]) -> Optional[str]:
  """The format that reads the most of 200 values sampled across the column, if it reads at
  least 90% of them (the rest are bad rows); ties go to the first of ISO 8601, day-first
  dotted (European), month-first then day-first slashed dates, ..., numbers as epoch
  seconds. Sampling the whole column sees days past the 12th, which settle day-first."""
  present = [v for v in values if v.lower() not in MISSING]
  sample = present[::max(1, len(present) // 200)]
  if not sample:
    return None
  best, best_read = None, 0
  for fmt in ("iso8601", *_STRPTIME_FORMATS, "epoch_seconds"):
    parse = _parser(fmt)
    read = 0
    for text in sample:
      try:
        read += math.isfinite(parse(text))
      except (ValueError, OverflowError):
        pass
    if read > best_read:
      best, best_read = fmt, read
  return best if best_read >= 0.9 * len(sample) else None


def format_interval(seconds: float) -> str:
  for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
    if seconds >= size and float(seconds / size).is_integer():
      return f"{int(seconds // size)}{unit}"
  return f"{seconds:g}s"


def iso(seconds: float) -> str:
  return datetime.datetime.fromtimestamp(seconds, _UTC).isoformat().replace("+00:00", "Z")


# --- step 1: parse ----------------------------------------------------------------------

@dataclasses.dataclass
class ParsedSeries:
  """A CSV file read into columns; `record.outcome` is set when the file is rejected."""
  record: SeriesRecord
  header: Tuple[str, ...] = ()
  times: Optional[np.ndarray] = None           # epoch seconds per data row
  lines: Optional[np.ndarray] = None           # line number of each data row
  cells: Optional[Dict[str, List[str]]] = None  # column -> raw text per data row
  # Data drops: the series' name inside its span (the same file in every span is one series)
  # and the span of each data row (None for a flat root).
  key: Optional[str] = None
  span: Optional[int] = None
  spans: Optional[np.ndarray] = None


def parse_file(record: SeriesRecord, options: "pipeline_config.TimeseriesConfig",
               max_bytes: int) -> ParsedSeries:
  parsed = ParsedSeries(record)
  data = records.read_file(record, max_bytes)
  if data is None:
    return parsed
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    records.reject(record, f"not_utf8: byte 0x{data[e.start]:02x} at offset {e.start}")
    return parsed
  if "\0" in text:
    records.reject(record, "binary: the file has NUL bytes; expected a CSV text file")
    return parsed
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter)
  try:
    header = next(reader, None)
  except csv.Error as e:
    records.reject(record, f"unreadable_header: {e}")
    return parsed
  header = tuple(h.strip() for h in header or ())
  if not header or not any(header):
    records.reject(record, "no_header: the first line must name the columns")
    return parsed
  repeated = sorted({h for h in header if header.count(h) > 1})
  if repeated:
    records.reject(record, f"duplicate_columns: {', '.join(repeated)}")
    return parsed
  for role, name in (("time", options.time_column), ("target", options.target_column)):
    if name not in header:
      records.reject(record, f"no_{role}_column: {name!r} is not in the header "
                     f"({', '.join(header[:20])}); set --{role}-column")
      return parsed
  parsed.header = header
  time_at = header.index(options.time_column)
  rows, lines = [], []
  record.rows = 0
  try:
    for row in reader:
      if not row or not any(cell.strip() for cell in row):
        continue                                 # blank lines are not rows
      record.rows += 1
      if len(row) != len(header):
        _note(record, "unparseable_row", f"line {reader.line_num}: {len(row)} fields, the "
              f"header has {len(header)}")
        continue
      rows.append([cell.strip() for cell in row])
      lines.append(reader.line_num)
  except csv.Error as e:
    records.reject(record, f"unreadable_csv: line {reader.line_num}: {e}")
    return parsed
  fmt = detect_time_format([r[time_at] for r in rows])
  if fmt is None:
    records.reject(record, f"unreadable_time_column: no known date format reads the "
                   f"{options.time_column!r} values (e.g. {rows[0][time_at]!r})" if rows else
                   "no_rows: the file has a header and no data rows")
    return parsed
  record.time_format = fmt
  parse = _parser(fmt)
  times, kept, kept_lines = [], [], []
  for row, line in zip(rows, lines):
    try:
      times.append(parse(row[time_at]))
    except (ValueError, OverflowError):
      _note(record, "unparseable_row",
            f"line {line}: timestamp {row[time_at]!r} does not match {fmt}")
      continue
    kept.append(row)
    kept_lines.append(line)
  parsed.times = np.asarray(times, np.float64)
  parsed.lines = np.asarray(kept_lines, np.int64)
  parsed.cells = {name: [r[i] for r in kept] for i, name in enumerate(header)
                  if i != time_at}
  return parsed


# --- step 1b: data drops ----------------------------------------------------------------

def merge_spans(key: str, group: Sequence[ParsedSeries]) -> List[ParsedSeries]:
  """The files named `key` in every span of the window -> one series in time order.

  A span's rows come after the older spans'; where a newer span repeats a timestamp of an
  older one, the newer row wins (a drop that corrects readings replaces them) and the older
  file's replaced rows are counted in the report. The newest span's header is the series'
  columns: an older span's row has no value for a column only newer spans have (missing),
  and a column the newest span dropped is gone. Files that could not be read are returned as
  they are (their own report rows); the series goes on without them."""
  usable = sorted((p for p in group if not p.record.outcome), key=lambda p: p.span)
  others = [p for p in group if p.record.outcome]
  if not usable:
    return others
  newest = usable[-1]
  merged = SeriesRecord(path=key, sha256=newest.record.sha256, files=[], rows=0,
                        time_format=newest.record.time_format)
  times, lines = np.zeros(0), np.zeros(0, np.int64)
  spans, source = np.zeros(0, np.int64), np.zeros(0, np.int64)
  cells: Dict[str, list] = {name: [] for name in newest.cells}
  for k, part in enumerate(usable):
    repeated = np.isin(times, part.times)              # older rows this span has too
    if repeated.any():
      for j, count in enumerate(np.bincount(source[repeated], minlength=k)):
        merged.files[j]["replaced"] += int(count)
        merged.files[j]["rows"] -= int(count)
      _note(merged, "replaced_by_newer_span",
            f"{int(repeated.sum())} rows from {iso(times[repeated].min())} to "
            f"{iso(times[repeated].max())} are also in {part.record.path}; its rows are kept",
            count=int(repeated.sum()))
      keep = ~repeated
      times, lines, spans, source = times[keep], lines[keep], spans[keep], source[keep]
      cells = {name: [v for v, kept in zip(values, keep) if kept]
               for name, values in cells.items()}
    n = len(part.times)
    times = np.concatenate([times, part.times])
    lines = np.concatenate([lines, part.lines])
    spans = np.concatenate([spans, np.full(n, part.span, np.int64)])
    source = np.concatenate([source, np.full(n, k, np.int64)])
    for name in cells:
      cells[name].extend(part.cells.get(name, [""] * n))
    merged.files.append({"path": part.record.path, "span": part.span, "rows": n,
                         "replaced": 0})
    merged.rows += part.record.rows or 0
    for kind, entry in (part.record.findings or {}).items():
      for example in entry["examples"]:
        _note(merged, kind, f"{part.record.path}: {example}", count=0)
      _note(merged, kind, None, count=entry["count"])
  return others + [ParsedSeries(merged, header=newest.header, times=times, lines=lines,
                                cells=cells, key=key, span=newest.span, spans=spans)]


# A new span's column is a broken sensor or a unit change when (each needs both):
#   constant: one value over the span, where the older spans vary, and that value is not
#     what they mostly read (a dry month of zero rain is not a fault);
#   level:    the span's median lies outside every older value and SENSOR_IQRS interquartile
#     ranges of the older values from their median (°F for °C, Pa for hPa).
SENSOR_MIN_ROWS = 10
SENSOR_IQRS = 2.0


def sensor_faults(values: np.ndarray, spans: np.ndarray, newest: int,
                  features: Sequence[str]) -> List[str]:
  """What looks wrong in the newest span's columns against the older spans' (messages)."""
  faults = []
  new_rows, old_rows = spans == newest, spans < newest
  for j, name in enumerate(features):
    new, old = values[new_rows, j], values[old_rows, j]
    new, old = new[np.isfinite(new)], old[np.isfinite(old)]
    if len(new) < SENSOR_MIN_ROWS or len(old) < SENSOR_MIN_ROWS:
      continue
    if np.ptp(new) == 0 and np.ptp(old) > 0 and np.mean(old == new[0]) < 0.5:
      faults.append(f"{name} reads {new[0]:g} in every one of its {len(new)} rows of span "
                    f"{newest}, where the older spans vary ({old.min():g} to {old.max():g}): "
                    "a stuck sensor?")
      continue
    q25, median, q75 = np.quantile(old, [0.25, 0.5, 0.75])
    spread = q75 - q25 or np.std(old)
    level = float(np.median(new))
    if spread > 0 and (level < old.min() or level > old.max()) and (
        abs(level - median) > SENSOR_IQRS * spread):
      faults.append(f"{name} has median {level:g} in span {newest}, outside every value of "
                    f"the older spans ({old.min():g} to {old.max():g}; median {median:g}), "
                    f"{abs(level - median) / spread:.1f} interquartile ranges away: a unit "
                    "change (e.g. °F for °C) or a broken sensor?")
  return faults


def _to_numbers(cells: List[str]) -> Tuple[np.ndarray, np.ndarray]:
  """(values with NaN where missing or not a number, mask of cells that are not numbers)."""
  values = np.full(len(cells), np.nan)
  bad = np.zeros(len(cells), bool)
  for i, cell in enumerate(cells):
    if cell.lower() in MISSING:
      continue
    try:
      values[i] = float(cell)
    except ValueError:
      bad[i] = True
      continue
    if not math.isfinite(values[i]):
      values[i], bad[i] = np.nan, True
  return values, bad


# --- step 2: columns over every file --------------------------------------------------

def _calendar_fields(times: np.ndarray, offset_hours: int) -> Dict[str, np.ndarray]:
  seconds = times.astype(np.int64) + offset_hours * 3600
  stamps = seconds.astype("datetime64[s]")
  months = stamps.astype("datetime64[M]")
  return {
      "year": months.astype("datetime64[Y]").astype(np.int64) + 1970,
      "month": months.astype(np.int64) % 12 + 1,
      "day": (stamps.astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
          np.int64) + 1,
      "hour": seconds // 3600 % 24,
      "minute": seconds // 60 % 60,
      "weekday": (seconds // 86400 + 3) % 7,
  }


def time_derived(times: np.ndarray, values: np.ndarray) -> Optional[str]:
  """What a numeric column repeats of the timestamp, if anything: a row counter, or a
  calendar field (year, month, day, hour, minute, weekday) in some time zone, allowing one
  hour of daylight saving. Such columns tell a model the date, not the weather: under a
  temporal split the eval period holds months (or row numbers) the model never saw."""
  finite = np.isfinite(values)
  if finite.sum() < 3 or not np.all(values[finite] == np.round(values[finite])):
    return None
  order = np.argsort(times, kind="stable")
  v, t = values[order][finite[order]], times[order][finite[order]]
  steps = np.diff(v)
  if len(steps) and steps[0] > 0 and np.all(steps == steps[0]):
    return "a row counter"
  for offset in range(-14, 15):
    here, next_hour = _calendar_fields(t, offset), _calendar_fields(t, offset + 1)
    for name, field in here.items():
      if len(np.unique(field)) < 2:
        continue
      same = (v == field) | (v == next_hour[name])
      if same.mean() >= 0.98:
        return f"the timestamp's {name}"
  return None


def column_summary(parsed: ParsedSeries) -> dict:
  """Per file: its header and, per column, counts of missing, non-number and number cells,
  the first number and whether any other number differs (constant columns)."""
  if parsed.record.outcome:
    return {}
  columns = {}
  for name, cells in parsed.cells.items():
    values, bad = _to_numbers(cells)
    numbers = values[np.isfinite(values)]
    columns[name] = {
        "derived": time_derived(parsed.times, values) if len(numbers) else None,
        "rows": len(cells), "missing": int(len(cells) - len(numbers) - bad.sum()),
        "not_number": int(bad.sum()), "numbers": int(len(numbers)),
        "first": float(numbers[0]) if len(numbers) else None,
        "varies": bool(len(numbers) and np.any(numbers != numbers[0])),
        "example": next((c for c, b in zip(cells, bad) if b), None),
    }
  intervals = np.diff(np.unique(parsed.times))
  return {"path": parsed.record.path, "header": sorted(parsed.header), "columns": columns,
          "frequency": float(np.median(intervals)) if len(intervals) else None}


def decide_columns(summaries: List[dict], options: "pipeline_config.TimeseriesConfig"
                   ) -> dict:
  """The reference header (the column set most files share; ties go to the first path), and
  per column: kept, or left out with its reason. Raises ToolkitError when the target or a
  requested feature cannot be used."""
  summaries = sorted((s for s in summaries if s), key=lambda s: s["path"])
  if not summaries:
    return {"header": None, "features": [], "target": options.target_column, "left_out": {},
            "frequency_seconds": None}
  counts: Dict[tuple, int] = {}
  for s in summaries:
    counts[tuple(s["header"])] = counts.get(tuple(s["header"]), 0) + 1
  header = max(counts, key=lambda h: (counts[h], -next(
      i for i, s in enumerate(summaries) if tuple(s["header"]) == h)))
  merged: Dict[str, dict] = {}
  for s in summaries:
    if tuple(s["header"]) != header:
      continue
    for name, c in s["columns"].items():
      m = merged.setdefault(name, {"rows": 0, "missing": 0, "not_number": 0, "numbers": 0,
                                   "first": None, "varies": False, "example": None,
                                   "derived": c["derived"]})
      if m["derived"] != c["derived"]:
        m["derived"] = None                    # time-derived only when it is in every file
      for key in ("rows", "missing", "not_number", "numbers"):
        m[key] += c[key]
      if c["first"] is not None:
        if m["first"] is not None and c["first"] != m["first"]:
          m["varies"] = True
        m["first"] = c["first"] if m["first"] is None else m["first"]
      m["varies"] = m["varies"] or c["varies"]
      m["example"] = m["example"] or c["example"]
  reference = next(s for s in summaries if tuple(s["header"]) == header)
  order = [name for name in reference["columns"] if name in merged]       # its file order
  frequencies = [s["frequency"] for s in summaries
                 if tuple(s["header"]) == header and s["frequency"]]
  kept, left_out = [], {}
  for name in order:
    m = merged[name]
    present = m["numbers"] + m["not_number"]
    if present and m["not_number"] > 0.1 * present:
      left_out[name] = (f"non_numeric: {m['not_number']} of {present} values are not "
                        f"numbers (e.g. {m['example']!r})")
    elif m["rows"] and m["missing"] / m["rows"] > options.max_column_missing:
      left_out[name] = (f"mostly_missing: {m['missing'] / m['rows']:.1%} of rows have no "
                        f"value (limit {options.max_column_missing:.0%}, max_column_missing)")
    elif not m["varies"]:
      left_out[name] = (f"constant: every value is {m['first']:g}" if m["first"] is not None
                        else "empty: no values")
    elif m["derived"] and name not in (options.features or ()):
      left_out[name] = (f"time_derived: repeats {m['derived']}; under a split by time the "
                        "eval period has values the model never saw (list it in --features "
                        "to keep it)")
    else:
      kept.append(name)
  target = options.target_column
  if target in left_out:
    raise pipeline_config.ToolkitError(
        f"The target column {target!r} cannot be forecast: {left_out[target]}.")
  if options.features:
    unusable = {f: left_out.get(f, "not in the header") for f in options.features
                if f not in kept}
    if unusable:
      raise pipeline_config.ToolkitError(
          "Requested --features cannot be used: " + "; ".join(
              f"{f}: {why}" for f, why in unusable.items())
          + f". Usable numeric columns: {', '.join(kept)}.")
    features = list(options.features)
  else:
    features = kept
  if target not in features:
    features = [target] + features            # the target's history is always an input
  return {"header": list(header), "features": features, "target": target,
          "left_out": left_out, "usable": kept,
          # One sampling interval for every series (the median of theirs): the seasonal
          # period in rows follows from it, the same in every eval window and the Trainer.
          "frequency_seconds": float(np.median(frequencies)) if frequencies else None}


# --- step 3: one series -----------------------------------------------------------------

@dataclasses.dataclass
class FinishedSeries:
  record: SeriesRecord
  times: Optional[np.ndarray] = None        # epoch seconds per kept time step
  time_index: Optional[np.ndarray] = None   # grid position of each kept time step
  values: Optional[np.ndarray] = None       # [steps, features], raw units
  filled: Optional[np.ndarray] = None       # values interpolated per kept time step
  segment: Optional[np.ndarray] = None
  split: Optional[np.ndarray] = None        # split name per kept time step


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
  """[start, end) of each run of True."""
  padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
  edges = np.flatnonzero(np.diff(padded))
  return list(zip(edges[::2], edges[1::2]))


def finish_series(parsed: ParsedSeries, columns: dict,
                  options: "pipeline_config.TimeseriesConfig",
                  split_percentages: Sequence[Tuple[str, int]],
                  newest_span: Optional[int] = None) -> FinishedSeries:
  """`newest_span`: with data drops, the span being judged: its rows are checked against the
  older spans' (sensor_faults)."""
  record = parsed.record
  done = FinishedSeries(record)
  if record.outcome:
    return done
  if columns.get("error"):
    records.reject(record, f"not_ingested: {columns['error']}")
    return done
  if columns["header"] is None or sorted(parsed.header) != columns["header"]:
    mine, reference = set(parsed.header), set(columns["header"] or ())
    records.reject(record, "header_mismatch: the columns differ from the other files' "
                   f"(missing: {', '.join(sorted(reference - mine)) or 'none'}; extra: "
                   f"{', '.join(sorted(mine - reference)) or 'none'})")
    return done
  features = columns["features"]
  values = np.empty((len(parsed.times), len(features)))
  for j, name in enumerate(features):
    values[:, j], bad = _to_numbers(parsed.cells[name])
    for i in np.flatnonzero(bad):          # a missing value from here on, filled or a break
      _note(record, "unparseable_value", f"line {parsed.lines[i]}: {name} "
            f"{parsed.cells[name][i]!r} is not a number")
  times, lines = parsed.times, parsed.lines
  if parsed.spans is not None and newest_span is not None:
    for fault in sensor_faults(values, parsed.spans, newest_span, features):
      _note(record, "sensor_fault", f"{record.path}: {fault}")

  order = np.argsort(times, kind="stable")       # file order among equal timestamps
  out_of_order = int(np.sum(np.diff(times) < 0))
  if out_of_order:
    first = lines[1:][np.diff(times) < 0][0]
    _note(record, "sorted", f"{out_of_order} rows were earlier than the row before them "
          f"(first at line {first}); restored to time order", count=out_of_order)
  times, lines, values = times[order], lines[order], values[order]
  duplicate = np.concatenate([[False], np.diff(times) == 0])
  for i in np.flatnonzero(duplicate):
    first = lines[np.searchsorted(times, times[i])]
    _note(record, "duplicate_timestamp",
          f"line {lines[i]}: {iso(times[i])} also at line {first} (first kept)")
  times, lines, values = times[~duplicate], lines[~duplicate], values[~duplicate]
  if len(times) < 2:
    records.reject(record, f"too_few_rows: {len(times)} usable rows")
    return done

  # The sampling grid: the median interval between rows.
  intervals = np.diff(times)
  frequency = float(np.median(intervals))
  record.frequency_seconds, record.frequency = frequency, format_interval(frequency)
  ratio = intervals / frequency
  off_grid = np.abs(ratio - np.round(ratio)) > 0.01
  slot = np.round((times - times[0]) / frequency).astype(np.int64)
  if off_grid.any():
    _note(record, "irregular_sampling",
          f"{int(off_grid.sum())} of {len(intervals)} intervals are not a multiple of the "
          f"inferred frequency {record.frequency}; rows moved to the nearest step",
          count=int(off_grid.sum()))
  collided = np.concatenate([[False], np.diff(slot) == 0])
  for i in np.flatnonzero(collided):
    _note(record, "duplicate_timestamp",
          f"line {lines[i]}: {iso(times[i])} falls on the same step as the row before it")
  slot, values = slot[~collided], values[~collided]
  steps = int(slot[-1]) + 1
  record.steps = steps
  grid = np.full((steps, len(features)), np.nan)
  grid[slot] = values
  absent = steps - len(slot)
  if absent:
    gaps = _runs(~np.isin(np.arange(steps), slot))
    _note(record, "missing_rows", None, count=absent)
    for start, end in gaps[:MAX_LISTED]:
      record.findings["missing_rows"]["examples"].append(
          f"{end - start} step(s) missing from {iso(times[0] + start * frequency)}")
  missing = np.isnan(grid)
  record.missing_fraction = round(float(missing.mean()), 6)

  # Interpolation of short runs (bounded on both sides), per column.
  filled = np.zeros(steps, np.int64)
  for j, name in enumerate(features):
    for start, end in _runs(missing[:, j]):
      if end - start > options.max_fill or start == 0 or end == steps:
        continue
      left, right = grid[start - 1, j], grid[end, j]
      fraction = np.arange(1, end - start + 1) / (end - start + 1)
      grid[start:end, j] = left + (right - left) * fraction
      filled[start:end] += 1
  usable = np.isfinite(grid).all(axis=1)
  # Values filled in steps that a longer gap in another column drops anyway do not count.
  record.interpolated = int(filled[usable].sum())
  if record.interpolated:
    _note(record, "interpolated", f"{record.interpolated} values in runs of at most "
          f"{options.max_fill} missing steps (max_fill)", count=record.interpolated)
  segments = _runs(usable)
  record.segments = len(segments)
  if len(segments) > 1 or not usable.all():
    _note(record, "segments", f"{len(segments)} segments: runs of over {options.max_fill} "
          "missing steps (or missing at the ends) break the series; no window crosses "
          "a break", count=len(segments))
  if not segments:
    records.reject(record, "no_complete_rows: every step misses a value")
    return done

  # Splits by time: the first 70% of the steps are train, and so on (split_percentages).
  split_percentages = [(name, dict(split_percentages)[name]) for name in
                       pipeline_config.SPLITS]           # in time order, whatever the dict's
  bounds = np.cumsum([p for _, p in split_percentages]) / 100.0 * steps
  split_names = [name for name, _ in split_percentages]
  step_split = np.array(split_names)[np.searchsorted(bounds, np.arange(steps), side="right")
                                     .clip(max=len(split_names) - 1)]
  segment_id = np.full(steps, -1, np.int64)
  for k, (start, end) in enumerate(segments):
    segment_id[start:end] = k
  keep = usable
  done.time_index = np.flatnonzero(keep)
  done.times = times[0] + done.time_index * frequency
  done.values = grid[keep]
  done.filled = filled[keep]
  done.segment = segment_id[keep]
  done.split = step_split[keep]
  record.kept_rows = int(keep.sum())
  record.start, record.end = iso(done.times[0]), iso(done.times[-1])
  record.rows_per_split = {s: int(np.sum(done.split == s)) for s in split_names}
  record.windows_per_split = {s: 0 for s in split_names}
  for chunk in chunks(done):
    record.windows_per_split[chunk.split] += windowing.count_windows(
        chunk.end - chunk.start, options.lookback, options.delay)
  record.quantiles = {name: [round(float(q), 6) for q in np.quantile(done.values[:, j],
                                                                      QUANTILES)]
                      for j, name in enumerate(features)}
  changes = [f"{kind} {entry['count']}"
             for kind, entry in sorted((record.findings or {}).items())
             if kind != "segments"]
  if changes or record.segments > 1:
    record.outcome = records.NORMALISED
    record.reason = "; ".join(changes + ([f"{record.segments} segments"]
                                         if record.segments > 1 else []))
  else:
    record.outcome = records.INGESTED
  return done


@dataclasses.dataclass
class Chunk:
  split: str
  segment: int
  start: int      # positions in the FinishedSeries arrays, [start, end)
  end: int


def chunks(done: FinishedSeries) -> List[Chunk]:
  """Runs of consecutive kept steps with one split and one segment."""
  if done.time_index is None or not len(done.time_index):
    return []
  n = len(done.time_index)
  breaks = np.flatnonzero((np.diff(done.time_index) != 1)
                          | (done.segment[1:] != done.segment[:-1])
                          | (done.split[1:] != done.split[:-1])) + 1
  edges = [0, *breaks.tolist(), n]
  return [Chunk(str(done.split[a]), int(done.segment[a]), a, b)
          for a, b in zip(edges[:-1], edges[1:])]
