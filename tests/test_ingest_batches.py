"""The batched ingestion (components/ingest/batches.py): groups by the fingerprint's hashes,
batch files, the IngestBatch DoFn's shards and rows, and the executor over many batches."""

import glob
import json
import os
import shutil

import tensorflow as tf

import pipeline_config
from components.image_example_gen import image_checks
from components.ingest import batches, records, report as ingest_report, walk
from tests import image_factory
from tests.example_gen_helpers import read_examples, run_executor

SPLITS = [("train", 70), ("validation", 10), ("eval", 20)]


def _dofn(span_dir, threads=2):
  fn = batches.IngestBatch(image_checks.ImageIngest(), pipeline_config.IngestConfig(),
                           {"cat": 0, "dog": 1}, SPLITS, threads, span_dir,
                           "uncompressed", "")
  fn.setup()
  return fn


def _run_batches(root, span_dir, hashes=None, threads=2):
  """Walks root, writes its batch files and runs the DoFn on each, as a worker would."""
  found = walk.walk_data_root(root, image_checks.ImageRecord)
  if hashes is None:
    hashes = walk.fingerprint_and_hashes(root)[1]
  pairs = batches.write_batches(batches.content_groups(found.candidates, hashes), hashes,
                                span_dir)
  fn = _dofn(span_dir, threads)
  try:
    for index, path in pairs:
      assert list(fn.process((index, [path]))) == [
          len([r for g in _read_json(path) for r in g])]
  finally:
    fn.teardown()
  return {r["path"]: r for r in batches.read_rows(span_dir)}, pairs


def _read_json(path):
  import json  # pylint: disable=import-outside-toplevel
  with open(path) as f:
    return json.load(f)


def _examples(span_dir):
  out = {}
  for path in sorted(glob.glob(os.path.join(span_dir, "Split-*", "*"))):
    split = os.path.basename(os.path.dirname(path))[len("Split-"):]
    for raw in tf.data.TFRecordDataset(path):
      example = tf.train.Example.FromString(raw.numpy())
      sha = example.features.feature["sha256"].bytes_list.value[0].decode()
      out.setdefault(split, []).append(sha)
  return out


def test_identical_files_are_one_group_decided_once_whatever_their_batch(tmp_path, monkeypatch):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=20)
  shutil.copy(paths[0], os.path.join(root, "cat", "zz_copy.png"))      # same class
  shutil.copy(paths[0], os.path.join(root, "dog", "zz_conflict.png"))  # another class
  monkeypatch.setattr(batches, "MIN_BATCH", 3)
  monkeypatch.setattr(batches, "TARGET_BATCHES", 8)
  rows, pairs = _run_batches(root, str(tmp_path / "span"))

  assert len(pairs) > 4                        # 40 groups in batches of 5
  first = os.path.relpath(paths[0], root)
  assert {rows[p]["outcome"] for p in (first, "cat/zz_copy.png", "dog/zz_conflict.png")} == {
      "rejected"}
  assert all(rows[p]["reason"].startswith("label_conflict") for p in
             (first, "cat/zz_copy.png", "dog/zz_conflict.png"))
  assert len(rows) == 42
  kept = [r for r in rows.values() if r["outcome"] in records.KEPT]
  assert len(kept) == 39
  written = _examples(str(tmp_path / "span"))
  shas = [s for split in written.values() for s in split]
  assert sorted(shas) == sorted(r["sha256"] for r in kept)       # each content once
  for row in kept:
    assert row["sha256"] in written[row["split"]]
  # Every batch writes one shard per split (empty or not): a retry replaces them all.
  for split, _ in SPLITS:
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / f"span/Split-{split}/*")))
    assert names == [f"{batches.SHARD_PREFIX}-{i:05d}-of-{len(pairs):05d}"
                     for i in range(len(pairs))]


def test_a_duplicate_in_one_class_is_skipped_and_points_at_the_first(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  shutil.copy(paths[0], os.path.join(root, "cat", "zz_copy.png"))
  rows, _ = _run_batches(root, str(tmp_path / "span"), threads=1)
  first = os.path.relpath(paths[0], root)
  assert rows[first]["outcome"] == "ingested"
  assert rows["cat/zz_copy.png"]["outcome"] == "skipped"
  assert rows["cat/zz_copy.png"]["reason"] == f"duplicate_of: {first}"


def test_a_file_changed_since_the_fingerprint_is_rejected_and_its_twin_decides(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  twin = os.path.join(root, "cat", "zz_twin.png")
  shutil.copy(paths[0], twin)
  hashes = walk.fingerprint_and_hashes(root)[1]
  image_factory.save(image_factory.pattern(seed=77), paths[0], "PNG")  # after hashing
  rows, _ = _run_batches(root, str(tmp_path / "span"), hashes=hashes)
  first = os.path.relpath(paths[0], root)
  assert rows[first]["outcome"] == "rejected"
  assert rows[first]["reason"].startswith("changed_during_ingest")
  # The twin still has the listed bytes: it is read and decided on its own.
  assert rows["cat/zz_twin.png"]["outcome"] == "ingested"


def test_a_file_gone_before_hashing_is_rejected_unreadable(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  found = walk.walk_data_root(root, image_checks.ImageRecord)
  os.remove(paths[1])                                # listed, then gone
  digest, hashes = walk.fingerprint_and_hashes(root)
  gone = os.path.relpath(paths[1], root)
  assert gone not in hashes and digest
  pairs = batches.write_batches(batches.content_groups(found.candidates, hashes), hashes,
                                str(tmp_path / "span"))
  fn = _dofn(str(tmp_path / "span"))
  for index, path in pairs:
    list(fn.process((index, [path])))
  fn.teardown()
  rows = {r["path"]: r for r in batches.read_rows(str(tmp_path / "span"))}
  assert rows[gone]["outcome"] == "rejected" and rows[gone]["reason"].startswith("unreadable")
  assert len(rows) == 6


def test_the_fingerprint_gives_each_file_its_sha256(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=2)
  digest, hashes = walk.fingerprint_and_hashes(root)
  assert digest == walk.content_fingerprint(root)
  import hashlib  # pylint: disable=import-outside-toplevel
  for path in paths:
    with open(path, "rb") as f:
      assert hashes[os.path.relpath(path, root)] == hashlib.sha256(f.read()).hexdigest()


def test_the_executor_over_many_batches_matches_one_batch(tmp_path, monkeypatch):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=24)
  one, one_report = run_executor(root, str(tmp_path / "one"))
  monkeypatch.setattr(batches, "MIN_BATCH", 2)
  many, many_report = run_executor(root, str(tmp_path / "many"))
  for split in pipeline_config.SPLITS:
    a = sorted(r["sha256"] for r in read_examples(one.uri, split))
    b = sorted(r["sha256"] for r in read_examples(many.uri, split))
    assert a == b
  assert len(glob.glob(os.path.join(many.uri, "Split-train", "*"))) > len(
      glob.glob(os.path.join(one.uri, "Split-train", "*")))
  assert ingest_report.read_report(one_report.uri)["files"] == ingest_report.read_report(
      many_report.uri)["files"]
  # Nothing of the batches is left beside the cached span.
  assert not glob.glob(str(tmp_path / "many" / "**" / batches.BATCHES_DIR), recursive=True)
  assert not glob.glob(str(tmp_path / "many" / "**" / batches.ROWS_DIR), recursive=True)


def test_gzip_shards_read_back_with_tensorflow(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=6)
  examples, _ = run_executor(root, str(tmp_path / "out"),
                             pipeline_config.IngestConfig(compression="gzip"))
  files = glob.glob(os.path.join(examples.uri, "Split-*", "*"))
  assert files and all(f.endswith(".gz") for f in files)
  assert sum(len(read_examples(examples.uri, s)) for s in pipeline_config.SPLITS) == 12


def test_records_written_in_parts_are_what_tensorflow_writes(tmp_path, monkeypatch):
  from components.ingest.example_encoding import example_parts  # pylint: disable=import-outside-toplevel
  examples = [example_parts({"image": os.urandom(n), "label": n}) for n in (1, 300, 70000)]
  ours = str(tmp_path / "ours.tfrecord")
  with open(ours, "wb") as f:
    for parts in examples:
      batches._write_record(f, parts)  # pylint: disable=protected-access
  theirs = str(tmp_path / "theirs.tfrecord")
  with tf.io.TFRecordWriter(theirs) as writer:
    for parts in examples:
      writer.write(b"".join(parts))
  with open(ours, "rb") as a, open(theirs, "rb") as b:
    assert a.read() == b.read()
  # Without google-crc32c's extend the parts are joined and checksummed by Beam's function.
  monkeypatch.setattr(batches, "_crc32c_extend", None)
  from apache_beam.io import tfrecordio  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(batches, "_crc32c", tfrecordio._default_crc32c_fn)  # pylint: disable=protected-access
  slow = str(tmp_path / "slow.tfrecord")
  with open(slow, "wb") as f:
    for parts in examples:
      batches._write_record(f, parts)  # pylint: disable=protected-access
  with open(slow, "rb") as a, open(theirs, "rb") as b:
    assert a.read() == b.read()


def test_a_duplicate_changed_since_the_fingerprint_is_rejected_not_taken_as_a_copy(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  twin = os.path.join(root, "cat", "zz_twin.png")
  shutil.copy(paths[0], twin)
  hashes = walk.fingerprint_and_hashes(root)[1]
  image_factory.save(image_factory.pattern(seed=78), twin, "PNG")       # after hashing
  rows, _ = _run_batches(root, str(tmp_path / "span"), hashes=hashes)
  assert rows[os.path.relpath(paths[0], root)]["outcome"] == "ingested"
  assert rows["cat/zz_twin.png"]["outcome"] == "rejected"
  assert rows["cat/zz_twin.png"]["reason"].startswith(records.CHANGED)


def test_a_file_emptied_since_the_fingerprint_does_not_reject_its_twin(tmp_path):
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  first = os.path.relpath(paths[0], root)
  shutil.copy(paths[0], os.path.join(root, "cat", "zz_twin.png"))
  hashes = walk.fingerprint_and_hashes(root)[1]
  open(paths[0], "wb").close()                                          # emptied
  rows, _ = _run_batches(root, str(tmp_path / "span"), hashes=hashes)
  assert rows[first]["outcome"] == "rejected" and rows[first]["reason"] == "empty_file"
  assert rows["cat/zz_twin.png"]["outcome"] == "ingested"


def test_a_stale_manifest_entry_is_rejected_once_then_hashed_again(tmp_path):
  """Bytes changed with size and mtime kept: the manifest's hash is stale. The worker's read
  finds it out; the entry is dropped, so the next run hashes the file and ingests it."""
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=3)
  bmp = os.path.join(root, "dog", "zz.bmp")
  image_factory.save(image_factory.pattern(seed=5), bmp, "BMP")
  cache = str(tmp_path / "cache")
  manifest = f"{cache}/manifests/root.json"
  walk.fingerprint_and_hashes(root, manifest)           # an earlier run's manifest
  stat = os.stat(bmp)
  with open(bmp, "r+b") as f:                           # same size, other pixels
    f.seek(-3, os.SEEK_END)
    f.write(b"\x01\x02\x03")
  os.utime(bmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
  # Locally the new ctime gives the edit away; on an object store (size and mtime only) the
  # manifest would still trust the old hash: make its entry match the file's stat again.
  entries = _read_json(manifest)
  entries["dog/zz.bmp"] = walk._size_and_mtime(bmp) + [entries["dog/zz.bmp"][-1]]  # pylint: disable=protected-access
  with open(manifest, "w") as f:
    json.dump(entries, f)
  extra = {"span_cache_uri": cache}
  _, report = run_executor(root, str(tmp_path / "out1"), extra_properties=extra)
  row = {r["path"]: r for r in ingest_report.read_report(report.uri)["files"]}["dog/zz.bmp"]
  assert row["outcome"] == "rejected" and row["reason"].startswith(records.CHANGED)
  assert "dog/zz.bmp" not in _read_json(manifest)
  _, report = run_executor(root, str(tmp_path / "out2"), extra_properties=extra)
  row = {r["path"]: r for r in ingest_report.read_report(report.uri)["files"]}["dog/zz.bmp"]
  assert row["outcome"] == "normalised"                 # BMP re-encoded as PNG
