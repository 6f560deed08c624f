"""Custom TFX components of the transfer-learning toolkit.

TensorFlow must load Keras 2 (tf_keras): tensorflow-transform and TFMA 1.16 require it, so
the variable is set before anything in this package can import TensorFlow.

`components.IngestReport`, `components.DataGateResult`, `components.StateCommitRecord` and
`components.ModelCard` are the artifact types' import
paths (their Kubeflow schema titles); they load components/artifacts.py on first use, so
importing the package stays cheap.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

_ARTIFACT_TYPES = ("IngestReport", "DataGateResult", "StateCommitRecord", "ModelCard")


def __getattr__(name):
  if name in _ARTIFACT_TYPES:
    from components import artifacts  # pylint: disable=import-outside-toplevel
    return getattr(artifacts, name)
  raise AttributeError(f"module 'components' has no attribute {name!r}")
