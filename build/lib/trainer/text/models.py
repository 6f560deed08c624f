"""The text classifiers of Chollet ch. 11, on vectorised input (token ids or n-gram vectors).

bow     n-gram vector -> Dense(dense_units, relu) -> Dropout -> softmax
conv1d  Embedding -> Conv1D/MaxPooling1D -> Conv1D -> GlobalMaxPooling1D -> Dropout -> softmax
lstm    Embedding(mask_zero) -> LSTM -> Dropout -> softmax
bilstm  Embedding(mask_zero) -> Bidirectional(LSTM) -> Dropout -> softmax
gru     Embedding(mask_zero) -> GRU -> Dropout -> softmax
"""

from typing import Optional

import numpy as np
from tensorflow import keras

import pipeline_config

EMBEDDING = "embedding"
# Recurrent units and conv filters (the book's 32), widened to the class count so the layer
# before the softmax is never a bottleneck.
SEQUENCE_UNITS = 32
CONV_KERNEL = 7
CONV_POOL = 5


def build_classifier(config: pipeline_config.TextTrainerConfig, vocabulary_size: int,
                     num_classes: int,
                     embedding_matrix: Optional[np.ndarray] = None) -> keras.Model:
  """The classifier on the vectoriser's output. `embedding_matrix` [vocabulary_size, dim]
  initialises a frozen Embedding (sequence models only); None learns it from scratch."""
  if config.model == "bow":
    inputs = keras.Input(shape=(vocabulary_size,), name="ngrams")
    x = keras.layers.Dense(config.dense_units, activation="relu", name="dense")(inputs)
  else:
    inputs = keras.Input(shape=(config.sequence_length,), dtype="int64", name="tokens")
    x = _sequence_body(config, inputs, vocabulary_size, num_classes, embedding_matrix)
  x = keras.layers.Dropout(config.dropout, name="dropout")(x)
  outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
  return keras.Model(inputs, outputs, name=f"{config.model}_classifier")


def _sequence_body(config, tokens, vocabulary_size, num_classes, embedding_matrix):
  units = max(SEQUENCE_UNITS, num_classes)
  if embedding_matrix is None:
    embedding = keras.layers.Embedding(vocabulary_size, config.embedding_dim,
                                       mask_zero=config.model != "conv1d", name=EMBEDDING)
  else:
    embedding = keras.layers.Embedding(
        vocabulary_size, embedding_matrix.shape[1],
        embeddings_initializer=keras.initializers.Constant(embedding_matrix),
        mask_zero=config.model != "conv1d", trainable=False, name=EMBEDDING)
  x = embedding(tokens)
  if config.model == "conv1d":
    # Conv1D takes no mask: padding ids embed like any token (the max-pool mostly ignores
    # them). "same" padding keeps short sequence_lengths valid.
    x = keras.layers.Conv1D(units, CONV_KERNEL, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling1D(CONV_POOL, padding="same")(x)
    x = keras.layers.Conv1D(units, CONV_KERNEL, activation="relu", padding="same")(x)
    return keras.layers.GlobalMaxPooling1D()(x)
  if config.model == "lstm":
    return keras.layers.LSTM(units)(x)
  if config.model == "bilstm":
    return keras.layers.Bidirectional(keras.layers.LSTM(units))(x)
  if config.model == "gru":
    return keras.layers.GRU(units)(x)
  raise ValueError(f"Unknown text model {config.model!r}; expected one of "
                   f"{pipeline_config.TEXT_MODELS}.")
