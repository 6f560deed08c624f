"""Baselines every text model is read against, on the same splits (Chollet ch. 11 and ch. 4's
common-sense baseline): the most frequent train label, and TF-IDF bigrams + logistic
regression (scikit-learn), both scored on the eval split."""

import json
import os

import numpy as np
import tensorflow as tf

BASELINES_FILE = "baselines.json"


def majority_accuracy(train_labels: np.ndarray, eval_labels: np.ndarray) -> float:
  """Accuracy on eval of always answering the most frequent train label."""
  majority = np.bincount(train_labels).argmax()
  return float(np.mean(eval_labels == majority))


def tfidf_logreg_accuracy(train_texts, train_labels, eval_texts, eval_labels,
                          seed: int = 0) -> float:
  # pylint: disable=import-outside-toplevel
  # Imported here: scikit-learn is only needed by this report.
  from sklearn.feature_extraction.text import TfidfVectorizer
  from sklearn.linear_model import LogisticRegression
  vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
  classifier = LogisticRegression(max_iter=1000, random_state=seed)
  classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
  return float(np.mean(classifier.predict(vectorizer.transform(eval_texts)) == eval_labels))


def write_baselines(train_docs, eval_docs, model_predictions: np.ndarray, model_run_dir: str,
                    seed: int = 0) -> dict:
  """{majority_accuracy, tfidf_logreg_accuracy, model_eval_accuracy, eval_examples,
  train_examples} to <model_run_dir>/baselines.json; `model_predictions` are the trained
  model's label ids for `eval_docs`."""
  results = {
      "majority_accuracy": majority_accuracy(train_docs.labels, eval_docs.labels),
      "tfidf_logreg_accuracy": tfidf_logreg_accuracy(
          train_docs.texts, train_docs.labels, eval_docs.texts, eval_docs.labels, seed),
      "model_eval_accuracy": float(np.mean(model_predictions == eval_docs.labels)),
      "eval_examples": len(eval_docs.labels),
      "train_examples": len(train_docs.labels),
  }
  with tf.io.gfile.GFile(os.path.join(model_run_dir, BASELINES_FILE), "w") as f:
    json.dump(results, f, indent=1)
  return results
