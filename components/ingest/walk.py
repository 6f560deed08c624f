"""The safe walk of a data root laid out as `<root>/<class>/<file>`, shared by every task.

Class folders are the non-hidden directories directly under the root, their names in Unicode
NFC. Hidden files, system files, symlinks leaving the root, symlink loops, unreadable folders
and anything that is not a regular file are listed as skipped (never opened), so every file
found has a row in the ingest report.

A root may be a local folder or a URI (gs://...). Local roots are listed with os.scandir, which
tells symlinks and special files apart; a URI root is listed through tf.io.gfile, where there
are no symlinks or special files and every object found is a file (one extra isdir request
per name that the store does not mark as a folder with a trailing "/").
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import posixpath
import stat
import unicodedata
from typing import Callable, Dict, List, Optional, Tuple

import pipeline_config
from components.ingest.records import SKIPPED, FileRecord, error_text, is_uri, tf

SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})


@dataclasses.dataclass
class WalkResult:
  class_names: List[str]
  candidates: List[FileRecord]   # to be decoded
  skipped: List[FileRecord]      # already decided


def _is_hidden(part: str) -> bool:
  return part.startswith(".")


@dataclasses.dataclass
class _UriEntry:
  """What the walk needs of an os.DirEntry, for a name listed through tf.io.gfile."""
  name: str
  path: str
  folder: bool

  def is_dir(self, follow_symlinks: bool = True) -> bool:  # pylint: disable=unused-argument
    return self.folder

  def is_symlink(self) -> bool:
    return False


def _list_folder(path: str) -> list:
  """The sorted entries of one folder: os.DirEntry objects locally, _UriEntry for a URI."""
  if not is_uri(path):
    with os.scandir(path) as listing:
      return sorted(listing, key=lambda e: e.name)
  entries = []
  for name in tf.io.gfile.listdir(path):
    bare = name.rstrip("/")        # object stores list a folder as "name/"
    if bare:
      full = posixpath.join(path, bare)
      entries.append(_UriEntry(bare, full, name.endswith("/") or tf.io.gfile.isdir(full)))
  return sorted(entries, key=lambda e: e.name)


def walk_data_root(root: str, make_record: Callable[..., FileRecord] = FileRecord,
                   classes: bool = True) -> WalkResult:
  """Lists every file under `root` (sorted), deciding the ones that are never opened.

  Class folders are the non-hidden directories directly under `root`; their names are
  normalised to Unicode NFC so the same name typed on macOS and Linux is one class.
  Symlinks (to files or folders) are followed only when their real path lies inside the data
  root; a symlinked folder that would loop back into itself is listed and not entered. A
  folder that cannot be read gets a row of its own, so nothing disappears from the count.
  Files that are not regular files (FIFOs, sockets, devices) are listed and never opened.
  With `classes=False` (time series: one series per file) every file is a candidate,
  wherever it lies, and has no class.
  """
  remote = is_uri(root)
  real_root = root if remote else os.path.realpath(root)
  class_names = set()
  candidates, skipped = [], []

  def inside_root(real: str) -> bool:
    return os.path.commonpath([real_root, real]) == real_root

  def class_of(rel: str) -> Optional[str]:
    parts = rel.split("/")
    if not classes:
      return None
    if len(parts) < 2 or _is_hidden(parts[0]):
      return None           # a hidden top-level folder (.git, .ipynb_checkpoints) is no class
    return unicodedata.normalize("NFC", parts[0])

  def skip(rel, reason, class_name=None):
    skipped.append(make_record(path=rel, outcome=SKIPPED, reason=reason, class_name=class_name))

  def visit_folder(full: str, rel_dir: str, open_folders: frozenset) -> None:
    try:
      entries = _list_folder(full)
    except (OSError, tf.errors.OpError) as e:
      skip(rel_dir or ".", f"unreadable_folder: {error_text(e)}",
           class_of(rel_dir + "/") if rel_dir else None)
      return
    for entry in entries:
      rel = _join(rel_dir, entry.name)
      try:
        is_dir = entry.is_dir(follow_symlinks=True)
      except OSError:
        is_dir = False
      if is_dir:
        visit_subfolder(entry, rel, open_folders)
      else:
        visit_file(entry, rel)

  def visit_subfolder(entry, rel: str, open_folders: frozenset) -> None:
    real = entry.path if remote else os.path.realpath(entry.path)
    if entry.is_symlink():
      if not inside_root(real):
        skip(rel, "symlink_outside_root", class_of(rel))
        return
      if real in open_folders:
        skip(rel, "symlink_loop: links back to a folder that contains it", class_of(rel))
        return
    if classes and "/" not in rel and not _is_hidden(entry.name):
      class_names.add(unicodedata.normalize("NFC", entry.name))
    visit_folder(entry.path, rel, open_folders | {real})

  def visit_file(entry, rel: str) -> None:
    class_name = class_of(rel)
    if any(_is_hidden(p) for p in rel.split("/")):
      skip(rel, "hidden_file", class_name)
      return
    if entry.name.lower() in SYSTEM_FILES:
      skip(rel, "system_file", class_name)
      return
    if class_name is None and classes:
      skip(rel, "not_in_class_folder")
      return
    source = entry.path
    if remote:                 # an object store has no symlinks and no special files
      candidates.append(make_record(path=rel, class_name=class_name, source=source))
      return
    if entry.is_symlink():
      target = os.path.realpath(entry.path)
      if not inside_root(target):
        skip(rel, "symlink_outside_root", class_name)
        return
      source = target
    try:
      mode = os.stat(source).st_mode
    except OSError as e:
      skip(rel, f"unreadable: {e.strerror}", class_name)
      return
    if not stat.S_ISREG(mode):
      skip(rel, "not_a_regular_file", class_name)
      return
    candidates.append(make_record(path=rel, class_name=class_name, source=source))

  visit_folder(root, "", frozenset({real_root}))
  return WalkResult(sorted(class_names), candidates, skipped)


def check_data_root(root: str, task: str = "image",
                    make_record: Callable[..., FileRecord] = FileRecord,
                    classes: bool = True) -> WalkResult:
  """Walks `root`, raising ToolkitError when there is nothing a pipeline could learn from."""
  if not (tf.io.gfile.isdir(root) if is_uri(root) else os.path.isdir(root)):
    layout = ("one subfolder per class (<root>/<class>/<files>)" if classes else
              "one CSV file per series")
    raise pipeline_config.ToolkitError(
        f"Data root {root} does not exist or is not a directory. Pass --data-root pointing to "
        f"a folder with {layout}, or create a demo set with 'python -m pipeline demo-data "
        f"--task {task} --output DIR'.")
  walk = walk_data_root(root, make_record, classes)
  if not classes:
    if not walk.candidates:
      raise pipeline_config.ToolkitError(
          f"Data root {root} has no files to read. Put one CSV file per series under it "
          "(a header row, a time column and numeric columns).")
    return walk
  if not walk.class_names:
    raise pipeline_config.ToolkitError(
        f"Data root {root} has no class folders. Put the files in one subfolder per class "
        "(<root>/<class>/<files>); the sorted folder names become the labels.")
  return walk


def _join(rel_dir: str, name: str) -> str:
  return f"{rel_dir}/{name}" if rel_dir else name


HASH_THREADS = 4


def content_fingerprint(root: str, manifest: Optional[str] = None) -> str:
  """A digest of every file's relative path and content under `root` (cache key).

  With `manifest` (a JSON file path or URI), a file whose stat signature matches the
  manifest's entry is not read again: its recorded sha256 is used. Locally the signature is
  (size, mtime_ns, inode, ctime_ns): a file edited and given its old mtime back (touch -r,
  rsync -t, a restore) still has a new ctime, which no user call can set, and a file
  replaced by another has a new inode. A URI's is (length, mtime), all an object store
  offers. Files that changed are hashed, and the manifest is rewritten with what was found.
  """
  return fingerprint_and_hashes(root, manifest)[0]


def fingerprint_and_hashes(root: str, manifest: Optional[str] = None
                           ) -> Tuple[str, Dict[str, Optional[str]]]:
  """content_fingerprint's digest, and the sha256 of each file found (relative path -> hex
  digest; None for a file that could not be read, which the ingestion then rejects)."""
  digest = hashlib.sha256()
  walk = walk_data_root(root, classes=False)      # every file's content, in a folder or not
  known = _read_manifest(manifest) if manifest else {}
  seen = {}
  ordered = sorted(walk.candidates + walk.skipped, key=lambda r: r.path)
  for record in ordered:
    if record.source:
      seen[record.path] = _size_and_mtime(record.source)
  changed = [r for r in ordered if r.source and seen[r.path] is not None and (
      known.get(r.path) is None or known[r.path][:-1] != seen[r.path])]
  # Reads and hashing release the GIL: changed files are hashed on threads (a bucket's
  # latency overlaps too); the digest is still built in path order.
  # One task per thread, not per file: a future per file costs a GIL hand-off each.
  chunks = [changed[i::HASH_THREADS] for i in range(HASH_THREADS)]
  with concurrent.futures.ThreadPoolExecutor(HASH_THREADS) as pool:
    hashed = {r.path: sha for chunk, shas in zip(chunks, pool.map(
        lambda chunk: [_file_sha256(r.source) for r in chunk], chunks))
              for r, sha in zip(chunk, shas)}
  hashes: Dict[str, Optional[str]] = {}
  for record in ordered:
    digest.update(record.path.encode("utf-8") + b"\0" + record.reason.encode() + b"\0")
    if record.source:
      sha = hashed.get(record.path) if record.path in hashed else (
          known[record.path][-1] if seen[record.path] is not None else None)
      hashes[record.path] = sha
      if sha is None:                 # unreadable: recorded by its error, never cached
        digest.update(b"unreadable")
        seen.pop(record.path)
      else:
        seen[record.path] = seen[record.path] + [sha]
        digest.update(sha.encode())
  if manifest and seen != known:
    _write_manifest(manifest, seen)
  return digest.hexdigest(), hashes


def _size_and_mtime(path: str) -> Optional[List[int]]:
  """The stat signature (content_fingerprint): [size, mtime_ns, inode, ctime_ns] locally,
  [length, mtime_ns] for a URI; None when the file cannot be stat'ed (ingestion says why)."""
  def stat():
    if is_uri(path):
      info = tf.io.gfile.stat(path)
      return [info.length, info.mtime_nsec]
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns]
  return _none_if_unreadable(stat, path)


def _none_if_unreadable(read: Callable[[], object], path: str):
  """read(), or None when `path` cannot be read: an OSError, or for a URI a tf.io error."""
  try:
    return read()
  except OSError:
    return None
  except Exception as e:  # pylint: disable=broad-except
    if not (is_uri(path) and isinstance(e, tf.errors.OpError)):
      raise
    return None


def forget_in_manifest(manifest: str, paths: List[str]) -> None:
  """Drops `paths` from the manifest, so that the next fingerprint hashes them again (their
  bytes changed while size and mtime did not, or while they were being ingested)."""
  entries = _read_manifest(manifest)
  if any(entries.pop(p, None) is not None for p in list(paths)):
    _write_manifest(manifest, entries)


def _read_manifest(path: str) -> dict:
  try:
    with tf.io.gfile.GFile(path) as f:
      return json.load(f)
  except (OSError, tf.errors.OpError, ValueError):
    return {}


def _write_manifest(path: str, entries: dict) -> None:
  tf.io.gfile.makedirs(os.path.dirname(path) or ".")
  # Write then rename: atomic on a local disk; on an object store the rename is a copy and a
  # delete, and a reader sees either the old manifest or the whole new one.
  with tf.io.gfile.GFile(path + ".tmp", "w") as f:
    f.write(json.dumps(entries))          # one write: GFile writes each json.dump chunk
  tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def _file_sha256(path: str) -> Optional[str]:
  """The file's sha256, or None when it cannot be read (the ingestion says why)."""
  def digest():
    h = hashlib.sha256()
    with (tf.io.gfile.GFile(path, "rb") if is_uri(path) else open(path, "rb")) as f:
      for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()
  return _none_if_unreadable(digest, path)
