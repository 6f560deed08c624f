"""Text to numbers (Chollet ch. 11): a TextVectorization adapted on the train split only.

Training maps the vectoriser over the tf.data pipeline (vectorising on the CPU, once per batch,
outside the model); the exported model puts the same layer in front of the classifier, so
standardisation and vectorisation live inside the serving graph.
"""

import tensorflow as tf
from tensorflow import keras

import pipeline_config


def adapted_vectorizer(config: pipeline_config.TextTrainerConfig,
                       train_texts: tf.data.Dataset) -> keras.layers.TextVectorization:
  """`train_texts`: batches of train documents, never validation or eval ones (their words
  must not leak into the vocabulary or the IDF weights)."""
  if config.model == "bow":
    vectorizer = keras.layers.TextVectorization(
        max_tokens=config.max_tokens, ngrams=config.ngrams,
        output_mode=config.bow_output_mode, name="vectorizer")
  else:
    vectorizer = keras.layers.TextVectorization(
        max_tokens=config.max_tokens, output_mode="int",
        output_sequence_length=config.sequence_length, name="vectorizer")
  vectorizer.adapt(train_texts)
  return vectorizer


def vectorized(dataset: tf.data.Dataset,
               vectorizer: keras.layers.TextVectorization) -> tf.data.Dataset:
  """(text, label) batches -> (vectorised text, label) batches."""
  return dataset.map(lambda text, label: (vectorizer(text), label),
                     num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def end_to_end(vectorizer: keras.layers.TextVectorization,
               classifier: keras.Model) -> keras.Model:
  """Raw documents (1-D tf.string) in, class probabilities out: the model that is exported."""
  text = keras.Input(shape=(), dtype=tf.string, name="text")
  return keras.Model(text, classifier(vectorizer(text)), name="text_classifier")
