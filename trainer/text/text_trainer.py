"""TFX Trainer module for text classification (Chollet ch. 11).

Use with `Trainer(run_fn="trainer.text.text_trainer.run_fn", custom_config={"text_trainer":
{...}, "text_ingest": {...}})`, the dicts holding the fields of
`pipeline_config.TextTrainerConfig` and `TextIngestConfig` (its `max_chars` is where the
serving graph cuts a document, as ingestion did). The Trainer's
eval split is `validation`: callbacks and checkpoint selection never see the `eval` split,
which only the baselines and the "confidently wrong" report read here (and the Evaluator
blesses on).

The recipe reads top to bottom in `train`:
  vectorise: a TextVectorization adapted on the train split only, mapped over tf.data;
  phase 1:   train the model; a pretrained Embedding stays frozen;
  phase 2:   with pretrained embeddings and fine_tune_epochs > 0, unfreeze the Embedding,
             recompile at fine_tune_learning_rate and fine-tune;
  then the reports, the baselines on the eval split, and the export of the end-to-end model
  (raw strings in), so standardisation and vectorisation are inside the serving graph, behind
  what ingestion did to each document (BOM, NFC, max_chars; trainer/text/normalise.py).

Written under model_run_dir: history.json, training_time.json, baselines.json, embeddings.json
(pretrained embeddings only), reports/{training_curves,confusion_matrix,model}.png,
reports/confidently_wrong.md, checkpoints/, logs/ (TensorBoard).
"""

import dataclasses
import os
import posixpath
import time
from typing import List, Optional

import numpy as np
import tensorflow as tf
from tensorflow import keras

import pipeline_config
from schemas import contracts
from trainer.common import distribution, examples, export, hygiene, reports, warm_start
from trainer.text import baselines, documents, embeddings, models, normalise, \
    vectorization, wrong_examples

CONFIG_KEY = "text_trainer"
PREDICT_BATCH = 256


def run_fn(fn_args) -> None:
  """TFX Trainer entry point."""
  config = pipeline_config.from_dict(pipeline_config.TextTrainerConfig,
                                     fn_args.custom_config[CONFIG_KEY])
  ingest = pipeline_config.from_dict(pipeline_config.TextIngestConfig,
                                     fn_args.custom_config.get("text_ingest", {}))
  uri = examples.examples_uri(fn_args.train_files)
  train(config, fn_args.train_files, fn_args.eval_files,
        [posixpath.join(uri, "Split-eval", "*")], examples.read_label_names(uri),
        fn_args.serving_model_dir, fn_args.model_run_dir, max_chars=ingest.max_chars,
        ingest=ingest, base_model=getattr(fn_args, "base_model", None))


def train(config: pipeline_config.TextTrainerConfig, train_files: List[str],
          validation_files: List[str], eval_files: List[str], label_names: List[str],
          serving_model_dir: str, model_run_dir: str,
          max_chars: Optional[int] = None,
          ingest: Optional[pipeline_config.TextIngestConfig] = None,
          base_model: Optional[str] = None) -> keras.Model:
  """Trains, reports, scores the baselines and exports; returns the end-to-end model
  (1-D tf.string documents in, probabilities out). The exported signatures first do to a
  raw document what ingestion did (drop a BOM, compose to NFC, cut at `max_chars`).

  `validation_files` drive EarlyStopping, ReduceLROnPlateau and the checkpoint choice;
  `eval_files` are only scored (baselines.json, confidently_wrong.md). With `base_model` (the
  latest blessed model's serving dir) of the same architecture, the model starts from its
  weights (a token's rows follow the token into this run's vocabulary: warm_start_from) and
  each phase runs `warm_start_epochs` of its epochs.
  """
  config.validate()
  # First: MultiWorkerMirroredStrategy configures collective ops before TensorFlow's eager
  # context starts (datasets, layers).
  strategy = distribution.start(config.distribution, model_run_dir)
  keras.utils.set_random_seed(config.seed)
  tf.io.gfile.makedirs(model_run_dir)
  started = time.time()

  vectorizer = vectorization.adapted_vectorizer(
      config, documents.text_dataset(train_files, 256).map(lambda text, _: text))
  vocabulary = vectorizer.get_vocabulary()
  print(f"[Trainer] {config.model}: vocabulary of {len(vocabulary)} "
        f"{'n-grams' if config.model == 'bow' else 'tokens'} adapted on the train split",
        flush=True)
  train_data = vectorization.vectorized(
      documents.text_dataset(train_files, config.batch_size, shuffle=True, seed=config.seed),
      vectorizer)
  validation_data = vectorization.vectorized(
      documents.text_dataset(validation_files, config.batch_size), vectorizer)

  matrix = None
  if config.embeddings:
    matrix, coverage = embeddings.embedding_matrix(config.embeddings, vocabulary)
    embeddings.write_coverage(coverage, model_run_dir)
    if coverage["dimension"] != config.embedding_dim:
      print(f"[Trainer] embeddings: the file's dimension {coverage['dimension']} replaces "
            f"embedding_dim={config.embedding_dim}", flush=True)
    print(f"[Trainer] embeddings: {coverage['hits']} of {coverage['vocabulary_tokens']} "
          f"vocabulary tokens found ({coverage['coverage']:.1%}), {coverage['misses']} "
          f"missing, e.g. {coverage['example_misses'][:5]}", flush=True)
  # Built, compiled and fitted under the configured tf.distribute strategy.
  with strategy.scope():
    model = models.build_classifier(config, len(vocabulary), len(label_names), matrix)
    if warm_start_from(config, model, vocabulary, label_names, base_model, model_run_dir):
      share = config.warm_start_epochs
      config = hygiene.warm_started(dataclasses.replace(
          config, epochs=warm_start.fewer_epochs(config.epochs, share),
          fine_tune_epochs=warm_start.fewer_epochs(config.fine_tune_epochs, share)))
      print(f"[Trainer] warm start: {config.epochs} epochs (warm_start_epochs={share})",
            flush=True)

    counts = examples.label_counts(train_files, len(label_names))
    class_weight = hygiene.class_weights(counts, config.class_weights)
    print(f"[Trainer] {counts.sum()} training documents per class {counts.tolist()}; class "
          f"weights {'off' if class_weight is None else 'on'}", flush=True)

    def fit(phase, epochs):
      return hygiene.fit_phase(model, config, model_run_dir, phase, train_data,
                               validation_data, epochs, class_weight)

    print(f"[Trainer] phase 1: {describe(config, matrix is not None)}, up to {config.epochs} "
          f"epochs at learning rate {config.learning_rate}", flush=True)
    hygiene.compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
    history = {"train": fit("train", config.epochs)}

    if config.fine_tune_epochs and matrix is not None:
      model.get_layer(models.EMBEDDING).trainable = True
      print(f"[Trainer] phase 2: pretrained embedding unfrozen, up to "
            f"{config.fine_tune_epochs} epochs at learning rate "
            f"{config.fine_tune_learning_rate}", flush=True)
      hygiene.compile_classifier(model, keras.optimizers.Adam(config.fine_tune_learning_rate))
      history["fine_tune"] = fit("fine_tune", config.fine_tune_epochs)
    elif config.fine_tune_epochs:
      print("[Trainer] phase 2 skipped: no pretrained embeddings to unfreeze (the model was "
            "trained end to end in phase 1)", flush=True)
  reports.write_history(model_run_dir, history, started)
  end_to_end = vectorization.end_to_end(vectorizer, model)
  eval_docs = documents.read_documents(eval_files)
  eval_probabilities = predict(end_to_end, eval_docs.texts)
  write_reports(model, history, validation_data, eval_docs, eval_probabilities, label_names,
                config.wrong_examples, model_run_dir)
  scores = baselines.write_baselines(documents.read_documents(train_files), eval_docs,
                                     eval_probabilities.argmax(axis=1), model_run_dir,
                                     config.seed)
  print(f"[Trainer] eval accuracy: model {scores['model_eval_accuracy']:.3f}, TF-IDF + "
        f"logistic regression {scores['tfidf_logreg_accuracy']:.3f}, majority class "
        f"{scores['majority_accuracy']:.3f} ({scores['eval_examples']} eval, "
        f"{scores['train_examples']} train documents)", flush=True)
  normaliser = serving_normaliser(ingest, max_chars)
  export.export_classifier(end_to_end, label_names, serving_model_dir, input_name="text",
                           example_key=documents.TEXT_KEY, preprocess=normaliser,
                           edge=edge_input(config, vectorizer, model, normaliser))
  contracts.write_eval_figures(serving_model_dir, scores["model_eval_accuracy"],
                            scores["eval_examples"])
  warm_start.save(model, label_names, serving_model_dir,
                  {TOKENS_FILE: vocabulary, ARCHITECTURE_FILE: architecture(config, model)})
  return end_to_end


TOKENS_FILE = "tokens.json"
ARCHITECTURE_FILE = "text_model.json"


def edge_input(config: pipeline_config.TextTrainerConfig,
               vectorizer: keras.layers.TextVectorization, model: keras.Model,
               normaliser) -> export.EdgeInput:
  """The classifier's own input, for edge runtimes: the vectorised document (TFLite cannot
  run the string lookups), with the vectoriser's rules and vocabulary as its contract."""
  settings = vectorizer.get_config()
  output_mode = settings["output_mode"]
  width = (len(vectorizer.get_vocabulary()) if output_mode != "int"
           else config.sequence_length)
  contract = {"kind": "tokens", "output_mode": output_mode,
              "standardize": settings["standardize"], "split": settings["split"],
              "ngrams": settings["ngrams"],
              "output_sequence_length": settings.get("output_sequence_length"),
              "vocabulary": vectorizer.get_vocabulary(),
              "decode": ("the document's bytes decoded by their BOM (UTF-8/16/32) or the "
                         "fallback encoding, NFC-normalised and cut as ingestion does, then "
                         "vectorised by these rules (in int mode index 0 is padding and 1 the "
                         "unknown token; in the other modes index 0 is the unknown token)"),
              "preprocess_signature": export.PREPROCESS_SIGNATURE}
  if output_mode == "tf_idf":
    contract["idf_weights"] = [float(w) for w in
                               vectorizer._lookup_layer.idf_weights.numpy()]  # pylint: disable=protected-access
  dtype = tf.int64 if output_mode == "int" else tf.float32
  return export.EdgeInput(model=model, spec=tf.TensorSpec([None, width], dtype),
                          to_input=lambda raw: vectorizer(normaliser(raw)),
                          contract=contract)


def architecture(config: pipeline_config.TextTrainerConfig, model: keras.Model) -> dict:
  """What a blessed model's weights need to fit this run's (besides the vocabulary)."""
  return {"model": config.model, "ngrams": config.ngrams, "dense_units": config.dense_units,
          "bow_output_mode": config.bow_output_mode,
          "sequence_length": config.sequence_length,
          "embedding_dim": (model.get_layer(models.EMBEDDING).output_dim
                            if config.model != "bow" else None)}


def token_layer(config: pipeline_config.TextTrainerConfig) -> str:
  """The layer with one row of weights per vocabulary entry."""
  return "dense" if config.model == "bow" else models.EMBEDDING


def warm_start_from(config, model: keras.Model, vocabulary: List[str],
                    label_names: List[str], base_model: Optional[str],
                    model_run_dir: str) -> Optional[dict]:
  """Starts `model` from the blessed model when the architecture is the same. The vocabulary
  is adapted afresh on this run's train split: a token's rows of the token layer (the bag of
  n-grams' first Dense, or the Embedding) are the blessed model's where it had the token, and
  new tokens keep their initial rows (pretrained vectors with --embeddings)."""
  if not base_model:
    return None
  tokens = warm_start.read_extra(base_model, TOKENS_FILE)
  saved = warm_start.read_extra(base_model, ARCHITECTURE_FILE)
  mine = architecture(config, model)
  if tokens is None or saved is None:
    print(f"[Trainer] cold start: the blessed model {base_model} has no saved vocabulary",
          flush=True)
    return None
  if saved != mine:
    print("[Trainer] cold start: the blessed model differs in " + ", ".join(
        f"{k} ({saved.get(k)} -> {v})" for k, v in mine.items() if saved.get(k) != v),
        flush=True)
    return None
  layer = model.get_layer(token_layer(config))
  initial = layer.get_weights()

  def remap(previous: keras.Model, new: keras.Model) -> str:
    if tokens == vocabulary:
      return "same vocabulary"
    old_rows = previous.get_layer(token_layer(config)).get_weights()
    index = {t: i for i, t in enumerate(tokens)}
    pairs = np.array([(i, index[t]) for i, t in enumerate(vocabulary) if t in index],
                     dtype=np.int64).reshape(-1, 2)
    rows = initial[0].copy()
    rows[pairs[:, 0]] = old_rows[0][pairs[:, 1]]
    new.get_layer(token_layer(config)).set_weights([rows, *old_rows[1:]])
    return (f"{len(pairs)} of {len(vocabulary)} vocabulary entries' weights reused from the "
            f"blessed model's {len(tokens)}, {len(vocabulary) - len(pairs)} new")

  return warm_start.load(
      model, label_names, base_model,
      lambda n: models.build_classifier(config, len(tokens), n, None) if config.model == "bow"
      else _sequence_model(config, len(tokens), n, mine["embedding_dim"]),
      model_run_dir, adapt=remap)


def _sequence_model(config, vocabulary_size: int, classes: int, dimension: int):
  return models.build_classifier(dataclasses.replace(config, embedding_dim=dimension),
                                 vocabulary_size, classes, None)


def serving_normaliser(ingest: Optional[pipeline_config.TextIngestConfig],
                       max_chars: Optional[int]) -> normalise.IngestionNormaliser:
  """What TextExampleGen did to each document, in the serving graph (its settings)."""
  ingest = ingest or pipeline_config.TextIngestConfig()
  return normalise.IngestionNormaliser(
      max_chars=max_chars or ingest.max_chars, fallback_encoding=ingest.fallback_encoding,
      on_too_long=ingest.on_too_long, max_control_fraction=ingest.max_control_fraction)


def describe(config: pipeline_config.TextTrainerConfig, pretrained: bool) -> str:
  if config.model == "bow":
    return f"bag of 1- to {config.ngrams}-grams ({config.bow_output_mode})"
  return (f"{config.model} on {'frozen pretrained' if pretrained else 'learned'} embeddings "
          f"of {config.sequence_length} tokens")


def predict(end_to_end: keras.Model, texts: List[str]) -> np.ndarray:
  """Probabilities [len(texts), classes] from raw documents."""
  batches = [end_to_end(batch, training=False).numpy() for batch in
             tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(
                 PREDICT_BATCH)]
  return np.concatenate(batches) if batches else np.zeros((0, end_to_end.output_shape[-1]))


def write_reports(model: keras.Model, history: dict, validation_data, eval_docs,
                  eval_probabilities: np.ndarray, label_names: List[str], wrong_count: int,
                  model_run_dir: str) -> dict:
  """Training curves, the validation confusion matrix, the model plot (PNG files) and the
  most confidently wrong eval documents (Markdown)."""
  folder = reports.reports_dir(model_run_dir)
  labels, probabilities = reports.predict_labels(model, validation_data)
  written = {
      **reports.classifier_reports(model, history, labels, probabilities, label_names, folder),
      "confidently_wrong": wrong_examples.confidently_wrong(
          eval_docs, eval_probabilities, label_names, wrong_count,
          os.path.join(folder, "confidently_wrong.md")),
  }
  print(f"[Trainer] reports written to {folder}", flush=True)
  return written
