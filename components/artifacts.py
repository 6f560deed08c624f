"""The toolkit's own artifact types.

Kubeflow V2 encodes a custom artifact type as its schema title, which must read
`<namespace>.<ClassName>` (one dot) and be importable in the container: TYPE_NAME is
`components.<ClassName>`, and `components/__init__.py` resolves those names to this module.
"""

from tfx import types


def custom_property(artifact: types.Artifact, name: str, default=None):
  """An artifact's custom property as recorded in MLMD (int, string, ...), or `default`."""
  value = (artifact.mlmd_artifact.custom_properties.get(name)
           if artifact.mlmd_artifact else None)
  return getattr(value, value.WhichOneof("value")) if value is not None else default


class IngestReport(types.Artifact):
  """Per-file outcomes of an ingestion: `{uri}/ingest_report.json` and `.md`."""
  TYPE_NAME = "components.IngestReport"


class DataGateResult(types.Artifact):
  """Figures of every gate that passed: `{uri}/gates.json`."""
  TYPE_NAME = "components.DataGateResult"


class StateCommitRecord(types.Artifact):
  """What StateCommit wrote to the pipeline's state: `{uri}/commit.json`."""
  TYPE_NAME = "components.StateCommitRecord"


class ModelCard(types.Artifact):
  """A model's card: `{uri}/model_card.json` and `.md` (also beside the pushed model)."""
  TYPE_NAME = "components.ModelCard"
