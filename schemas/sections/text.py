"""The text task's config sections (`text_ingest`, `text_trainer`) and the flags that set
them; pipeline/tasks/text.py names them. No TensorFlow: components and trainers read these."""

from dataclasses import dataclass
from typing import Optional

from pipeline_config import FitConfig, Flag, ToolkitError, register_sections

TEXT_MODELS = ("bow", "conv1d", "lstm", "bilstm", "gru")


@dataclass
class TextIngestConfig:
  """What TextExampleGen does to each document beyond the shared IngestConfig rules."""
  # Tried when a file is not valid UTF-8 (and has no UTF-16/32 BOM), e.g. "cp1252" or
  # "latin-1"; None rejects such files as not_utf8.
  fallback_encoding: Optional[str] = None
  # Longer documents are truncated to this many characters (after NFC) or rejected.
  max_chars: int = 100_000
  on_too_long: str = "truncate"     # "truncate" | "reject"
  # A document is binary when it has a NUL character or more than this share of control
  # characters (other than tab, newline, carriage return, form feed): "mostly" control
  # characters, since real text has some (backspace overstriking in old Unix texts: 8-17%).
  max_control_fraction: float = 0.3

  def validate(self):
    if self.on_too_long not in ("truncate", "reject"):
      raise ToolkitError("on_too_long must be truncate or reject. "
                         f"Received: on_too_long={self.on_too_long!r}")
    if self.max_chars < 1:
      raise ToolkitError(f"max_chars must be >= 1. Received: max_chars={self.max_chars}")
    if not 0.0 <= self.max_control_fraction <= 1.0:
      raise ToolkitError("max_control_fraction must be in [0, 1]. "
                         f"Received: max_control_fraction={self.max_control_fraction}")
    if self.fallback_encoding:
      try:
        b"a".decode(self.fallback_encoding)     # text encodings only: not hex, base64
      except LookupError:
        raise ToolkitError(
            f"Unknown fallback_encoding {self.fallback_encoding!r}; use a Python text "
            "encoding such as cp1252 or latin-1.") from None


@dataclass
class TextTrainerConfig(FitConfig):
  """Chollet's text recipes (ch. 11): a TextVectorization adapted on the train split only,
  then a bag-of-n-grams model (the strong baseline) or a sequence model on embeddings."""
  model: str = "bow"                # bow | conv1d | lstm | bilstm | gru
  max_tokens: int = 20_000          # vocabulary size, including the OOV token
  # bow: n-grams up to this size, encoded as `bow_output_mode` (multi_hot, count, tf_idf).
  # multi_hot is the default: on short documents (headlines) TF-IDF weights learned on a
  # small train split made the dense head seed-sensitive (0.66-0.74 vs 0.76 multi-hot).
  ngrams: int = 2
  bow_output_mode: str = "multi_hot"
  # Sequence models: documents cut or padded to this many tokens.
  sequence_length: int = 400
  embedding_dim: int = 128
  # A GloVe-format text file ("word v1 v2 ... vN" per line, local or gs://) for the
  # Embedding: frozen in phase 1, unfrozen at fine_tune_learning_rate in phase 2 when
  # fine_tune_epochs > 0. None learns the embedding from scratch.
  embeddings: Optional[str] = None
  epochs: int = 20
  learning_rate: float = 1e-3
  fine_tune_epochs: int = 0
  fine_tune_learning_rate: float = 1e-4
  dense_units: int = 64
  early_stopping_patience: int = 3
  reduce_lr_patience: int = 2
  # Documents listed in the "most confidently wrong" report.
  wrong_examples: int = 20

  def validate(self):
    if self.model not in TEXT_MODELS:
      raise ToolkitError(f"Unknown text model. Choose one of {', '.join(TEXT_MODELS)}. "
                         f"Received: model={self.model!r}")
    if self.bow_output_mode not in ("multi_hot", "count", "tf_idf"):
      raise ToolkitError("bow_output_mode must be multi_hot, count or tf_idf. "
                         f"Received: bow_output_mode={self.bow_output_mode!r}")
    self.validate_fit()
    for name in ("max_tokens", "ngrams", "sequence_length", "embedding_dim", "epochs"):
      if getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
    if self.max_tokens < 3:
      raise ToolkitError(f"max_tokens must be >= 3. Received: max_tokens={self.max_tokens}")
    if self.fine_tune_epochs < 0:
      raise ToolkitError(
          f"fine_tune_epochs must be >= 0. Received: fine_tune_epochs={self.fine_tune_epochs}")
    for name in ("learning_rate", "fine_tune_learning_rate"):
      if not 0 < getattr(self, name) < 1:
        raise ToolkitError(f"{name} must be in (0, 1). Received: {name}={getattr(self, name)}")
    if self.embeddings is not None and self.model == "bow":
      raise ToolkitError("Pretrained embeddings need a sequence model (conv1d, lstm, bilstm "
                         "or gru); bow has no Embedding layer. Received: model='bow'")


register_sections("text", {"text_ingest": TextIngestConfig, "text_trainer": TextTrainerConfig})

# Flags of `python -m pipeline run --task text` (section None: the task's trainer section).
FLAGS = (
    Flag("text_model", "text_trainer", "model"),
    Flag("max_tokens", "text_trainer", "max_tokens", int),
    Flag("ngrams", "text_trainer", "ngrams", int),
    Flag("sequence_length", "text_trainer", "sequence_length", int),
    Flag("embeddings", "text_trainer", "embeddings"),
    Flag("fallback_encoding", "text_ingest", "fallback_encoding"),
    Flag("max_chars", "text_ingest", "max_chars", int),
    Flag("on_too_long", "text_ingest", "on_too_long"),
)
