"""Builds the TFX pipeline from a PipelineConfig (the one place components are wired).

One pipeline for every task; the task's descriptor (pipeline/tasks/) says what differs
(ExampleGen, schema, augmentation step, Trainer module, config sections, evaluation)."""

import dataclasses
import json
import os

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

import pipeline_config
from components.data_gate.component import DataGate
from components.ingest import spans as span_lib
from components.pushed_model.component import LatestPushedModel
from components.inference.component import BatchInference
from components.model_card.component import ModelCardGen
from components.pusher import executor as pusher_executor
from components.state_commit.component import StateCommit
from components.schema_gen import PackagedSchemaGen
from pipeline import evaluation, tasks

RESOLVER_ID = "latest_blessed_model_resolver"
LATEST_PUSHED_ID = "latest_pushed_model"
EVALUATOR_BASELINE_ID = "evaluator_baseline"
# Where the pipeline runs: "local" (LocalDagRunner, SQLite MLMD), "vertex" (Vertex AI
# Pipelines runs resolvers and the ExampleGen driver hook) or "kfp" (open-source KFP v2: no
# resolver task, so the latest blessed model comes from the push destination).
TARGETS = ("local", "vertex", "kfp")


def vocabulary_uri(config: pipeline_config.PipelineConfig) -> str:
  """The pipeline's label vocabulary (append-only; components/ingest/vocabulary.py)."""
  return f"{config.pipeline_root}/{config.pipeline_name}/label_vocabulary.json"


def span_cache_uri(config: pipeline_config.PipelineConfig) -> str:
  return f"{config.pipeline_root}/{config.pipeline_name}/span_cache"


def data_root_uri(config: pipeline_config.PipelineConfig) -> str:
  """The data root as components receive it: a URI as given, a local path made absolute."""
  root = config.data_root
  return root.rstrip("/") if "://" in root else os.path.abspath(root)


def drop_layout(config: pipeline_config.PipelineConfig) -> str:
  """The configured drop layout, or for "auto" the data root's own (spans.py); a data root
  that cannot be listed here (a bucket while compiling offline) is taken as span-<N>."""
  if config.drop_layout != "auto":
    return config.drop_layout
  root = data_root_uri(config)
  if "://" in root:
    return "span"
  return span_lib.layout_of(span_lib.detect_spans(root))


def create_pipeline(config: pipeline_config.PipelineConfig,
                    compare_with_baseline: bool = True,
                    target: str = "local",
                    trainer_custom_config: "dict | None" = None) -> tfx.dsl.Pipeline:
  """<Task>ExampleGen -> StatisticsGen/PackagedSchemaGen/ExampleValidator -> DataGate ->
  [augmentation] -> [Tuner] -> Trainer (warm-started from the latest blessed model) ->
  Evaluator (against it) -> Pusher. `compare_with_baseline=False` (the label vocabulary
  grew) leaves the blessed model out of the Evaluator; the Trainer may still start from it.

  `target` (TARGETS): for "kfp" two LatestPushedModel steps stand in for the resolver (see
  components/pushed_model); "vertex" and "kfp" pipelines carry no local MLMD connection.
  `trainer_custom_config` (pipeline/kubeflow.py's VertexTraining) makes the Trainer TFX's
  Vertex AI training Trainer, with these keys added to its custom_config."""
  config.validate()
  if target not in TARGETS:
    raise pipeline_config.ToolkitError(
        f"Unknown target. Choose one of {', '.join(TARGETS)}. Received: {target!r}")
  task = tasks.get_task(config.task)
  # --no-cache also ingests every span again (the span cache lives in the artifact then).
  drops = dict(span_cache_uri=span_cache_uri(config) if config.enable_cache else None,
               **(dict(vocabulary_uri=vocabulary_uri(config)) if task.has_classes else
                  dict(served_models=config.serving_dir)))
  example_gen = task.example_gen_class()(
      input_base=data_root_uri(config),
      input_pattern=span_lib.input_pattern(drop_layout(config), task.has_classes),
      ingest_config=pipeline_config.to_json(config.ingest),
      task_config=(pipeline_config.to_json(config.section(task.ingest_section))
                   if task.ingest_section else None),
      **drops)
  schema_gen = PackagedSchemaGen(schema_file=task.schema_file)
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
      # Format and size histograms of encoded media, which a schema's image_domain checks.
      stats_options=tfdv.StatsOptions(enable_semantic_domain_stats=task.semantic_stats))
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
  if target == "kfp":
    model_resolver = LatestPushedModel(push_destination=config.serving_dir).with_id(
        LATEST_PUSHED_ID)
  else:
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(RESOLVER_ID)
  data_gate = DataGate(
      ingest_report=example_gen.outputs["ingest_report"],
      anomalies=example_validator.outputs["anomalies"],
      gate_config=pipeline_config.to_json(config.gates),
      history_dir=config.gate_history_dir,
      gate_families=",".join(task.gates),
      # Drops: the latest blessed model judges the newest span's labels.
      **(dict(examples=example_gen.outputs["examples"],
              blessed_model=model_resolver.outputs["model"]) if task.has_classes else {}))
  training_examples = example_gen.outputs["examples"]
  augmentation = []
  if task.augmentation:
    augmentation = [task.augmentation_class()(
        examples=example_gen.outputs["examples"],
        augmentation_config=pipeline_config.to_json(config.section(task.augmentation_section)),
        augmenter=task.augmenter)]
    training_examples = augmentation[0].outputs["augmented_examples"]

  def with_cache_dir(name, section):
    # A trainer section with a feature cache left unset uses the pipeline's.
    if getattr(section, "feature_cache_dir", "") is None:
      return dataclasses.replace(section, feature_cache_dir=config.feature_cache_dir)
    return section

  training_inputs = dict(
      examples=training_examples,
      schema=schema_gen.outputs["schema"],
      # Callbacks, checkpoint choice and tuning see `validation`; `eval` is the Evaluator's.
      train_args=tfx.proto.TrainArgs(splits=["train"]),
      eval_args=tfx.proto.EvalArgs(splits=["validation"]))
  custom_config = tasks.custom_config(task, config, with_cache_dir)
  tuning = []
  if task.tuner_fn and config.section(task.tuning_section).enabled:
    tuning = [tfx.components.Tuner(tuner_fn=task.tuner_fn, custom_config=custom_config,
                                   **training_inputs)]
  warm_start = config.warm_start == "auto" and task.warm_start
  trainer_class = tfx.components.Trainer
  if trainer_custom_config:
    from tfx.v1.extensions import google_cloud_ai_platform  # pylint: disable=import-outside-toplevel
    trainer_class = google_cloud_ai_platform.Trainer
  trainer = trainer_class(
      run_fn=task.run_fn, custom_config={**custom_config, **(trainer_custom_config or {})},
      hyperparameters=tuning[0].outputs["best_hyperparameters"] if tuning else None,
      base_model=model_resolver.outputs["model"] if warm_start else None,
      **training_inputs)
  # Nothing is augmented, tuned or trained until every data gate has passed.
  for node in augmentation or [*tuning, trainer]:
    node.add_upstream_node(data_gate)
  baseline = []
  if target == "kfp":
    baseline = [LatestPushedModel(push_destination=config.serving_dir,
                                  candidate=trainer.outputs["model"]
                                  ).with_id(EVALUATOR_BASELINE_ID)]
  baseline_model = (baseline[0].outputs["model"] if baseline else
                    model_resolver.outputs["model"] if compare_with_baseline else None)
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs[task.evaluator_examples],
      model=trainer.outputs["model"],
      baseline_model=baseline_model,
      example_splits=["eval"],
      eval_config=evaluation.eval_config(config.evaluation, task))
  pusher = tfx.components.Pusher(
      # TFX's Pusher, except that the model already served is not pushed again.
      custom_executor_spec=executor_spec.ExecutorClassSpec(pusher_executor.Executor),
      model=trainer.outputs["model"],
      model_blessing=evaluator.outputs["blessing"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=config.serving_dir)))
  # Right after the Pusher on every orchestrator: the vocabulary and drift baseline become
  # the pipeline's only when this run's model is served, so a failed run leaves them as
  # they were.
  state_commit = StateCommit(
      pushed_model=pusher.outputs["pushed_model"], gate_result=data_gate.outputs["gate_result"],
      history_dir=config.gate_history_dir,
      **(dict(examples=example_gen.outputs["examples"],
              vocabulary_uri=vocabulary_uri(config)) if task.has_classes else {}))
  # The model card of this run's model, beside it when pushed (figures as last_run.json's);
  # after StateCommit, so a card that cannot be written never leaves a served model's
  # vocabulary and drift baseline uncommitted.
  card_facts = tasks.load(task.model_card)(config) if task.model_card else {}
  model_card = ModelCardGen(
      pushed_model=pusher.outputs["pushed_model"], model_blessing=evaluator.outputs["blessing"],
      model=trainer.outputs["model"], model_run=trainer.outputs["model_run"],
      evaluation=evaluator.outputs["evaluation"],
      ingest_report=example_gen.outputs["ingest_report"],
      examples=None if task.has_classes else example_gen.outputs["examples"],
      baseline_model=baseline_model,
      card_config=json.dumps({"task": task.name, "pipeline_name": config.pipeline_name,
                              "data_root": data_root_uri(config), **card_facts}))
  model_card.add_upstream_node(state_commit)
  inference = []
  if config.infer_root:
    inference = [BatchInference(pushed_model=pusher.outputs["pushed_model"],
                                infer_root=config.infer_root)]
    inference[0].add_upstream_node(state_commit)
  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=[example_gen, schema_gen, statistics_gen, example_validator, data_gate,
                  *augmentation, *tuning, trainer, model_resolver, *baseline, evaluator,
                  pusher, state_commit, model_card, *inference],
      enable_cache=config.enable_cache,
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
          if target == "local" else None),
      beam_pipeline_args=list(config.beam_args))
