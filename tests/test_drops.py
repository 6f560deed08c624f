"""Data drops: span layouts, the append-only label vocabulary, the work-dir lock."""

import json
import os
import subprocess
import sys

import pytest

import pipeline_config
from components.ingest import spans, vocabulary
from pipeline import watch
from tests import image_factory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_span_folders_dated_folders_and_a_flat_root(tmp_path):
  for name in ("span-2", "span-10", "span-1", ".git"):
    (tmp_path / "a" / name / "cat").mkdir(parents=True)
  assert [(s.number, s.folder) for s in spans.detect_spans(str(tmp_path / "a"))] == [
      (1, "span-1"), (2, "span-2"), (10, "span-10")]
  assert [s.number for s in spans.window(spans.detect_spans(str(tmp_path / "a")), 2)] == [2, 10]
  for name in ("2024-03-01", "2024-02-29"):
    (tmp_path / "b" / name / "dog").mkdir(parents=True)
  assert [s.number for s in spans.detect_spans(str(tmp_path / "b"))] == [20240229, 20240301]
  (tmp_path / "c" / "cat").mkdir(parents=True)
  assert spans.detect_spans(str(tmp_path / "c")) == [spans.Span(0, None)]


@pytest.mark.parametrize("folders, message", [
    (["span-1", "cat"], "mixes drop folders (span-1) with other entries (cat)"),
    (["span-1", "2024-01-01"], "mixes span-<N> folders"),
    (["span-1", "span-01"], "Two folders name the same span: span-01 and span-1"),
    (["2024-02-30"], "is not a date"),
])
def test_a_root_mixing_layouts_is_a_clear_error(tmp_path, folders, message):
  for name in folders:
    (tmp_path / name).mkdir()
  with pytest.raises(pipeline_config.ToolkitError, match=message.replace("(", r"\(")
                     .replace(")", r"\)")):
    spans.detect_spans(str(tmp_path))


def test_the_vocabulary_is_append_only(tmp_path):
  uri = str(tmp_path / "vocab" / "labels.json")
  first = vocabulary.update(uri, ["dog", "cat"], 1, "fail")
  assert first.names == ["cat", "dog"] and first.previous is None and first.added == []
  with pytest.raises(pipeline_config.ToolkitError, match="Span 3 brings new classes bird"):
    vocabulary.update(uri, ["bird", "cat", "dog"], 3, "fail")
  assert vocabulary.read(uri) == ["cat", "dog"]              # unchanged by the failure
  grown = vocabulary.update(uri, ["bird", "cat"], 3, "extend")
  assert grown.names == ["cat", "dog", "bird"]               # earlier ids keep their meaning
  assert grown.added == ["bird"] and grown.missing == ["dog"]
  assert vocabulary.read(uri) == ["cat", "dog", "bird"]


def test_a_second_process_on_one_work_dir_exits_2_with_a_message(tmp_path):
  root = str(tmp_path / "data")
  image_factory.class_folder_dataset(root, per_class=2)
  work = str(tmp_path / "work")
  with watch.work_dir_lock(work):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "watch", "--once", "--data-root", root,
         "--work-dir", work], capture_output=True, text=True, cwd=REPO)
  assert result.returncode == 2
  assert f"Another pipeline process (pid {os.getpid()}" in result.stderr
  assert "Traceback" not in result.stderr
  with watch.work_dir_lock(work):                   # released: the next holder gets it
    pass


def test_a_root_mixing_spans_and_classes_stops_the_cli(tmp_path):
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root / "span-1"), per_class=2)
  image_factory.class_folder_dataset(str(root), per_class=2)
  result = subprocess.run(
      [sys.executable, "-m", "pipeline", "run", "--data-root", str(root), "--work-dir",
       str(tmp_path / "w")], capture_output=True, text=True, cwd=REPO)
  assert result.returncode == 2 and "mixes drop folders" in result.stderr


def test_watch_runs_on_change_only_records_failures_and_goes_on(tmp_path):
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root / "span-1"), per_class=2)
  config = pipeline_config.PipelineConfig(data_root=str(root), work_dir=str(tmp_path / "w"))
  calls = []

  def run(cfg):
    calls.append(cfg.data_root)
    if len(calls) == 2:
      raise pipeline_config.ToolkitError("Data gate breached: min_classes")
    return {"span": len(calls), "window": [1], "blessed": True, "pushed_model": "/m"}

  os.makedirs(config.work_dir)
  assert watch.watch(config, run, once=True) == 1
  assert watch.watch(config, run, once=True) == 0            # nothing changed
  image_factory.class_folder_dataset(str(root / "span-2"), per_class=2)
  assert watch.watch(config, run, once=True) == 1            # fails, recorded
  assert watch.watch(config, run, once=True) == 0            # not retried on the same data
  config.ingest.on_new_class = "extend"                      # new settings: a reason to run
  assert watch.watch(config, run, once=True) == 1
  lines = [json.loads(l) for l in open(os.path.join(config.work_dir, watch.RUNS_FILE))]
  assert [l["status"] for l in lines] == ["ok", "failed", "ok"]
  assert lines[1]["error"] == "Data gate breached: min_classes"
  assert lines[0]["span"] == 1 and lines[2]["blessed"] is True


def test_watch_keeps_looking_until_the_run_limit(tmp_path):
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root), per_class=2)
  config = pipeline_config.PipelineConfig(data_root=str(root), work_dir=str(tmp_path / "w"))
  os.makedirs(config.work_dir)
  seen = []

  def run(cfg):
    seen.append(1)
    image_factory.class_folder_dataset(str(root / f"more{len(seen)}"), per_class=1)
    return {}
  assert watch.watch(config, run, interval=0.01, max_runs=3) == 3


def test_each_span_is_ingested_once_and_the_newest_eval_is_judged(tmp_path):
  from components.ingest import executor as ingest_executor   # pylint: disable=import-outside-toplevel
  from tests.example_gen_helpers import read_examples, run_executor
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root / "span-1"), per_class=12)
  cache = str(tmp_path / "cache")
  vocab = str(tmp_path / "vocabulary.json")

  def ingest(out):
    examples, report = run_executor(str(root), str(tmp_path / out), extra_properties={
        ingest_executor.SPAN_CACHE_KEY: cache, ingest_executor.VOCABULARY_KEY: vocab})
    with open(os.path.join(report.uri, "ingest_report.json")) as f:
      return examples, json.load(f)

  _, first = ingest("one")
  assert first["spans"]["ingested"] == [1] and first["vocabulary"]["labels"] == ["cat", "dog"]
  image_factory.class_folder_dataset(str(root / "span-2"), per_class=12, offset=500)
  examples, second = ingest("two")
  assert second["spans"] == {"available": [1, 2], "window": [1, 2], "newest": 2,
                             "ingested": [2]}
  splits = {r["span"]: set() for r in second["files"]}
  for r in second["files"]:
    splits[r["span"]].add(r["split"])
  assert "eval_history" in splits[1] and "eval" not in splits[1]
  assert "eval" in splits[2] and "eval_history" not in splits[2]
  eval_rows = read_examples(examples.uri, "eval")
  assert len(eval_rows) == second["per_split"]["eval"]
  assert {r["sha256"].decode() for r in eval_rows} == {
      r["sha256"] for r in second["files"] if r["split"] == "eval"}
  assert len(read_examples(examples.uri, "eval_history")) == second["per_split"]["eval_history"]


def test_the_same_file_under_two_classes_in_two_spans_is_a_label_conflict(tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
  from components.data_gate import gates  # pylint: disable=import-outside-toplevel
  from tests.example_gen_helpers import run_executor
  root = tmp_path / "data"
  image_factory.class_folder_dataset(str(root / "span-1"), per_class=6)
  image_factory.class_folder_dataset(str(root / "span-2"), per_class=6, offset=500)
  shutil.copy(root / "span-1" / "cat" / "000.png", root / "span-2" / "dog" / "moved.png")
  _, report_artifact = run_executor(str(root), str(tmp_path / "out"))
  with open(os.path.join(report_artifact.uri, "ingest_report.json")) as f:
    report = json.load(f)
  files = {r["path"]: r for r in report["files"]}
  assert files["span-2/dog/moved.png"]["reason"] == (
      "label_conflict: same content also filed under cat (span 1)")
  assert files["span-1/cat/000.png"]["reason"].startswith("label_conflict")
  results = {r.name: r for r in gates.evaluate(report, {}, pipeline_config.GateConfig(
      min_images_per_class=1), None)}
  assert not results["max_label_conflicts"].passed


def test_a_manifest_skips_rereading_unchanged_files_and_still_sees_changes(tmp_path,
                                                                           monkeypatch):
  from components.ingest import walk  # pylint: disable=import-outside-toplevel
  root = str(tmp_path / "data")
  paths = image_factory.class_folder_dataset(root, per_class=3)
  manifest = str(tmp_path / "manifest.json")
  plain = walk.content_fingerprint(root)
  assert walk.content_fingerprint(root, manifest) == plain
  read = []
  original = walk._file_sha256                           # pylint: disable=protected-access
  monkeypatch.setattr(walk, "_file_sha256", lambda p: read.append(p) or original(p))
  assert walk.content_fingerprint(root, manifest) == plain and read == []
  image_factory.save(image_factory.pattern(seed=99), paths[0], "PNG")     # content changed
  changed = walk.content_fingerprint(root, manifest)
  assert read == [paths[0]] and changed == walk.content_fingerprint(root) != plain
  os.utime(paths[1], ns=(1, 1))                          # touched, same bytes: read, same
  assert walk.content_fingerprint(root, manifest) == changed and read[-1] == paths[1]


def test_the_drivers_resolved_pattern_names_the_newest_span():
  """TFX's driver refills {SPAN} without padding and the date spec as a date; an unresolved
  pattern (no driver ran: open-source KFP) means the newest span under the root."""
  from components.ingest import spans  # pylint: disable=import-outside-toplevel
  assert spans.newest_number("span-7/*/*") == 7
  assert spans.newest_number("2024-05-01/*/*") == 20240501
  assert spans.newest_number("span-{SPAN}/*/*") is None
  assert spans.newest_number("*/*") is None
  found = [spans.Span(1, "span-001"), spans.Span(7, "span-007"), spans.Span(9, "span-009")]
  assert [s.number for s in spans.window_ending_at(found, 7, None)] == [1, 7]
  assert [s.number for s in spans.window_ending_at(found, 7, 1)] == [7]
  assert [s.number for s in spans.window_ending_at(found, None, 2)] == [7, 9]
  with pytest.raises(pipeline_config.ToolkitError, match="resolved span 8"):
    spans.window_ending_at(found, 8, None)
  assert spans.input_pattern("dated", True) == "{YYYY}-{MM}-{DD}/*/*"
  assert spans.layout_of(found) == "span"
