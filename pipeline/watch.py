"""`python -m pipeline watch`: rerun the pipeline when a data drop lands, and the work-dir lock.

The watcher fingerprints the data root (every path and file content, spans included) and
the configuration every `--interval` seconds and runs the pipeline when the fingerprint
differs from the last run's, never when nothing changed. Each run appends one line to `<work-dir>/runs.jsonl`:
  {"started", "finished", "fingerprint", "status": "ok" | "failed", "span", "window",
   "spans_ingested", "blessed", "pushed_model", "error"}
A failed run is recorded and the watcher goes on; it is not retried until the data changes.
Ctrl-C stops the watcher between runs (a second Ctrl-C interrupts a run).

A work dir is held by one process at a time (`run` or `watch`): `<work-dir>/.lock` with
fcntl.flock; a second process exits with status 2 and names the holder.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import signal
import time
from typing import Callable, Iterator, Optional

import pipeline_config
from components.ingest import walk as ingest_walk

LOCK_FILE = ".lock"
RUNS_FILE = "runs.jsonl"
STATE_FILE = "watch_state.json"


@contextlib.contextmanager
def work_dir_lock(work_dir: str) -> Iterator[None]:
  """Holds `<work_dir>/.lock` for the duration; raises ToolkitError if another process does."""
  os.makedirs(work_dir, exist_ok=True)
  path = os.path.join(work_dir, LOCK_FILE)
  handle = open(path, "a+")
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    handle.seek(0)
    holder = handle.read().strip() or "unknown"
    handle.close()
    raise pipeline_config.ToolkitError(
        f"Another pipeline process ({holder}) is using the work dir {work_dir}; two runs "
        "never share one. Wait for it to finish, stop it, or pass another --work-dir.") from None
  try:
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    handle.flush()
    yield
  finally:
    handle.seek(0)
    handle.truncate()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


MANIFEST_FILE = "data_manifest.json"


def fingerprint(data_root: str, work_dir: Optional[str] = None) -> str:
  """The data root's content digest; unchanged files (size and mtime) are not read again."""
  return ingest_walk.content_fingerprint(
      data_root, os.path.join(work_dir, MANIFEST_FILE) if work_dir else None)


def _read_state(work_dir: str) -> dict:
  path = os.path.join(work_dir, STATE_FILE)
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):        # none yet, or cut short: the next look runs
    return {}


def _write_state(work_dir: str, state: dict) -> None:
  path = os.path.join(work_dir, STATE_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump(state, f, indent=1)
  os.replace(path + ".tmp", path)


def _settings(config: pipeline_config.PipelineConfig) -> str:
  """A digest of the configuration: new settings (say --on-new-class extend after a stop)
  are a reason to run even when the data did not change."""
  return hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True,
                                   default=str).encode()).hexdigest()[:16]


def _append_run(work_dir: str, entry: dict) -> None:
  with open(os.path.join(work_dir, RUNS_FILE), "a") as f:
    f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class _StopBetweenRuns:
  """The first Ctrl-C asks the watcher to stop after the current run; a second interrupts."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    self._previous = signal.signal(signal.SIGINT, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.requested:
      signal.signal(signal.SIGINT, self._previous)
      raise KeyboardInterrupt
    self.requested = True
    print("\n[watch] stopping after the current step (Ctrl-C again to interrupt it)",
          flush=True)

  def __exit__(self, *exc):
    signal.signal(signal.SIGINT, self._previous)
    return False


def watch(config: pipeline_config.PipelineConfig, run: Callable[[pipeline_config.PipelineConfig], dict],
          interval: float = 60.0, once: bool = False,
          max_runs: Optional[int] = None) -> int:
  """Runs `run(config)` whenever the data root's fingerprint changes; returns the number of
  pipeline runs. The caller holds the work-dir lock."""
  runs = 0
  with _StopBetweenRuns() as stop:
    while not stop.requested:
      try:
        current = f"{fingerprint(config.data_root, config.work_dir)}:{_settings(config)}"
      except OSError as error:         # a drop being copied in: look again next time
        print(f"[watch] could not read {config.data_root} ({error}); looking again later",
              flush=True)
        current = None
      state = _read_state(config.work_dir)
      if current is None:
        pass
      elif current == state.get("fingerprint"):
        print(f"[watch] no change under {config.data_root} since the run of "
              f"{state.get('finished')} ({state.get('status')}); nothing to do", flush=True)
      else:
        runs += 1
        entry = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "fingerprint": current}
        print(f"[watch] {'new data' if state else 'first run'} under {config.data_root}: "
              "running the pipeline", flush=True)
        try:
          summary = run(config)
          entry.update(status="ok", **{k: summary.get(k) for k in (
              "span", "window", "spans_ingested", "blessed", "pushed_model", "unchanged",
              "warm_started_from")})
        except Exception as error:  # pylint: disable=broad-except
          # A failed run is recorded; the watcher goes on with the next drop.
          message = (str(error) or type(error).__name__).splitlines()[0]
          entry.update(status="failed", error=message[:2000])
          print(f"[watch] the run failed: {entry['error']}", flush=True)
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _append_run(config.work_dir, entry)
        _write_state(config.work_dir, {"fingerprint": current, "status": entry["status"],
                                       "finished": entry["finished"]})
      if once or (max_runs is not None and runs >= max_runs):
        break
      deadline = time.monotonic() + interval
      while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(1.0, interval))
  return runs
