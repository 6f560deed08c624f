"""The photos demo: the Qt resource reader on archives built here, the apt-get failure
messages with a stand-in apt-get, and (slow) the real gcompris-qt-data package."""

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import zlib

import pytest

import pipeline_config
from pipeline import demo_data, demo_photos

WEBP_FILE = b"RIFF\x0c\x00\x00\x00WEBPVP8 " + bytes(range(40))   # not decodable, magic only
README = ("Copyright: Someone\nSource: https://commons.wikimedia.org/wiki/File:A.jpg\n"
          "License: CC0-1.0\nFiles:\na.webp\n\n" * 4)


def qt_hash(name: str) -> int:
  """Qt's qt_hash over UTF-16 code units, which rcc stores with each name."""
  h = 0
  for unit in struct.unpack(f">{len(name)}H", name.encode("utf-16-be")):
    h = ((h << 4) + unit) & 0xFFFFFFFF
    h ^= (h & 0xF0000000) >> 23
    h &= 0x0FFFFFFF
  return h


def build_rcc(files: dict, compressed=(), version: int = 3) -> bytes:
  """A binary rcc archive laid out as Qt's rcc writes one (header, data, names, tree).

  Tree nodes are numbered breadth first, so each directory's children are consecutive, and
  siblings are sorted by name hash as Qt sorts them.
  """
  root = {}
  for path, content in files.items():
    *folders, leaf = path.split("/")
    node = root
    for folder in folders:
      node = node.setdefault(folder, {})
    node[leaf] = (path, content)
  nodes, first_child, queue = [("", root)], {}, [0]
  while queue:
    index = queue.pop(0)
    value = nodes[index][1]
    if isinstance(value, dict):
      first_child[index] = len(nodes)
      for name in sorted(value, key=qt_hash):
        nodes.append((name, value[name]))
        queue.append(len(nodes) - 1)
  data, names, name_offsets, tree = bytearray(), bytearray(), {}, bytearray()
  for index, (name, value) in enumerate(nodes):
    if name not in name_offsets:
      name_offsets[name] = len(names)
      names += struct.pack(">HI", len(name), qt_hash(name)) + name.encode("utf-16-be")
    if isinstance(value, dict):
      tree += struct.pack(">IHII", name_offsets[name], 0x02, len(value), first_child[index])
    else:
      path, content = value
      payload, flags = content, 0x00
      if path in compressed:
        payload, flags = struct.pack(">I", len(content)) + zlib.compress(content), 0x01
      tree += struct.pack(">IHHHI", name_offsets[name], flags, 0, 1, len(data))
      data += struct.pack(">I", len(payload)) + payload
    if version >= 2:
      tree += struct.pack(">Q", 1_676_732_580_000)       # modification time, ms
  header_size = 24 if version >= 3 else 20
  names_at = header_size + len(data)
  tree_at = names_at + len(names)
  header = b"qres" + struct.pack(">IIII", version, tree_at, header_size, names_at)
  if version >= 3:
    header += struct.pack(">I", 0x01 if compressed else 0x00)
  return header + bytes(data) + bytes(names) + bytes(tree)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reads_files_from_an_rcc_archive_built_here(version):
  readme = README.encode("utf-8")
  blob = build_rcc({"images/fishes/README": readme, "images/fishes/café.webp": WEBP_FILE},
                   compressed={"images/fishes/README"}, version=version)
  assert len(zlib.compress(readme)) < len(readme) // 2    # the README really is compressed
  files = demo_photos.read_qt_resources(blob)
  assert files == {"images/fishes/README": readme, "images/fishes/café.webp": WEBP_FILE}


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"qrez" + b[4:], "Not a Qt resource archive"),
    (lambda b: b[:4] + struct.pack(">I", 9) + b[8:], "format version 9 is not supported"),
    (lambda b: b[:-30], "truncated or corrupt"),
])
def test_damaged_archives_raise_a_clear_error(damage, message):
  blob = build_rcc({"a/b.webp": WEBP_FILE})
  with pytest.raises(pipeline_config.ToolkitError, match=message):
    demo_photos.read_qt_resources(damage(blob))


def test_zstd_entries_are_refused_by_name():
  blob = bytearray(build_rcc({"a/b.webp": WEBP_FILE}))
  file_node = len(blob) - 22       # the last node is the file; its flags follow the name offset
  struct.pack_into(">H", blob, file_node + 4, demo_photos.RCC_COMPRESSED_ZSTD)
  with pytest.raises(pipeline_config.ToolkitError, match="a/b.webp .* zstd-compressed"):
    demo_photos.read_qt_resources(bytes(blob))


def fake_apt_get(folder, script: str) -> str:
  """Puts an `apt-get` that runs `script` (sh) first on PATH; it logs its arguments."""
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, "apt-get")
  with open(path, "w", encoding="utf-8") as f:
    f.write(f'#!/bin/sh\necho "$@" >> {folder}/calls\n{script}\n')
  os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
  return os.path.join(folder, "calls")


def test_no_apt_get_says_what_it_needs_and_that_digits_works(tmp_path, monkeypatch):
  monkeypatch.setenv("PATH", str(tmp_path / "empty"))
  with pytest.raises(pipeline_config.ToolkitError, match="apt-get, which this machine lacks.*"
                     "--dataset digits"):
    demo_photos.write_photos(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))


def test_no_network_to_the_mirror_is_a_clear_error(tmp_path, monkeypatch):
  calls = fake_apt_get(str(tmp_path / "bin"), "echo 'E: Failed to fetch http://deb.debian.org"
                       "/x  Temporary failure resolving' >&2; exit 100")
  monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
  with pytest.raises(pipeline_config.ToolkitError, match="Could not download .*Failed to "
                     "fetch.*needs Debian's mirrors once.*--dataset digits"):
    demo_photos.write_photos(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
  with open(calls, encoding="utf-8") as f:
    assert f.read().split("\n")[:-1] == [
        f"download {demo_photos.PACKAGE}={demo_photos.PACKAGE_VERSION}"]


def test_unknown_package_runs_apt_get_update_once(tmp_path, monkeypatch):
  calls = fake_apt_get(str(tmp_path / "bin"), "echo 'E: Unable to locate package x' >&2; "
                       "[ \"$1\" = update ] && echo 'E: Could not open lock file' >&2; exit 100")
  monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
  with pytest.raises(pipeline_config.ToolkitError, match="apt-get update failed.*needs root"):
    demo_photos.write_photos(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
  with open(calls, encoding="utf-8") as f:
    assert [c.split()[0] for c in f.read().split("\n")[:-1]] == ["download", "update"]


def test_writes_class_folders_and_licences_from_a_cached_archive(tmp_path, monkeypatch):
  members = {}
  for name in demo_photos.PHOTO_CLASSES:
    folder = f"{demo_photos.IMAGES_DIR}/{name}"
    members[f"{folder}/README"] = f"{name}\n{README}".encode("utf-8")
    members[f"{folder}/{name}1.webp"] = WEBP_FILE
    members[f"{folder}/{name}2.webp"] = WEBP_FILE[::-1]
  members[f"{demo_photos.IMAGES_DIR}/numbers/00.svg"] = b"<svg/>"
  blob = build_rcc(members, compressed={p for p in members if p.endswith("README")})
  os.makedirs(tmp_path / "cache")
  (tmp_path / "cache" / f"{demo_photos.PACKAGE}-categorization.rcc").write_bytes(blob)
  monkeypatch.setattr(demo_photos, "RCC_SHA256", hashlib.sha256(blob).hexdigest())
  monkeypatch.setenv("PATH", str(tmp_path / "empty"))     # proves nothing is downloaded
  output = tmp_path / "out"
  result = demo_photos.write_photos(str(output), classes=("tools", "fishes"),
                                    cache_dir=str(tmp_path / "cache"))
  assert result["counts"] == {"tools": 2, "fishes": 2}
  assert sorted(os.listdir(output)) == ["LICENSES.md", "fishes", "tools"]
  assert (output / "tools" / "tools2.webp").read_bytes() == WEBP_FILE[::-1]
  licenses = (output / "LICENSES.md").read_text(encoding="utf-8")
  assert "## fishes (2 photos)" in licenses and "## tools (2 photos)" in licenses
  assert licenses.count("Source: https://commons.wikimedia.org/") == 8
  assert "mostly Wikimedia" in licenses


def build_deb(folder, rcc: bytes, version: str = "3.1-2") -> str:
  """A gcompris-qt-data .deb holding `rcc` as categorization.rcc, built with dpkg-deb."""
  if shutil.which("dpkg-deb") is None:
    pytest.skip("needs dpkg-deb (a Debian or Ubuntu machine) to build a .deb")
  package = os.path.join(folder, "pkg")
  os.makedirs(os.path.join(package, "DEBIAN"))
  with open(os.path.join(package, "DEBIAN", "control"), "w", encoding="utf-8") as f:
    f.write(f"Package: {demo_photos.PACKAGE}\nVersion: {version}\nArchitecture: all\n"
            "Maintainer: test <t@example.org>\nDescription: test\n")
  member = os.path.join(package, demo_photos.RCC_MEMBER)
  os.makedirs(os.path.dirname(member))
  with open(member, "wb") as f:
    f.write(rcc)
  deb = os.path.join(folder, f"{demo_photos.PACKAGE}_{version}_all.deb")
  subprocess.run(["dpkg-deb", "--build", "--root-owner-group", package, deb], check=True,
                 capture_output=True)
  return deb


def test_a_deb_without_the_pinned_archive_is_refused(tmp_path):
  deb = build_deb(str(tmp_path), build_rcc({"a/b.webp": WEBP_FILE}))
  with pytest.raises(pipeline_config.ToolkitError, match="categorization.rcc in .*3.1-2_all.deb "
                     "has sha256 .*, not the pinned"):
    demo_photos.write_photos(str(tmp_path / "out"), deb=deb, cache_dir=str(tmp_path / "c"))


def test_a_newer_revision_is_tried_when_the_pinned_one_is_gone(tmp_path, monkeypatch):
  deb = build_deb(str(tmp_path), build_rcc({"a/b.webp": WEBP_FILE}), version="3.1-3")
  calls = fake_apt_get(str(tmp_path / "bin"), f"""case "$2" in
  *=*) echo "E: Version '3.1-2' for 'gcompris-qt-data' was not found" >&2; exit 100;;
  *) cp {deb} .;;
esac""")
  monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
  with pytest.raises(pipeline_config.ToolkitError, match="3.1-3_all.deb has sha256 .*, not "
                     "the pinned"):
    demo_photos.write_photos(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
  with open(calls, encoding="utf-8") as f:
    assert f.read().split("\n")[:-1] == [
        f"download {demo_photos.PACKAGE}={demo_photos.PACKAGE_VERSION}",
        f"download {demo_photos.PACKAGE}"]


def test_classes_that_are_not_photos_are_rejected(tmp_path):
  with pytest.raises(ValueError, match=r"Received: classes=\('numbers',\)"):
    demo_photos.write_photos(str(tmp_path), classes=("numbers",))


def test_write_demo_data_names_the_image_datasets(tmp_path):
  with pytest.raises(pipeline_config.ToolkitError, match="choose digits or photos"):
    demo_data.write_demo_data("image", str(tmp_path), dataset="flowers")
  with pytest.raises(pipeline_config.ToolkitError, match="--dataset is for --task image"):
    demo_data.write_demo_data("text", str(tmp_path), dataset="photos")


def test_write_demo_data_writes_photos_for_the_image_task(tmp_path, monkeypatch):
  written = []
  monkeypatch.setattr(demo_photos, "write_photos", lambda output: written.append(output) or {
      "counts": {"fishes": 28, "tools": 39}})
  summary = demo_data.write_demo_data("image", str(tmp_path), dataset="photos")
  assert written == [str(tmp_path)]
  assert summary.startswith("Wrote 67 photos") and "fishes 28, tools 39" in summary


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None,
                    reason="needs apt-get and dpkg-deb (a Debian or Ubuntu machine) and "
                    "Debian's mirrors to download gcompris-qt-data")
def test_real_package_gives_four_photo_classes_with_licences(tmp_path, monkeypatch):
  output, cache = tmp_path / "photos", str(tmp_path / "cache")
  result = demo_photos.write_photos(str(output), cache_dir=cache)      # downloads the .deb
  expected = {"fishes": 28, "monuments": 27, "renewable": 29, "tools": 39}
  assert result["counts"] == expected
  for name, count in expected.items():
    files = sorted(os.listdir(output / name))
    assert len(files) == count and all(f.endswith(".webp") for f in files)
    for file_name in files:
      head = (output / name / file_name).read_bytes()[:12]
      assert head[:4] == b"RIFF" and head[8:] == b"WEBP", file_name
  licenses = (output / "LICENSES.md").read_text(encoding="utf-8")
  for name, count in expected.items():
    section = licenses.split(f"## {name} ({count} photos)")[1].split("\n## ")[0]
    assert section.count("\nSource: https://") == count      # 110 of 123 on Wikimedia Commons
    assert section.count("\nLicense: ") == count
  monkeypatch.setenv("PATH", str(tmp_path / "empty"))     # a second call reads the cache only
  again = demo_photos.write_photos(str(tmp_path / "again"), classes=("others",), cache_dir=cache)
  assert again["counts"] == {"others": 17}
