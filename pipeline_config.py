"""One typed configuration for the whole toolkit, with defaults that work out of the box.

Config flows one way: this module -> pipeline factory -> component parameters and the
Trainer's ``custom_config`` -> trainer. Users override fields with CLI flags or with their own
Python file passed as ``--config path/to/my_config.py`` that defines ``CONFIG``
(a :class:`PipelineConfig`).

This module never imports TensorFlow, so reading a configuration is cheap.
"""

import dataclasses
import json
import math
import os
import re
import runpy
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple


class ToolkitError(Exception):
  """An expected failure (bad data, missing weights, a breached gate, ...).

  The message says what went wrong and how to fix it; the CLI prints it without a traceback.
  """


# The three splits (contract): `train` fits, `validation` drives callbacks, checkpoint choice
# and tuning, `eval` is only for the Evaluator's blessing.
SPLITS = ("train", "validation", "eval")
DEFAULT_PIPELINE_NAME = "transfer-learning"
# Kubeflow's rule, applied to every command: the name is a directory under the pipeline
# root and serving/, and MLMD node contexts are "<pipeline>.<node>" (no dots, no slashes).
PIPELINE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


def check_pipeline_name(name: str) -> None:
  if not isinstance(name, str) or not PIPELINE_NAME_PATTERN.fullmatch(name):
    raise ToolkitError(
        "Pipeline names take lowercase letters, digits and hyphens (no underscores, dots or "
        "slashes), start with a letter or digit and have at most 128 characters (the "
        f"Kubeflow rule; the name is a folder under the work dir). Received: {name!r}")


@dataclass(frozen=True)
class Flag:
  """A `python -m pipeline run` flag, declared beside the config section field it sets.
  `section` None: the running task's trainer section (--batch-size, --seed, ...). Help and
  default come from the field's comment and value; `evaluation` limits the flag to tasks of
  that kind of evaluation ("classification" or "forecast")."""
  name: str
  section: Optional[str]
  field: str
  type: Callable = str
  help: Optional[str] = None
  evaluation: Optional[str] = None


# Config sections a task owns, registered by the module that defines them (schemas/sections/
# for the built-in tasks, found by listing that package; anywhere for another task, which
# registers itself when imported): section name -> (class, task), and old names -> new.
_SECTIONS: Dict[str, Tuple[type, str]] = {}
_RENAMED: Dict[str, str] = {}
_PIPELINE_NAMES: Dict[str, str] = {}
_SECTION_MODULES: List[object] = []


def register_sections(task: str, sections: Dict[str, type],
                      renamed: Optional[Dict[str, str]] = None,
                      pipeline_name: Optional[str] = None) -> None:
  """Makes `sections` fields of every PipelineConfig (old names in `renamed` still load);
  `pipeline_name`: the task's default pipeline name (else transfer-learning-<task>)."""
  fields = {f.name for f in dataclasses.fields(PipelineConfig)} if "PipelineConfig" in globals(
      ) else set()
  renamed = dict(renamed or {})
  clash = (set(sections) | set(renamed)) & (fields | {"section"})
  if clash:
    raise ToolkitError(f"Task {task}: config section names {sorted(clash)} are PipelineConfig "
                       "fields.")
  for old, new in renamed.items():
    if new not in sections or _RENAMED.get(old, new) != new or old in _SECTIONS:
      raise ToolkitError(f"Task {task}: old section name {old!r} cannot stand for {new!r} "
                         "(not one of its sections, or already taken).")
  if pipeline_name:
    _PIPELINE_NAMES[task] = pipeline_name
  for name, cls in sections.items():
    owner = _SECTIONS.get(name)
    if owner and owner != (cls, task):
      raise ToolkitError(f"Config section {name} is already registered by task {owner[1]}.")
    _SECTIONS[name] = (cls, task)
  _RENAMED.update(renamed)


def _discover() -> None:
  """Imports the built-in tasks' section modules (schemas/sections/*.py) once."""
  if _SECTION_MODULES:
    return
  import importlib  # pylint: disable=import-outside-toplevel
  import pkgutil  # pylint: disable=import-outside-toplevel
  from schemas import sections  # pylint: disable=import-outside-toplevel
  for info in sorted(pkgutil.iter_modules(sections.__path__), key=lambda i: i.name):
    _SECTION_MODULES.append(importlib.import_module(f"schemas.sections.{info.name}"))


def section_names(task: str) -> Tuple[str, ...]:
  """The config sections registered by `task`."""
  _discover()
  return tuple(name for name, (_, owner) in _SECTIONS.items() if owner == task)


def section_owner(name: str) -> Optional[str]:
  """The task owning config section `name` (an old name resolves), or None (a shared one)."""
  _discover()
  entry = _SECTIONS.get(_RENAMED.get(name, name))
  return entry[1] if entry else None


def registered_tasks() -> Tuple[str, ...]:
  _discover()
  return tuple(dict.fromkeys(owner for _, owner in _SECTIONS.values()))


def _section_exports() -> Dict[str, object]:
  _discover()
  return {name: getattr(module, name) for module in _SECTION_MODULES for name in dir(module)
          if not name.startswith("_") and name != "FLAGS"
          and (name.isupper() or name.endswith("Config"))
          and getattr(getattr(module, name), "__module__", module.__name__) == module.__name__}


def __getattr__(name: str):
  """Old spellings: `pipeline_config.TrainerConfig`, `TEXT_MODELS`, ... (the classes and
  constants of the task sections, now in schemas/sections/), also for
  `from pipeline_config import *` (its `__all__`)."""
  if name == "__all__":
    own = {n for n, v in globals().items() if not n.startswith("_")
           and getattr(v, "__module__", None) == __name__ or n.isupper()}
    return sorted(own | set(_section_exports()))
  if name.startswith("__"):
    raise AttributeError(name)
  _discover()
  for module in _SECTION_MODULES:
    if hasattr(module, name):
      return getattr(module, name)
  raise AttributeError(f"module 'pipeline_config' has no attribute {name!r}")


@dataclass
class IngestConfig:
  """How every task's ExampleGen reads the data root: splits, drops, file limits (and, for
  files that are images, their formats and sizes)."""
  # Split name -> percentage of the content-hash space: exactly train, validation and eval,
  # positive, summing to 100.
  split_percentages: Dict[str, int] = field(
      default_factory=lambda: {"train": 70, "validation": 10, "eval": 20})
  # Pillow format names accepted; nothing that runs an external program (EPS, PDF).
  allowed_formats: Tuple[str, ...] = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
  # Decompression-bomb guard, checked from the header before pixels are decoded.
  max_pixels: int = 50_000_000
  max_file_bytes: int = 50 * 1024 * 1024
  min_side: int = 8
  # RGB colour that transparent pixels are composited onto.
  background_color: Tuple[int, int, int] = (255, 255, 255)
  # TFRecord compression of the examples: "none" (default; JPEG/PNG bytes do not shrink, and
  # GZIP cost as much CPU as decoding) or "gzip". TFX readers detect either from the suffix.
  compression: str = "none"
  # Threads decoding images inside each Beam worker; 0 means one per CPU core.
  decode_threads: int = 0
  # Data drops (<root>/span-<N>/... or <root>/<YYYY-MM-DD>/...): train on the newest `window`
  # spans (None: all); the Evaluator judges the newest span's eval split.
  window: Optional[int] = None
  # A class first seen in a new span: "fail" stops the run; "extend" gives it the next id in
  # the label vocabulary (and the run is not compared with the last blessed model).
  on_new_class: str = "fail"

  def validate(self):
    if self.window is not None and self.window < 1:
      raise ToolkitError(f"window must be >= 1 span. Received: window={self.window}")
    if self.on_new_class not in ("fail", "extend"):
      raise ToolkitError("on_new_class must be fail or extend. "
                         f"Received: on_new_class={self.on_new_class!r}")
    if self.compression not in ("none", "gzip"):
      raise ToolkitError(
          f"compression must be 'none' or 'gzip'. Received: compression={self.compression!r}")
    if (sorted(self.split_percentages) != sorted(SPLITS)
        or sum(self.split_percentages.values()) != 100
        or any(not isinstance(p, int) or p <= 0 for p in self.split_percentages.values())):
      raise ToolkitError(
          "split_percentages must give train, validation and eval each a positive whole "
          "percentage, summing to 100 (e.g. --splits 70,10,20). "
          f"Received: split_percentages={self.split_percentages}")
    if len(self.background_color) != 3 or any(
        not isinstance(c, int) or not 0 <= c <= 255 for c in self.background_color):
      raise ToolkitError("background_color must be three integers in 0-255. "
                         f"Received: background_color={self.background_color}")
    for name in ("max_pixels", "max_file_bytes", "min_side"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")


DISTRIBUTIONS = ("auto", "none", "mirrored", "multi_worker")


@dataclass
class FitConfig:
  """What every task's training shares (trainer/common/hygiene.py): batches, the head, the
  callbacks (EarlyStopping and ReduceLROnPlateau watch `monitor` on the validation split;
  ModelCheckpoint keeps the best weights by it) and class weights."""
  batch_size: int = 32
  dense_units: int = 256
  dropout: float = 0.5
  seed: int = 42
  monitor: str = "val_loss"
  early_stopping_patience: int = 5
  reduce_lr_patience: int = 3
  reduce_lr_factor: float = 0.1
  # Small data: on a validation split of a few dozen examples one epoch's figure is noise, so
  # neither EarlyStopping nor ReduceLROnPlateau acts (nor is a best epoch chosen) before this
  # share of a phase's epochs has run, and both wait at least this share of the epochs
  # (patience relative to the epochs asked) besides their own patience.
  min_epochs_fraction: float = 0.25
  patience_fraction: float = 0.2
  # 'auto' (weigh classes when the largest is over 1.5x the smallest), 'balanced' or 'none'.
  class_weights: str = "auto"
  # tf.distribute strategy (trainer/common/distribution.py): "auto" (MirroredStrategy when
  # more than one GPU is visible, else none), "none", "mirrored" (every visible GPU, or the
  # CPU) or "multi_worker" (MultiWorkerMirroredStrategy from TF_CONFIG). batch_size is the
  # global batch, split across the replicas.
  distribution: str = "auto"
  # Warm start (from the latest blessed model, trainer/common/warm_start.py): each training
  # phase runs this share of its epochs.
  warm_start_epochs: float = 0.2

  def validate_fit(self):
    if not 0.0 < self.warm_start_epochs <= 1.0:
      raise ToolkitError("warm_start_epochs must be in (0, 1] (a share of each phase's "
                         f"epochs). Received: warm_start_epochs={self.warm_start_epochs}")
    if self.distribution not in DISTRIBUTIONS:
      raise ToolkitError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}. "
                         f"Received: distribution={self.distribution!r}")
    for name in ("batch_size", "dense_units"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    for name in ("min_epochs_fraction", "patience_fraction"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ToolkitError(f"{name} must be between 0 and 1. "
                           f"Received: {name}={getattr(self, name)}")
    if self.monitor not in ("val_loss", "val_accuracy"):
      raise ToolkitError("monitor must be val_loss or val_accuracy (the validation split). "
                         f"Received: monitor={self.monitor!r}")
    if self.class_weights not in ("auto", "balanced", "none"):
      raise ToolkitError("class_weights must be auto, balanced or none. "
                         f"Received: class_weights={self.class_weights!r}")
    if not 0.0 <= self.dropout < 1.0:
      raise ToolkitError(f"dropout must be in [0, 1). Received: dropout={self.dropout}")




@dataclass
class GateConfig:
  """Quality gates between validation and training; a breach stops the pipeline."""
  max_rejected_fraction: float = 0.05
  # Kept files (images, documents) per class; the name predates the other tasks.
  min_images_per_class: int = 10
  # Largest class over smallest class, in images kept.
  max_class_imbalance: float = 10.0
  # Files with identical content filed under two classes.
  max_label_conflicts: int = 0
  fail_on_anomalies: bool = True
  # Data drops: how far the latest blessed model's accuracy on the newest span's labels may
  # fall below its accuracy on the window's older eval files (shuffled or mislabelled drops).
  max_label_agreement_drop: float = 0.2
  # Classes in the window: one class (a layout read wrongly, a drop of one class) is no
  # classifier.
  min_classes: int = 2
  # Every class needs at least this many examples in each of train, validation and eval.
  min_examples_per_split: int = 1
  # Text: every kept document needs at least this many whitespace-separated tokens.
  min_tokens_per_document: int = 1
  # Against the last accepted data drop; the first drop always passes.
  max_label_drift: float = 0.2      # L-infinity distance of the label distributions
  # L-infinity distance of the task's categorical mix (image format, text encoding).
  max_format_drift: float = 0.5
  # Relative change of the task's medians (image width and height, document length).
  max_size_drift: float = 1.0
  # Time series: share of values (kept columns x time steps) that were missing, filled or not.
  max_missing_fraction: float = 0.1
  # Time series: segments a series may break into (runs of missing rows over max_fill).
  max_segments_per_series: int = 20
  # Time series: every kept series needs this many whole windows in each split.
  min_windows_per_split: int = 1
  # Time series: Jensen-Shannon divergence of each feature's distribution against the last
  # accepted drop, over that drop's percentile bins (TFDV's numeric drift measure).
  max_feature_drift: float = 0.3
  # Time series, data drops: stop on a column of the newest span that looks like a stuck
  # sensor or a unit change against the older spans (components/timeseries_example_gen/
  # series.py sensor_faults).
  check_sensors: bool = True

  def validate(self):
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if f.type is bool:
        continue
      # NaN compares false with everything, so it would turn the gate off.
      if (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)
          or value < 0):
        raise ToolkitError(f"Gate {f.name} must be a number >= 0. "
                           f"Received: {f.name}={value!r}")
    for name in ("max_rejected_fraction", "max_label_drift", "max_format_drift",
                 "max_missing_fraction", "max_feature_drift", "max_label_agreement_drop"):
      if getattr(self, name) > 1:
        raise ToolkitError(f"Gate {name} is a fraction in [0, 1]. "
                           f"Received: {name}={getattr(self, name)}")


@dataclass
class EvalConfig:
  """When the Evaluator blesses a model. Every task's model must also beat the majority-class
  baseline on the eval split (`majority_margin` > 0), whatever these say."""
  # Absolute lower bound on eval accuracy; None: the task's default (its descriptor's
  # min_accuracy in pipeline/tasks/), 0.6 for images and none for text, where the attainable accuracy depends on the corpus far more
  # (fortune-cookie topics: 0.59 for TF-IDF + logistic regression; news: 0.98) and the
  # majority-class baseline is the floor.
  min_accuracy: Optional[float] = None
  # How much accuracy may drop against the latest blessed model (0.0: must not be worse).
  max_accuracy_drop: float = 0.0
  # Optional lower bound on every class's recall on the eval split (None: reported only).
  min_class_recall: Optional[float] = None
  # Time series: how much the eval MAE may rise above the latest blessed model's, in target
  # units (0.0: must not be worse). The model must also beat the best common-sense baseline.
  max_mae_increase: float = 0.0

  def min_accuracy_or(self, default: float) -> float:
    return self.min_accuracy if self.min_accuracy is not None else default

  def validate(self):
    for name in ("min_accuracy", "max_accuracy_drop", "min_class_recall"):
      value = getattr(self, name)
      if value is not None and not 0.0 <= value <= 1.0:
        raise ToolkitError(f"{name} must be in [0, 1]. Received: {name}={value}")
    if self.max_mae_increase < 0:
      raise ToolkitError("max_mae_increase must be >= 0. "
                         f"Received: max_mae_increase={self.max_mae_increase}")


@dataclass(init=False)
class PipelineConfig:
  """Everything `python -m pipeline run` needs: the shared fields and sections below, and
  every registered task's sections (`config.image_trainer`, `config.text_trainer`, ...), held
  in `sections` and read and set as attributes. Old section names (`trainer`, `timeseries`,
  ...) work as keyword arguments and attributes."""
  data_root: str = ""
  work_dir: str = "work"
  task: str = "image"
  # Left at the default, it becomes the task's own (register_sections' pipeline_name, else
  # "transfer-learning-<task>"): one work dir can hold several tasks, each with its own MLMD
  # pipeline context, so the Evaluator's baseline and the cache never cross tasks.
  pipeline_name: str = DEFAULT_PIPELINE_NAME
  enable_cache: bool = True
  # Passed through to Beam, e.g. ['--direct_num_workers=2',
  # '--direct_running_mode=multi_threading']. Empty means DirectRunner in-process; any value
  # also makes TFX package itself for remote workers (about 2 s per Beam component).
  beam_args: List[str] = field(default_factory=list)
  # "auto": the Trainer starts from the latest blessed model when there is one (tasks that
  # can warm start); "off": every run trains from scratch.
  warm_start: str = "auto"
  ingest: IngestConfig = field(default_factory=IngestConfig)
  gates: GateConfig = field(default_factory=GateConfig)
  evaluation: EvalConfig = field(default_factory=EvalConfig)
  # Task sections by name (registered with register_sections).
  sections: Dict[str, object] = field(default_factory=dict)

  # Where everything the pipeline writes lives when it is not a local work dir: a URI
  # (gs://bucket/prefix) given to `compile --pipeline-root`. Unset: <work_dir>/pipeline_root.
  pipeline_root_uri: Optional[str] = None
  # How drops are named under the data root (components/ingest/spans.py): "auto" looks at
  # the data root (a local one; a URI that cannot be listed is taken as "span"), "flat",
  # "span" (span-<N>/) or "dated" (YYYY-MM-DD/).
  drop_layout: str = "auto"
  # An unlabelled folder (a URI) the served model scores after every blessed run: the
  # pipeline's BatchInference step, predict's rows (components/inference/). None: no step.
  infer_root: Optional[str] = None

  def __init__(self, **values):
    _discover()
    given = values.pop("sections", None) or {}
    for f in dataclasses.fields(self):
      if f.name == "sections":
        continue
      if f.name in values:
        value = values.pop(f.name)
      elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
      else:
        value = f.default
      object.__setattr__(self, f.name, value)
    for name in (*given, *values):
      if _RENAMED.get(name, name) not in _SECTIONS:
        raise TypeError(f"PipelineConfig got an unexpected keyword argument {name!r}; its "
                        f"sections are {', '.join(sorted(_SECTIONS))}")
    sections = {}
    for name, value in given.items():
      resolved = _RENAMED.get(name, name)
      if resolved in sections:
        raise TypeError(f"PipelineConfig got section {resolved!r} twice in sections= (as "
                        f"{name!r} too)")
      sections[resolved] = value
    keywords = {}
    for name, value in values.items():       # a keyword replaces the same section in `sections`
      resolved = _RENAMED.get(name, name)
      if resolved in keywords:
        raise TypeError(f"PipelineConfig got section {resolved!r} twice (as {name!r} too: "
                        "an old name and its new one are the same section)")
      keywords[resolved] = value
    sections.update(keywords)
    object.__setattr__(self, "sections", {
        name: sections[name] if name in sections else cls() for name, (cls, _) in
        _SECTIONS.items()})

  def __copy__(self):
    # Sections are fields: a copy must not share the dict that holds them.
    return dataclasses.replace(self, sections=dict(self.__dict__["sections"]))

  def section(self, name: str):
    """A task section by name (or old name); a registered one not set yet gets defaults."""
    resolved = _RENAMED.get(name, name)
    sections = self.__dict__["sections"]
    if resolved not in sections:
      if resolved not in _SECTIONS:
        raise AttributeError(f"PipelineConfig has no section {name!r}")
      sections[resolved] = _SECTIONS[resolved][0]()
    return sections[resolved]

  def __getattr__(self, name: str):
    # Only for names that are not fields: the task sections.
    if name.startswith("__") or "sections" not in self.__dict__:
      raise AttributeError(name)
    prop = getattr(type(self), name, None)
    if isinstance(prop, property):
      return prop.fget(self)     # an AttributeError inside a property: raise it as it is
    try:
      return self.section(name)
    except AttributeError:
      raise AttributeError(f"'PipelineConfig' object has no attribute {name!r}") from None

  def __setattr__(self, name: str, value) -> None:
    resolved = _RENAMED.get(name, name)
    if resolved in _SECTIONS:
      self.__dict__["sections"][resolved] = value
    else:
      object.__setattr__(self, name, value)

  def _local(self, name: str) -> str:
    return os.path.join(os.path.abspath(self.work_dir), name)

  @property
  def pipeline_root(self) -> str:
    return self.pipeline_root_uri.rstrip("/") if self.pipeline_root_uri else self._local(
        "pipeline_root")

  def _under_root(self, name: str) -> str:
    """A location that follows the pipeline root: local beside it, else under the URI."""
    if self.pipeline_root_uri:
      return f"{self.pipeline_root}/{name}"
    return self._local(name)

  @property
  def metadata_path(self) -> str:
    return self._local("metadata.sqlite")

  @property
  def serving_dir(self) -> str:
    """Pushed models, per pipeline: several pipelines (tasks) may share a work dir or a root,
    and a model server (or LatestPushedModel) loads the highest version of one pipeline:
    `<work-dir>/serving/<pipeline name>/<version>`."""
    if self.pipeline_root_uri:
      return f"{self.pipeline_root}/{self.pipeline_name}/serving"
    return os.path.join(self._local("serving"), self.pipeline_name)

  @property
  def feature_cache_dir(self) -> str:
    return self._under_root("feature_cache")

  @property
  def gate_history_dir(self) -> str:
    """Where the data gate keeps the profile of the last accepted data drop: with the
    pipeline's artifacts, per pipeline (so per task)."""
    return f"{self.pipeline_root}/{self.pipeline_name}/data_gate"

  @property
  def last_run_path(self) -> str:
    return self._local("last_run.json")

  def validate(self):
    """Checks every field the task reads (its own sections and the shared ones); the other
    tasks' sections are not read. Names the pipeline (see pipeline_name)."""
    tasks = registered_tasks()
    if self.task not in tasks:
      raise ToolkitError(
          f"Unknown task. Choose one of {', '.join(tasks)}. Received: task={self.task!r}")
    if self.pipeline_name == DEFAULT_PIPELINE_NAME:
      self.pipeline_name = _PIPELINE_NAMES.get(self.task, f"{DEFAULT_PIPELINE_NAME}-{self.task}")
    check_pipeline_name(self.pipeline_name)
    self._check_work_dir()
    if self.drop_layout not in ("auto", "flat", "span", "dated"):
      raise ToolkitError("drop_layout must be auto, flat, span or dated. Received: "
                         f"{self.drop_layout!r}")
    if self.warm_start not in ("auto", "off"):
      raise ToolkitError(f"warm_start must be auto or off. Received: {self.warm_start!r}")
    self.ingest.validate()
    self.gates.validate()
    self.evaluation.validate()
    for name, (_, owner) in _SECTIONS.items():
      section = self.section(name)
      if owner == self.task:
        if hasattr(section, "validate"):
          section.validate()
      elif getattr(section, "enabled", False):
        # A switched-on step of another task (e.g. its hyperparameter search) would be
        # silently ignored.
        raise ToolkitError(
            f"{name}.enabled is a setting of --task {owner}; --task {self.task} has no such "
            "step. Turn it off, or set the trainer's fields for this task.")

  def _check_work_dir(self) -> None:
    """A work dir that is a file, lies under a file or cannot be created fails here, before
    anything runs (not as an OSError from MLMD or Beam)."""
    if self.pipeline_root_uri or "://" in self.work_dir:
      return
    path = os.path.abspath(self.work_dir)
    probe = path
    while not os.path.exists(probe):
      parent = os.path.dirname(probe)
      if parent == probe:
        break
      probe = parent
    if not os.path.isdir(probe):
      raise ToolkitError(
          f"The work dir {self.work_dir} cannot be created: {probe} is a file, not a folder. "
          "Pass --work-dir with a folder path.")
    if not os.access(probe, os.W_OK):
      raise ToolkitError(
          f"The work dir {self.work_dir} cannot be written: {probe} is not writable. Pass "
          "--work-dir with a folder you can write.")


def to_json(section) -> str:
  """Serialises a config section for a component parameter (parameters must be primitives)."""
  return json.dumps(dataclasses.asdict(section))


def from_dict(cls, values: dict):
  """Rebuilds a config section from the dict that :func:`to_json` or ``asdict`` wrote."""
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = set(values) - names
  if unknown:
    raise ToolkitError(f"Unknown {cls.__name__} fields: {sorted(unknown)}")
  # JSON has no tuples; every sequence field of these sections is a tuple.
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_config(path: Optional[str] = None) -> PipelineConfig:
  """Returns the defaults, or the ``CONFIG`` defined by the user's Python file at `path`."""
  if not path:
    return PipelineConfig()
  if not os.path.isfile(path):
    raise ToolkitError(f"Config file {path} does not exist. Pass a Python file that "
                       "defines CONFIG = PipelineConfig(...).")
  namespace = runpy.run_path(path)
  config = namespace.get("CONFIG")
  if not isinstance(config, PipelineConfig):
    raise ToolkitError(
        f"Config file {path} must define CONFIG as a pipeline_config.PipelineConfig. "
        f"Received: CONFIG={type(config).__name__}")
  return config
