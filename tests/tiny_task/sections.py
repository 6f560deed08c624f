"""The bytes task's config sections and flags."""

from dataclasses import dataclass

from pipeline_config import FitConfig, Flag, ToolkitError, register_sections


@dataclass
class BytesIngestConfig:
  """What ByteExampleGen keeps."""
  # Longer files are rejected as too_long.
  max_bytes: int = 64

  def validate(self):
    if self.max_bytes < 1:
      raise ToolkitError(f"max_bytes must be >= 1. Received: max_bytes={self.max_bytes}")


@dataclass
class BytesTrainerConfig(FitConfig):
  """A softmax regression on the byte histogram."""
  epochs: int = 60
  learning_rate: float = 0.1
  batch_size: int = 16

  def validate(self):
    self.validate_fit()
    if self.epochs < 1:
      raise ToolkitError(f"epochs must be >= 1. Received: epochs={self.epochs}")


register_sections("bytes", {"bytes_ingest": BytesIngestConfig,
                            "bytes_trainer": BytesTrainerConfig})

FLAGS = (Flag("max_bytes", "bytes_ingest", "max_bytes", int),)
