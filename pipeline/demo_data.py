"""Demo datasets that need no network: they come from packages the toolkit installs."""

import os

import numpy as np
from PIL import Image

import pipeline_config

DIGITS_SIZE = 64


def write_digits(output: str, size: int = DIGITS_SIZE) -> int:
  """Writes scikit-learn's 1,797 bundled 8x8 digits as `size`-px PNGs in class folders.

  Returns the number of files written. Folders are named '0'..'9'.
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  for label in range(10):
    os.makedirs(os.path.join(output, str(label)), exist_ok=True)
  for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
    gray = np.clip(pixels * (255.0 / 16.0), 0, 255).astype(np.uint8)
    image = Image.fromarray(gray, "L").resize((size, size), Image.BICUBIC)
    image.save(os.path.join(output, str(label), f"digit_{index:04d}.png"))
  return len(digits.target)


def write_demo_data(task: str, output: str) -> str:
  """Writes the demo dataset for `task` under `output`; returns a one-line description."""
  if task != "image":
    raise pipeline_config.ToolkitError(
        f"No demo dataset for --task {task} yet; only --task image is available.")
  count = write_digits(output)
  return f"Wrote {count} digit images ({DIGITS_SIZE}x{DIGITS_SIZE} PNG, 10 classes) to {output}"
