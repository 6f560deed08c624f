"""The import rules of the spine (static, on the source): components/ and trainer/ import
neither each other nor pipeline/, and no import cycle exists (imports inside functions
count: a lazy import that closes a cycle is still one). Shared contracts
live in schemas/ (contracts.py, image_formats.py, windows.py)."""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("components", "trainer", "pipeline", "schemas")
# None: the offline augmentation step runs the module the pipeline names (the Trainer's
# Augmenter, as TFX names a run_fn), never a static import.
ALLOWED = set()


def _modules():
  for package in PACKAGES:
    for folder, _, names in os.walk(os.path.join(REPO, package)):
      for name in names:
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
          yield module.removesuffix(".__init__"), path


def _imports(path, every_level=False):
  """Toolkit modules imported at module level (or anywhere, with every_level): for
  `from package import name`, the submodule when `name` is one, else the package."""
  modules = dict(_modules())
  tree = ast.parse(open(path, encoding="utf-8").read())
  nodes = ast.walk(tree) if every_level else tree.body
  found = set()
  for node in nodes:
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      for alias in node.names:
        name = f"{node.module}.{alias.name}"
        found.add(name if name in modules else node.module)
  return {name for name in found if name.split(".")[0] in PACKAGES}


def test_components_and_trainers_never_import_each_other_or_the_pipeline():
  crossing = []
  for module, path in _modules():
    top = module.split(".")[0]
    forbidden = {"components": ("trainer", "pipeline"), "trainer": ("components", "pipeline"),
                 "schemas": ("components", "trainer", "pipeline")}.get(top, ())
    for name in _imports(path, every_level=True):
      if name.split(".")[0] in forbidden and (module, name) not in ALLOWED:
        crossing.append(f"{module} -> {name}")
  assert not crossing, crossing


def test_no_import_cycle():
  modules = dict(_modules())
  graph = {}
  for module, path in modules.items():
    graph[module] = {n for n in _imports(path, every_level=True) if n in modules and n != module}
  state, cycles = {}, []

  def visit(node, stack):
    state[node] = "open"
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        cycles.append(stack[stack.index(nxt):] + [nxt])
      elif nxt not in state:
        visit(nxt, stack + [nxt])
    state[node] = "done"

  for module in sorted(graph):
    if module not in state:
      visit(module, [module])
  # A package's __init__ importing its own submodule is not a cycle of two modules.
  cycles = [c for c in cycles if not all(m.startswith(c[0]) or c[0].startswith(m) for m in c)]
  assert not cycles, cycles


def test_a_private_api_patch_fails_loudly_on_an_unchecked_version(monkeypatch):
  """Beam's TFRecord CRC and TensorFlow's AutoGraph rules are patched: on a version the
  patch was not written for, importing the module raises instead of silently misbehaving."""
  import pytest  # pylint: disable=import-outside-toplevel
  import apache_beam  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from schemas import patches  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(apache_beam, "__version__", "9.0.0")
  with pytest.raises(RuntimeError, match="written for Beam 2.59.0; this is 9.0.0"):
    patches.fast_tfrecord_checksums()
  monkeypatch.setattr(tf, "__version__", "9.1.0")
  with pytest.raises(RuntimeError, match="written for TensorFlow 2.16.; this is 9.1.0"):
    patches.skip_autograph_for_tf_keras()


def test_private_api_patches_live_in_one_module():
  """Only schemas/patches.py touches Beam's or TensorFlow's private attributes."""
  found = []
  for module, path in _modules():
    text = open(path, encoding="utf-8").read()
    if module != "schemas.patches" and ("_default_crc32c_fn" in text
                                        or "CONVERSION_RULES" in text):
      found.append(module)
  assert not found, found
