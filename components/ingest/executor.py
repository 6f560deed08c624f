"""The executor every folder ExampleGen shares: `<root>/[<span>/]<class>/<file>` -> TFRecords
of tf.Examples + an ingest report. A task subclasses it and sets TASK (an IngestTask).

Data drops (components/ingest/spans.py): the window's spans are ingested one by one, each
once: a span's ingestion is kept under the span cache, addressed by its files' content, the
settings and its classes' ids, and reused by later runs (hard links on a local disk). Label
ids come from the append-only vocabulary (components/ingest/vocabulary.py). The eval split
is the newest span's; older spans' eval examples are the `eval_history` split.

A span's files are ingested in one Beam pipeline: for a task whose content key is the raw
bytes' sha256 (images), in batches grouped by the fingerprint's hashes
(components/ingest/batches.py); otherwise through per-file steps grouped on the task's key
(components/ingest/transforms.py).

Output layout:
  {examples.uri}/Split-<split>/data_tfrecord-span<N>-*[.gz] tf.Example {<task features>, label,
                                                    label_name, sha256}; uncompressed by
                                                    default, GZIP with compression="gzip"
  {examples.uri}/labels.json                        the vocabulary: ["class_a", ...] (id = index)
  {ingest_report.uri}/ingest_report.{json,md}       see components/ingest/report.py
"""

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import pipeline_config
from components.ingest import batches as batch_lib, records, report as ingest_report
from components.ingest import spans as span_lib, transforms, vocabulary, \
    walk as ingest_walk
from components.ingest.task import IngestTask
from schemas import contracts

INPUT_BASE_KEY = "input_base"
INGEST_CONFIG_KEY = "ingest_config"
TASK_CONFIG_KEY = "task_config"
# example_gen_pb2.Input as JSON; its one split's pattern, resolved by the driver, names the
# newest span's folder.
INPUT_CONFIG_KEY = "input_config"
EXAMPLES_KEY = "examples"
INGEST_REPORT_KEY = "ingest_report"
LABELS_FILE = contracts.LABELS_FILE
# The label vocabulary's URI (components/ingest/vocabulary.py) and the per-span ingestion
# cache's root, both under the pipeline root; optional.
VOCABULARY_KEY = "vocabulary_uri"
SPAN_CACHE_KEY = "span_cache_uri"
# Eval examples of the window's older spans: not what the Evaluator judges (the newest span's
# eval split), kept apart so that no split mixes drops.
HISTORY_SPLIT = "eval_history"
ROWS_FILE = "rows.json"
SHARD_PREFIX = batch_lib.SHARD_PREFIX
DONE_FILE = "DONE"
SPAN_CACHE_VERSION = 2         # 2: shards written by the batched ingestion


read_label_names = contracts.read_label_names


_COMPRESSION = {"none": beam.io.filesystem.CompressionTypes.UNCOMPRESSED,
                "gzip": beam.io.filesystem.CompressionTypes.GZIP}


def resolved_newest_span(exec_properties: Dict[str, Any]) -> "int | None":
  """The newest span's number as the driver resolved it (None: a flat root, or no driver
  ran: the newest span under the root)."""
  config = exec_properties.get(INPUT_CONFIG_KEY)
  if not config:
    return None
  from tfx.proto import example_gen_pb2  # pylint: disable=import-outside-toplevel
  from tfx.utils import proto_utils  # pylint: disable=import-outside-toplevel
  parsed = proto_utils.json_to_proto(config, example_gen_pb2.Input()) if isinstance(
      config, str) else config
  return span_lib.newest_number(parsed.splits[0].pattern) if parsed.splits else None


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads <input_base>/[<span>/]<class>/<file>, writes Examples and an IngestReport."""
  TASK: IngestTask = None

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    root = exec_properties[INPUT_BASE_KEY]
    options = pipeline_config.from_dict(
        pipeline_config.IngestConfig, json.loads(exec_properties[INGEST_CONFIG_KEY]))
    options.validate()
    task = self.TASK
    task_config = exec_properties.get(TASK_CONFIG_KEY)
    task_options = task.parse_options(options, json.loads(task_config) if task_config else None)
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    report_artifact = artifact_utils.get_single_instance(output_dict[INGEST_REPORT_KEY])

    available = span_lib.detect_spans(root)
    chosen = span_lib.window_ending_at(available, resolved_newest_span(exec_properties),
                                       options.window)
    newest = chosen[-1]
    walks = [(span, ingest_walk.check_data_root(span.root(root), task.task, task.record_type))
             for span in chosen]
    class_names = sorted({c for _, w in walks for c in w.class_names})
    vocabulary_uri = exec_properties.get(VOCABULARY_KEY)
    vocab = (vocabulary.update(vocabulary_uri, class_names, newest.number, options.on_new_class,
                               commit=False)
             if vocabulary_uri else vocabulary.VocabularyUpdate(class_names, [], [], None))
    labels = {name: i for i, name in enumerate(vocab.names)}
    splits = [(name, options.split_percentages[name]) for name in pipeline_config.SPLITS]
    split_names = [name for name, _ in splits]
    cache_root = exec_properties.get(SPAN_CACHE_KEY) or os.path.join(examples.uri, "_spans")
    if newest.folder:
      print(f"[{task.name}] spans {[s.number for s in available]} under {root}; window "
            f"{[s.number for s in chosen]}", flush=True)

    rows, ingested = [], []
    split_files: Dict[str, list] = {name: [] for name in split_names + [HISTORY_SPLIT]}
    for span, walk in walks:
      manifest = f"{cache_root.rstrip('/')}/manifests/{span.folder or 'root'}.json"
      fingerprint, hashes = ingest_walk.fingerprint_and_hashes(span.root(root), manifest)
      span_dir = os.path.join(cache_root, _span_key(fingerprint, walk, labels, options,
                                                    task_config, task.name))
      where = f"span {span.number}" if span.folder else root
      if tf.io.gfile.exists(os.path.join(span_dir, DONE_FILE)):
        print(f"[{task.name}] {where}: reusing its ingestion (same files, same settings)",
              flush=True)
      else:
        print(f"[{task.name}] {where}: reading {len(walk.candidates)} files in "
              f"{len(walk.class_names)} classes", flush=True)
        self._ingest_span(walk, hashes, labels, splits, task, task_options, options, span_dir)
        ingested.append(span.number)
      with tf.io.gfile.GFile(os.path.join(span_dir, ROWS_FILE)) as f:
        span_rows = json.load(f)
      changed = [r["path"] for r in span_rows if r["reason"].startswith(records.CHANGED)]
      if changed:
        ingest_walk.forget_in_manifest(manifest, changed)   # hashed afresh next run
      older = span != newest
      for row in span_rows:
        row["path"] = f"{span.folder}/{row['path']}" if span.folder else row["path"]
        row["span"] = span.number
        if older and row["split"] == "eval":
          row["split"] = HISTORY_SPLIT        # judged when its span was the newest
      rows += span_rows
      for split in split_names:
        target = HISTORY_SPLIT if older and split == "eval" else split
        split_files[target] += [(span.number, path) for path in sorted(
            tf.io.gfile.glob(os.path.join(span_dir, f"Split-{split}", "*")))]

    out_splits = split_names + ([HISTORY_SPLIT] if split_files[HISTORY_SPLIT] else [])
    examples.split_names = artifact_utils.encode_split_names(out_splits)
    for split in out_splits:
      folder = os.path.join(examples.uri, f"Split-{split}")
      tf.io.gfile.makedirs(folder)
      for number, path in split_files[split]:
        name = os.path.basename(path).replace(SHARD_PREFIX, f"{SHARD_PREFIX}-span{number}", 1)
        _link_or_copy(path, os.path.join(folder, name))
    with tf.io.gfile.GFile(os.path.join(examples.uri, LABELS_FILE), "w") as f:
      json.dump(vocab.names, f, ensure_ascii=False)

    _cross_span_conflicts(rows)
    report = ingest_report.build_report(rows, class_names, task.profile)
    report["spans"] = {"available": [s.number for s in available],
                       "window": [s.number for s in chosen], "newest": newest.number,
                       "ingested": ingested}
    report["vocabulary"] = {"labels": vocab.names, "added": vocab.added,
                            "missing": vocab.missing, "previous": vocab.previous}
    ingest_report.write_report(report, report_artifact.uri)
    totals = report["totals"]
    for key in ("found", "ingested", "normalised", "rejected", "skipped"):
      report_artifact.set_int_custom_property(key, totals[key])
    report_artifact.set_int_custom_property("span", newest.number)
    examples.span = newest.number        # the Examples type's own property (TFX reads it)
    examples.set_string_custom_property("label_names", json.dumps(vocab.names))
    logging.info("%s: %s", task.name, totals)
    print(f"[{task.name}] found {totals['found']} files: {totals['ingested']} ingested, "
          f"{totals['normalised']} normalised, {totals['rejected']} rejected, "
          f"{totals['skipped']} skipped; per split {report['per_split']}"
          + (f"; new classes {vocab.added}" if vocab.added else "")
          + (f"; classes with no file in the window (ids kept): {vocab.missing}"
             if vocab.missing else ""), flush=True)

  def _ingest_span(self, walk, hashes, labels, splits, task, task_options, options,
                   span_dir: str) -> None:
    """One span's files -> span_dir/Split-<split>/ TFRecords and span_dir/rows.json."""
    split_names = [name for name, _ in splits]
    compression = _COMPRESSION[options.compression]
    suffix = ".gz" if options.compression == "gzip" else ""
    threads = options.decode_threads or os.cpu_count()
    if tf.io.gfile.exists(span_dir):
      tf.io.gfile.rmtree(span_dir)              # an interrupted ingestion
    with self._make_beam_pipeline() as p:
      if task.raw_content_key:
        groups = batch_lib.content_groups(walk.candidates, hashes)
        _ = (
            p
            | "ListBatches" >> beam.Create(batch_lib.write_batches(groups, hashes, span_dir),
                                           reshuffle=False)
            | "SpreadBatches" >> beam.GroupByKey()
            | "IngestBatches" >> beam.ParDo(batch_lib.IngestBatch(
                task, task_options, labels, splits, threads, span_dir, compression, suffix)))
      else:
        records = (
            p
            | "ListFiles" >> beam.Create(walk.candidates, reshuffle=False)
            | "KeyFiles" >> beam.Map(transforms.key_file, task, task_options)
            | "KeyByContent" >> beam.Map(transforms.content_key)
            | "GroupByContent" >> beam.GroupByKey()
            | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=64)
            | "DecideOncePerContent" >> beam.ParDo(transforms.DecideContent(
                task, task_options, labels, splits, threads)))
        by_split = records | "Partition" >> beam.Partition(
            transforms.split_index, len(split_names) + 1, split_names)
        for index, split in enumerate(split_names):
          _ = (
              by_split[index]
              | f"ToExample[{split}]" >> beam.Map(transforms.to_example, task)
              | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                  os.path.join(span_dir, f"Split-{split}", SHARD_PREFIX),
                  file_name_suffix=suffix, compression_type=compression))
        _ = (
            records
            | "ReportRows" >> beam.Map(transforms.report_row)
            | "CollectRows" >> beam.combiners.ToList()
            | "WriteRows" >> beam.Map(transforms.write_rows,
                                      [s.report_row() for s in walk.skipped],
                                      os.path.join(span_dir, ROWS_FILE)))
    if task.raw_content_key:
      rows = batch_lib.read_rows(span_dir) + [s.report_row() for s in walk.skipped]
      with tf.io.gfile.GFile(os.path.join(span_dir, ROWS_FILE), "w") as f:
        f.write(json.dumps(rows, ensure_ascii=False))
      for folder in (batch_lib.BATCHES_DIR, batch_lib.ROWS_DIR):
        tf.io.gfile.rmtree(os.path.join(span_dir, folder))
    with tf.io.gfile.GFile(os.path.join(span_dir, DONE_FILE), "w") as f:
      f.write("complete\n")


def _cross_span_conflicts(rows: List[dict]) -> None:
  """The same content filed under different classes in different spans is a label conflict
  (within a span, DecideContent already decides them); the max_label_conflicts gate judges
  these rows like any other conflict."""
  by_content: Dict[str, List[dict]] = {}
  for row in rows:
    if row["outcome"] in records.KEPT and row.get("sha256"):
      by_content.setdefault(row["sha256"], []).append(row)
  for group in by_content.values():
    classes = {r["class"] for r in group}
    if len(classes) < 2:
      continue
    for row in group:
      others = sorted(f"{r['class']} (span {r['span']})" for r in group
                      if r["class"] != row["class"])
      row["outcome"] = records.REJECTED
      row["reason"] = f"label_conflict: same content also filed under {', '.join(others)}"


def _span_key(fingerprint: str, walk, labels: Dict[str, int], options, task_config,
              task_name: str) -> str:
  """Content address of one span's ingestion: its files' paths and bytes, the settings, and
  the ids of its classes (append-only, so they only change if the vocabulary is reset)."""
  settings = {k: v for k, v in dataclasses.asdict(options).items()
              if k not in ("window", "on_new_class")}
  key = json.dumps({"version": SPAN_CACHE_VERSION, "task": task_name,
                    "files": fingerprint,
                    "labels": {c: labels[c] for c in walk.class_names},
                    "ingest": settings, "task_config": task_config}, sort_keys=True)
  return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _link_or_copy(source: str, target: str) -> None:
  """A hard link on a local disk (free), a copy elsewhere (gs://)."""
  if "://" not in source and "://" not in target:
    try:
      if os.path.exists(target):
        os.remove(target)
      os.link(source, target)
      return
    except OSError:
      pass
  tf.io.gfile.copy(source, target, overwrite=True)
