"""The task descriptors: everything that differs per task, in one place per task.

A task is a folder under components/ (its ExampleGen), one under trainer/ (its run_fn), its
config sections and flags (schemas/sections/ for the built-in ones), a schema, and a
descriptor: a module here that calls `register(Task(...))`, or any module that does (the
test-only task in tests/ registers itself). The spine (factory, CLI, run summary, gates,
demo script, packaging) loops over the registered descriptors and never names a task.
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable, Dict, Optional, Tuple

import pipeline_config


@dataclasses.dataclass(frozen=True)
class Demo:
  """A demo dataset of a task: `python -m pipeline demo --task T [--dataset NAME]`."""
  # Where `demo` writes the data and runs the pipeline, relative to the repository.
  data_dir: str
  work_dir: str
  # The --config file the demo runs with.
  config: str
  # "module.function(output) -> one-line description", writing the data under `output`.
  writer: str
  # ImageNet weights the demo installs first (`python -m pipeline weights install NAME`).
  weights: Tuple[str, ...] = ()
  about: str = ""
  # "module.function(output) -> one-line description", writing the same data as data drops
  # (`demo-data --drops`: <output>/span-<N>/...), or None when the demo has no drops form.
  drops_writer: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  # Module path and class name of the task's ExampleGen (imported lazily: TFX is slow).
  example_gen: str
  # The schema PackagedSchemaGen copies: a file name in schemas/, or an absolute path.
  schema_file: str
  run_fn: str                       # the Trainer module's entry point
  # custom_config sections the Trainer (and Tuner) receive, the task's own first.
  trainer_sections: Tuple[str, ...]
  # Where --batch-size, --seed, --epochs, ... go.
  trainer_section: str
  # The task's section handed to its ExampleGen (None: the shared IngestConfig only).
  ingest_section: Optional[str] = None
  # A Tuner search: its tuner_fn, and the section whose `enabled` turns it on.
  tuner_fn: Optional[str] = None
  tuning_section: Optional[str] = None
  # An augmentation step between the data gate and the Trainer: the component class (its
  # constructor takes examples= and augmentation_config=), the section it reads, and the
  # module drawing its transforms (the Trainer's own, for online augmentation).
  augmentation: Optional[str] = None
  augmentation_section: Optional[str] = None
  augmenter: Optional[str] = None
  # TFDV semantic domain statistics (image formats and sizes).
  semantic_stats: bool = False
  # "classification" (accuracy, per-class recall, majority margin) or "forecast" (MAE, the
  # margin over the common-sense baselines, per-series MAE): pipeline/evaluation.py.
  evaluation: str = "classification"
  # EvalConfig.min_accuracy when it is None.
  min_accuracy: float = 0.0
  # The ExampleGen output the Evaluator reads (its eval split).
  evaluator_examples: str = "examples"
  # Data root layout: <root>/<class>/<file> (True) or one file per series anywhere (False).
  has_classes: bool = True
  # The Trainer can start from the latest blessed model (TFX's base_model channel).
  warm_start: bool = False
  # The DataGate's gate families besides the shared ones (components/data_gate/gates.py).
  gates: Tuple[str, ...] = ("classes",)
  # The flags of this task (pipeline_config.Flag), declared with its sections.
  flags: Tuple[pipeline_config.Flag, ...] = ()
  # --data-root help: what the root holds for this task.
  data_root: str = ""
  demos: Dict[str, Demo] = dataclasses.field(default_factory=dict)
  # "module.function(summary) -> [lines]": what `run` prints for this task besides the
  # shared lines (metrics, ingestion, the push).
  summary_lines: Optional[str] = None
  # "module.function(config) -> reason or None": why this run must not be compared with the
  # last blessed model, decided before anything runs (None: the shared rule for classes).
  baseline_skip: Optional[str] = None
  # The module `python -m pipeline weights install NAME` uses for this task's backbones.
  weights_installer: Optional[str] = None
  # The demo `python -m pipeline demo --task T` runs without --dataset (else the first).
  main_demo: Optional[str] = None
  # "module.function(config) -> {"model": {fact: value}, "limits": [sentences]}": what the
  # model card says of this task's model and what its serving signature refuses.
  model_card: Optional[str] = None

  @property
  def example_gen_id(self) -> str:
    return self.example_gen.rsplit(".", 1)[1]

  @property
  def augmentation_id(self) -> Optional[str]:
    return self.augmentation.rsplit(".", 1)[1] if self.augmentation else None

  @property
  def own_sections(self) -> Tuple[str, ...]:
    return pipeline_config.section_names(self.name)

  def example_gen_class(self):
    return load(self.example_gen)

  def augmentation_class(self):
    return load(self.augmentation)


def load(path: str):
  """The object at "module.attribute"."""
  module, name = path.rsplit(".", 1)
  return getattr(importlib.import_module(module), name)


def load_module(path: str):
  return importlib.import_module(path)


TASKS: Dict[str, Task] = {}


def register(task: Task) -> Task:
  """Adds a task (its config sections must be registered: pipeline_config.register_sections)."""
  named = {task.trainer_section, *task.trainer_sections, task.ingest_section,
           task.augmentation_section, task.tuning_section} - SHARED_SECTIONS - {None}
  missing = sorted(s for s in named if pipeline_config.section_owner(s) is None)
  if missing:
    raise pipeline_config.ToolkitError(
        f"Task {task.name} names config sections nobody registered: {missing}")
  TASKS[task.name] = task
  return task


def _discover() -> None:
  for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    importlib.import_module(f"{__name__}.{info.name}")


def get_task(name: str) -> Task:
  if name not in TASKS:
    raise pipeline_config.ToolkitError(
        f"The {name} pipeline is not available yet. Choose one of {', '.join(TASKS)}. "
        f"Received: task={name!r}")
  return TASKS[name]


def custom_config(task: Task, config: pipeline_config.PipelineConfig,
                  replace: Callable[[str, object], object] = lambda name, section: section
                  ) -> dict:
  """The Trainer's custom_config: the task's sections as dicts (`replace` may swap one)."""
  return {name: dataclasses.asdict(replace(name, getattr(config, name)))
          for name in task.trainer_sections}


SHARED_SECTIONS = {"ingest", "gates", "evaluation"}
Flag = pipeline_config.Flag
# Flags every task has: the trainer section's shared fields (FitConfig) and the shared
# sections. A flag whose field the running task's trainer section lacks fails for it.
SHARED_FLAGS = (
    Flag("batch_size", None, "batch_size", int),
    Flag("epochs", None, "epochs", int),
    Flag("fine_tune_epochs", None, "fine_tune_epochs", int),
    Flag("learning_rate", None, "learning_rate", float),
    Flag("fine_tune_learning_rate", None, "fine_tune_learning_rate", float),
    Flag("seed", None, "seed", int),
    Flag("class_weights", None, "class_weights", evaluation="classification"),
    Flag("distribution", None, "distribution"),
    Flag("warm_start_epochs", None, "warm_start_epochs", float),
    Flag("min_accuracy", "evaluation", "min_accuracy", float, evaluation="classification"),
    Flag("max_accuracy_drop", "evaluation", "max_accuracy_drop", float,
         evaluation="classification"),
    Flag("min_class_recall", "evaluation", "min_class_recall", float,
         evaluation="classification"),
    Flag("max_mae_increase", "evaluation", "max_mae_increase", float, evaluation="forecast"),
    Flag("window", "ingest", "window", int),
    Flag("on_new_class", "ingest", "on_new_class"),
)

_discover()
