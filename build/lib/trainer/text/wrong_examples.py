"""The report text users read first when a text model disappoints: the eval documents it got
wrong with the most confidence (mislabelled data, or a class the model confuses)."""

import re
from typing import List

import numpy as np
import tensorflow as tf

EXCERPT_CHARS = 200
SHA_PREFIX = 12


def confidently_wrong(docs, probabilities: np.ndarray, label_names: List[str], count: int,
                      path: str) -> str:
  """Writes a Markdown list of the `count` most confidently wrong documents of `docs`:
  confidence, true and predicted label, the first characters, sha256 prefix."""
  predicted = probabilities.argmax(axis=1)
  confidence = probabilities.max(axis=1)
  wrong = np.flatnonzero(predicted != docs.labels)
  worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
  lines = ["# Most confidently wrong eval documents", "",
           f"{len(wrong)} of {len(docs.labels)} eval documents misclassified; the "
           f"{len(worst)} most confident mistakes first.", ""]
  for rank, i in enumerate(worst, start=1):
    lines.append(
        f"{rank}. **{confidence[i]:.3f}** true `{label_names[docs.labels[i]]}`, predicted "
        f"`{label_names[predicted[i]]}`, sha256 `{docs.sha256[i][:SHA_PREFIX]}`: "
        f"{_excerpt(docs.texts[i])}")
  with tf.io.gfile.GFile(path, "w") as f:     # UTF-8, to a local path or a URI
    f.write("\n".join(lines) + "\n")
  return path


def _excerpt(text: str) -> str:
  flat = re.sub(r"\s+", " ", text).strip()
  cut = flat[:EXCERPT_CHARS] + ("…" if len(flat) > EXCERPT_CHARS else "")
  # Backslash-escape Markdown markup so a document cannot break the list.
  return '"' + re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", cut) + '"' if cut else "(empty)"
