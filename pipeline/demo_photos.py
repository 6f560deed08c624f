"""Real photos for the image demo, taken from Debian's gcompris-qt-data package.

GCompris's categorization activity ships photos, downscaled to 320 px on the long side and
stored as WebP, inside a Qt binary resource archive: `usr/share/gcompris-qt/rcc/
categorization.rcc` in gcompris-qt-data 3.1-2 (Debian 12 "bookworm"). The package is fetched once with
`apt-get download` (no install) and only that archive is unpacked; the archive is pinned by
its sha256 and cached, so later calls read neither the network nor the package. The four
default classes hold 123 photos: 110 from Wikimedia Commons, 10 from publicdomainpictures.net
(tools), 3 from maxpixel.net (monuments); 75 public domain, 47 CC0, 1 GPLv2+ (windmill6).

Layout written by `write_photos`:
  output/<class>/<name>.webp   the archive's bytes, unchanged (WebP; ingestion normalises it)
  output/LICENSES.md           each class's README as found in the archive: author, source
                               page and licence of every photo
"""

import hashlib
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zlib
from typing import Dict, Optional, Sequence

import pipeline_config

PACKAGE = "gcompris-qt-data"
PACKAGE_VERSION = "3.1-2"
DEB_SHA256 = "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f"
DEB_SIZE_MB = 44
RCC_MEMBER = "usr/share/gcompris-qt/rcc/categorization.rcc"
RCC_SHA256 = "984852ac8377a224c94e26a5bc8a13d0a589612030902c6d76c14509fef3c984"
IMAGES_DIR = "gcompris/src/activities/categorization/resource/images"
LICENSE_FILE = "README"

# Categories whose folder holds photos (28, 27, 29, 39 and 17 in the pinned archive).
# `others` is a grab-bag (balls, cups, a chair, an igloo...) that the game's boards mix in as
# wrong answers; `alphabets` and `numbers` hold SVG drawings of letters and digits (and one
# cover photo each), not photo classes.
PHOTO_CLASSES = ("fishes", "monuments", "renewable", "tools", "others")
DEFAULT_CLASSES = ("fishes", "monuments", "renewable", "tools")
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "transfer-toolkit")

OFFLINE_HINT = "--dataset digits needs no network and still works"
APT_TIMEOUT_S = 600


# --- Qt binary resource archives (rcc --binary) ------------------------------------------
# Layout, as Qt's rcc writes it (qtbase src/tools/rcc/rcc.cpp), every number big-endian:
#   header  "qres", version (1-3), tree offset, data offset, names offset, [v3: overall flags]
#   tree    nodes of 14 bytes (v1) or 22 (v2+, an 8-byte modification time appended):
#           name offset u32, flags u16, then for a directory child count u32 and the index of
#           its first child u32 (children are consecutive nodes), for a file territory u16,
#           language u16 and data offset u32. Node 0 is the root directory.
#   names   length u16 (UTF-16 code units), hash u32, the name in UTF-16BE
#   data    length u32, payload; a zlib-compressed payload is qCompress output: the
#           uncompressed length u32, then a zlib stream. Qt 6 may use zstd instead.

RCC_MAGIC = b"qres"
RCC_COMPRESSED = 0x01
RCC_DIRECTORY = 0x02
RCC_COMPRESSED_ZSTD = 0x04


def _unpack(blob: bytes, fmt: str, offset: int, what: str) -> tuple:
  if offset < 0 or offset + struct.calcsize(fmt) > len(blob):
    raise pipeline_config.ToolkitError(
        f"The Qt resource archive is truncated or corrupt: {what} at byte {offset} lies past "
        f"its end ({len(blob)} bytes).")
  return struct.unpack_from(fmt, blob, offset)


def _resource_name(blob: bytes, names: int, offset: int) -> str:
  (length,) = _unpack(blob, ">H", names + offset, "a name's length")
  start = names + offset + 6                  # after the length and the hash
  if start + 2 * length > len(blob):
    raise pipeline_config.ToolkitError(
        f"The Qt resource archive is truncated or corrupt: a name at byte {start} runs past "
        "its end.")
  return blob[start:start + 2 * length].decode("utf-16-be")


def _resource_data(blob: bytes, data: int, offset: int, flags: int, path: str) -> bytes:
  if flags & RCC_COMPRESSED_ZSTD:
    raise pipeline_config.ToolkitError(
        f"{path} in the Qt resource archive is zstd-compressed (Qt 6 rcc), which Python's "
        "standard library cannot decompress; only uncompressed and zlib entries are read.")
  (size,) = _unpack(blob, ">I", data + offset, f"the length of {path}")
  start = data + offset + 4
  if start + size > len(blob):
    raise pipeline_config.ToolkitError(
        f"The Qt resource archive is truncated or corrupt: {path} ({size} bytes at byte "
        f"{start}) runs past its end.")
  payload = blob[start:start + size]
  if not flags & RCC_COMPRESSED:
    return payload
  (expected,) = _unpack(payload, ">I", 0, f"the uncompressed length of {path}")
  try:
    content = zlib.decompress(payload[4:])
  except zlib.error as e:
    raise pipeline_config.ToolkitError(
        f"{path} in the Qt resource archive is marked zlib-compressed but does not "
        f"decompress: {e}") from None
  if len(content) != expected:
    raise pipeline_config.ToolkitError(
        f"{path} in the Qt resource archive decompressed to {len(content)} bytes; its header "
        f"says {expected}.")
  return content


def read_qt_resources(blob: bytes) -> Dict[str, bytes]:
  """Every file in a Qt binary resource archive, as {"dir/name": contents}, decompressed.

  Reads format versions 1 to 3 with uncompressed and zlib entries; raises ToolkitError for
  anything else (zstd entries, unknown flags, a damaged archive) rather than guessing.
  """
  if blob[:4] != RCC_MAGIC:
    raise pipeline_config.ToolkitError(
        f"Not a Qt resource archive: it starts with {blob[:4]!r}, not {RCC_MAGIC!r}.")
  version, tree, data, names = _unpack(blob, ">IIII", 4, "the header")
  if version not in (1, 2, 3):
    raise pipeline_config.ToolkitError(
        f"Qt resource archive format version {version} is not supported (1 to 3 are).")
  node_size = 14 if version == 1 else 22
  files = {}
  pending = [(0, "")]           # (directory node index, its path)
  seen = {0}
  while pending:
    index, prefix = pending.pop()
    (_, flags, count, first) = _unpack(blob, ">IHII", tree + index * node_size, "a directory")
    if not flags & RCC_DIRECTORY:
      raise pipeline_config.ToolkitError(
          f"Qt resource archive node {index} ({prefix or 'the root'}) is listed as a parent "
          "but is not a directory.")
    for child in range(first, first + count):
      at = tree + child * node_size
      name_offset, flags, locale, offset = _unpack(blob, ">IHII", at, f"tree node {child}")
      path = prefix + _resource_name(blob, names, name_offset)
      if flags & ~(RCC_COMPRESSED | RCC_DIRECTORY | RCC_COMPRESSED_ZSTD):
        raise pipeline_config.ToolkitError(
            f"{path} in the Qt resource archive has unknown flags 0x{flags:04x}.")
      if flags & RCC_DIRECTORY:
        if child in seen:
          raise pipeline_config.ToolkitError(
              f"The Qt resource archive's tree loops back at {path} (node {child}).")
        seen.add(child)
        pending.append((child, path + "/"))
        continue
      if path in files:
        raise pipeline_config.ToolkitError(
            f"{path} appears twice in the Qt resource archive (per-locale variants, locale "
            f"0x{locale:08x}); such archives are not supported.")
      files[path] = _resource_data(blob, data, offset, flags, path)
  return files


# --- Obtaining the archive ---------------------------------------------------------------


def _sha256(content: bytes) -> str:
  return hashlib.sha256(content).hexdigest()


def _require(tool: str, why: str) -> str:
  path = shutil.which(tool)
  if path is None:
    raise pipeline_config.ToolkitError(
        f"The photos demo dataset {why} with {tool}, which this machine lacks (it needs a "
        f"Debian or Ubuntu machine with dpkg and apt); {OFFLINE_HINT}.")
  return path


def _apt_get(args: Sequence[str], cwd: str) -> subprocess.CompletedProcess:
  try:
    return subprocess.run([_require("apt-get", f"downloads Debian's {PACKAGE} package"),
                           *args], cwd=cwd, capture_output=True, text=True,
                          timeout=APT_TIMEOUT_S, check=False)
  except subprocess.TimeoutExpired:
    raise pipeline_config.ToolkitError(
        f"apt-get {' '.join(args)} did not finish in {APT_TIMEOUT_S} s; the photos demo needs "
        f"Debian's mirrors once; {OFFLINE_HINT}.") from None


def _last_error(result: subprocess.CompletedProcess) -> str:
  lines = [l for l in (result.stderr + result.stdout).splitlines() if l.startswith("E:")]
  return lines[-1] if lines else (result.stderr.strip().splitlines() or ["no output"])[-1]


def _download_deb(folder: str) -> str:
  """Downloads the pinned package into `folder` (the mirror's current revision if the pinned
  one is gone: the archive's sha256 decides) and returns the .deb's path."""
  print(f"Downloading {PACKAGE} {PACKAGE_VERSION} ({DEB_SIZE_MB} MB) with apt-get ...")
  started = time.monotonic()
  request = f"{PACKAGE}={PACKAGE_VERSION}"
  result = _apt_get(["download", request], folder)
  if result.returncode and "Unable to locate package" in result.stderr:
    print("apt-get does not know the package yet; running apt-get update ...")
    update = _apt_get(["update"], folder)
    if update.returncode:
      raise pipeline_config.ToolkitError(
          f"apt-get update failed ({_last_error(update)}); it needs root and network access "
          f"to Debian's mirrors; {OFFLINE_HINT}.")
    result = _apt_get(["download", request], folder)
  if result.returncode and "was not found" in result.stderr:
    print(f"This mirror no longer offers {PACKAGE} {PACKAGE_VERSION}; trying its current "
          "revision (accepted only if its archive is the pinned one) ...")
    result = _apt_get(["download", PACKAGE], folder)
  if result.returncode:
    raise pipeline_config.ToolkitError(
        f"Could not download {PACKAGE} with apt-get ({_last_error(result)}). The photos demo "
        f"needs Debian's mirrors once (the archive is then cached), or pass the path of a "
        f"downloaded {PACKAGE}_{PACKAGE_VERSION}_all.deb; {OFFLINE_HINT}.")
  debs = sorted(n for n in os.listdir(folder) if n.startswith(f"{PACKAGE}_")
                and n.endswith(".deb"))
  if len(debs) != 1:
    raise pipeline_config.ToolkitError(
        f"apt-get download reported success but left {debs or 'no .deb'} in {folder}.")
  path = os.path.join(folder, debs[0])
  with open(path, "rb") as f:
    content = f.read()
  if debs[0] == f"{PACKAGE}_{PACKAGE_VERSION}_all.deb" and _sha256(content) != DEB_SHA256:
    raise pipeline_config.ToolkitError(
        f"{debs[0]} from the mirror has sha256 {_sha256(content)}, not the pinned "
        f"{DEB_SHA256}; refusing it.")
  print(f"Downloaded {debs[0]} ({len(content) / 1e6:.1f} MB) in "
        f"{time.monotonic() - started:.1f} s")
  return path


def _extract_member(deb: str, member: str) -> bytes:
  """One file of a .deb's data archive, streamed through dpkg-deb (nothing else unpacked)."""
  dpkg_deb = _require("dpkg-deb", f"unpacks {PACKAGE}")
  with subprocess.Popen([dpkg_deb, "--fsys-tarfile", deb], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE) as proc:
    content = None
    try:
      with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for info in tar:
          if os.path.normpath(info.name) == member and info.isfile():
            content = tar.extractfile(info).read()
            break
    except tarfile.TarError:
      pass                      # dpkg-deb's own message below says why
    finally:
      proc.stdout.close()       # stops dpkg-deb once the member is read
      error = proc.stderr.read().decode(errors="replace").strip()
  if content is None:
    raise pipeline_config.ToolkitError(
        f"{deb} has no {member}" + (f" (dpkg-deb: {error})" if error else "") +
        f"; pass a {PACKAGE}_{PACKAGE_VERSION}_all.deb.")
  return content


def load_archive(deb: Optional[str] = None, cache_dir: str = DEFAULT_CACHE_DIR) -> bytes:
  """The pinned categorization.rcc: from the cache, from `deb`, else downloaded with apt-get.

  Whatever the source, the archive must have the pinned sha256; it is then cached as
  `<cache_dir>/gcompris-qt-data-categorization.rcc` (3.3 MB) and the .deb is not kept.
  """
  cache_dir = os.path.expanduser(cache_dir)
  cached = os.path.join(cache_dir, f"{PACKAGE}-categorization.rcc")
  if deb is None and os.path.isfile(cached):
    with open(cached, "rb") as f:
      content = f.read()
    if _sha256(content) == RCC_SHA256:
      print(f"Using the cached {cached}")
      return content
    print(f"The cached {cached} does not match the pinned sha256; fetching it again")
  if deb is not None and not os.path.isfile(deb):
    raise pipeline_config.ToolkitError(f"No such .deb file: {deb}")
  os.makedirs(cache_dir, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
    source = deb or _download_deb(scratch)
    print(f"Unpacking {os.path.basename(RCC_MEMBER)} from {os.path.basename(source)} ...")
    content = _extract_member(source, RCC_MEMBER)
    if _sha256(content) != RCC_SHA256:
      raise pipeline_config.ToolkitError(
          f"{RCC_MEMBER} in {os.path.basename(source)} has sha256 {_sha256(content)}, not the "
          f"pinned {RCC_SHA256} of {PACKAGE} {PACKAGE_VERSION}; use a .deb of that version "
          f"(snapshot.debian.org keeps every version); {OFFLINE_HINT}.")
    partial = os.path.join(scratch, "archive.rcc")
    with open(partial, "wb") as f:
      f.write(content)
    os.replace(partial, cached)
  return content


# --- Writing the dataset -----------------------------------------------------------------


def _licenses_text(readmes: Dict[str, str], counts: Dict[str, int]) -> str:
  parts = [
      "# Photo credits and licences\n\n",
      f"The photos come from GCompris's categorization activity (https://gcompris.net/) as "
      f"packaged by Debian: {PACKAGE} {PACKAGE_VERSION}, `{RCC_MEMBER}` (sha256 "
      f"{RCC_SHA256}), folder `{IMAGES_DIR}`. The README that GCompris ships with each "
      "category, quoted below as found, names the author, the source page (mostly Wikimedia "
      "Commons) and the licence of every file.\n"]
  for name in sorted(readmes):
    parts.append(f"\n## {name} ({counts[name]} photos)\n\n````text\n"
                 f"{readmes[name].strip()}\n````\n")
  return "".join(parts)


def write_photos(output: str, classes: Sequence[str] = DEFAULT_CLASSES,
                 deb: Optional[str] = None, cache_dir: str = DEFAULT_CACHE_DIR) -> dict:
  """Writes GCompris's photos (mostly Wikimedia Commons) as `output/<class>/<name>.webp`.

  Also writes `output/LICENSES.md` with every photo's author, source and licence.

  `deb` is a downloaded gcompris-qt-data .deb; without it the package is downloaded with
  apt-get (once: the archive is cached under `cache_dir`). Returns
  {"counts": {class: photos}, "source": str, "licenses": path of LICENSES.md}.
  """
  unknown = [c for c in classes if c not in PHOTO_CLASSES]
  if unknown or not classes:
    raise ValueError(f"classes must be a non-empty selection of {PHOTO_CLASSES}. "
                     f"Received: classes={tuple(classes)}")
  files = read_qt_resources(load_archive(deb, cache_dir))
  counts, readmes = {}, {}
  for name in classes:
    folder = f"{IMAGES_DIR}/{name}/"
    photos = sorted(p for p in files if p.startswith(folder) and p.endswith(".webp")
                    and "/" not in p[len(folder):])
    os.makedirs(os.path.join(output, name), exist_ok=True)
    for path in photos:
      with open(os.path.join(output, name, path[len(folder):]), "wb") as f:
        f.write(files[path])
    counts[name] = len(photos)
    readmes[name] = files[folder + LICENSE_FILE].decode("utf-8")
  licenses = os.path.join(output, "LICENSES.md")
  with open(licenses, "w", encoding="utf-8") as f:
    f.write(_licenses_text(readmes, counts))
  print(f"Wrote {sum(counts.values())} photos ({', '.join(f'{c} {n}' for c, n in counts.items())})"
        f" and LICENSES.md to {output}")
  return {"counts": counts, "source": f"Debian {PACKAGE} {PACKAGE_VERSION}, {RCC_MEMBER} "
                                      f"(sha256 {RCC_SHA256[:12]}...)",
          "licenses": licenses}
