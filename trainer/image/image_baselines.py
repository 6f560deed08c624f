"""What the transfer-learning model is worth: its eval accuracy beside the same job done from
scratch (`<model_run_dir>/baselines.json`, shown in last_run.json's metrics.baselines).

With `TrainerConfig.scratch_baseline`, the Trainer also trains Chollet's small convnet from
random weights on the same train and validation splits, at the same image size, with the same
class weights and callbacks, and scores both models on the eval split. The eval split is only
scored here, never used to choose anything: the Evaluator alone blesses on it.
"""

import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow import keras

from schemas import backbones
from trainer.image import data, model as model_lib
from trainer.common import hygiene

BASELINES_FILE = "baselines.json"


def eval_accuracy(model: keras.Model, dataset: tf.data.Dataset) -> Dict[str, float]:
  labels, predicted = [], []
  for pixels, label in dataset:
    labels.append(label.numpy())
    predicted.append(model(pixels, training=False).numpy().argmax(axis=1))
  labels, predicted = np.concatenate(labels), np.concatenate(predicted)
  return {"accuracy": float(np.mean(labels == predicted)), "examples": int(labels.size)}


def model_eval_accuracy(config, model: keras.Model, eval_files: List[str],
                        background: Sequence[int]) -> Dict[str, float]:
  return eval_accuracy(model, data.make_dataset(eval_files, config.image_size,
                                                config.batch_size, shuffle=False,
                                                seed=config.seed, background=background))


def write_scratch_baseline(config, model: keras.Model, train_files: List[str],
                           validation_files: List[str], eval_files: List[str],
                           num_classes: int, background: Sequence[int], model_run_dir: str,
                           class_weight: Optional[Dict[int, float]] = None,
                           evaluated: Optional[Dict[str, float]] = None) -> Dict[str, float]:
  """Trains the from-scratch baseline and writes both models' eval accuracy (`evaluated`:
  the model's, when already measured)."""
  def dataset(files, shuffle=False):
    return data.make_dataset(files, config.image_size, config.batch_size, shuffle=shuffle,
                             seed=config.seed, background=background)

  evaluated = evaluated or eval_accuracy(model, dataset(eval_files))
  print(f"[Trainer] from-scratch baseline: {backbones.get_backbone('small_convnet').name}, "
        f"random weights, {config.image_size} px, up to {config.scratch_epochs} epochs on the "
        "same splits", flush=True)
  keras.utils.set_random_seed(config.seed)
  scratch, _ = model_lib.build_classifier(
      backbones.get_backbone("small_convnet"), num_classes, config.image_size, None,
      config.dense_units, config.dropout)
  hygiene.compile_classifier(scratch, keras.optimizers.Adam(config.head_learning_rate))
  history = hygiene.fit_phase(scratch, config, model_run_dir, "scratch_baseline",
                              dataset(train_files, shuffle=True), dataset(validation_files),
                              config.scratch_epochs, class_weight)
  scratch_scores = eval_accuracy(scratch, dataset(eval_files))
  scores = {"model_eval_accuracy": evaluated["accuracy"],
            "from_scratch_accuracy": scratch_scores["accuracy"],
            "from_scratch_epochs": len(history["loss"]),
            "eval_examples": evaluated["examples"]}
  print(f"[Trainer] eval accuracy: this model {scores['model_eval_accuracy']:.3f}, the same "
        f"job from scratch {scores['from_scratch_accuracy']:.3f} "
        f"({scores['eval_examples']} eval images)", flush=True)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, BASELINES_FILE), "w") as f:
    json.dump(scores, f, indent=1)
  return scores
