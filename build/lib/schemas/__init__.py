"""The curated TFDV schemas, one per task, shipped inside the package (pyproject's
package-data) so that a container reads them from the installed toolkit."""

import os

SCHEMA_DIR = os.path.dirname(os.path.abspath(__file__))


def schema_path(name: str) -> str:
  """A bare file name is one of the toolkit's schemas; anything else (a path, a URI) is the
  user's own file and is returned as given."""
  return os.path.join(SCHEMA_DIR, name) if os.path.basename(name) == name else name
