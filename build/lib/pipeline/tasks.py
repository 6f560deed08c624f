"""What differs per task (image, text, timeseries): the table the pipeline factory reads.

A new task is one entry here, one folder under components/ (its ExampleGen: checks and
features), a Trainer module under trainer/, and a schema in schemas/; the spine (walk,
report, gates, Evaluator, Pusher, last_run.json) is shared.
"""

import dataclasses
from typing import Callable, Optional

import pipeline_config


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  # Module path and class name of the task's FolderExampleGen subclass (imported lazily:
  # TFX imports are slow).
  example_gen: str
  schema_file: str                  # in schemas/
  run_fn: str                       # the Trainer module's entry point
  tuner_fn: Optional[str]           # None: the task has no Tuner search
  # Node id of the augmentation step, or None when the task has none.
  augmentation: Optional[str]
  # TFDV semantic domain statistics (image formats and sizes).
  semantic_stats: bool
  # The task's config section handed to its ExampleGen (None: the shared IngestConfig only).
  ingest_section: Optional[str]
  # custom_config sections the Trainer (and Tuner) receive.
  trainer_sections: tuple
  # Config sections that only this task reads (a flag setting one fails for another task).
  own_sections: tuple
  # The task's trainer section (where --batch-size, --seed, ... go).
  trainer_section: str = "trainer"
  # "classification" (accuracy, per-class recall, majority margin) or "forecast" (MAE, the
  # margin over the common-sense baselines, per-series MAE).
  evaluation: str = "classification"
  # The ExampleGen output the Evaluator reads (its eval split).
  evaluator_examples: str = "examples"
  # Data root layout: <root>/<class>/<file> (True) or one file per series anywhere (False).
  has_classes: bool = True
  # The Trainer can start from the latest blessed model (TFX's base_model channel).
  warm_start: bool = False

  @property
  def example_gen_id(self) -> str:
    return self.example_gen.rsplit(".", 1)[1]

  def example_gen_class(self):
    module, name = self.example_gen.rsplit(".", 1)
    return getattr(__import__(module, fromlist=[name]), name)


TASKS = {
    "image": Task(
        name="image",
        example_gen="components.image_example_gen.component.ImageExampleGen",
        schema_file="image_schema.pbtxt",
        run_fn="trainer.image_trainer.run_fn",
        tuner_fn="trainer.image_tuner.tuner_fn",
        augmentation="ImageAugmentation",
        semantic_stats=True,
        ingest_section=None,
        trainer_sections=("trainer", "augmentation", "ingest", "tuning"),
        own_sections=("trainer", "augmentation"),
        warm_start=True),
    "text": Task(
        name="text",
        example_gen="components.text_example_gen.component.TextExampleGen",
        schema_file="text_schema.pbtxt",
        run_fn="trainer.text_trainer.run_fn",
        tuner_fn=None,
        augmentation=None,
        semantic_stats=False,
        ingest_section="text_ingest",
        trainer_sections=("text_trainer", "text_ingest"),
        own_sections=("text_trainer", "text_ingest"),
        trainer_section="text_trainer"),
    "timeseries": Task(
        name="timeseries",
        example_gen="components.timeseries_example_gen.component.TimeseriesExampleGen",
        schema_file="timeseries_schema.pbtxt",
        run_fn="trainer.timeseries_trainer.run_fn",
        tuner_fn=None,
        augmentation=None,
        semantic_stats=False,
        ingest_section="timeseries",
        trainer_sections=("timeseries_trainer", "timeseries"),
        own_sections=("timeseries_trainer", "timeseries"),
        trainer_section="timeseries_trainer",
        evaluation="forecast",
        evaluator_examples="windows",
        has_classes=False),
}


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
