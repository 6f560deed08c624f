"""The docs and docstrings name only files that exist: every repository path quoted in the
README, requirements.in and the modules' docstrings and comments."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A path with a folder of this repository and a file extension, as the docs quote them.
_TOP = ("pipeline", "components", "trainer", "schemas", "tests", "scripts", "bench")
_PATH = re.compile(r"(?<![\w/.<-])((?:%s)/[\w./-]*\.(?:py|sh|pbtxt|json|md|in|lock))\b"
                   % "|".join(_TOP))


def _tracked(suffixes):
  files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
  return [f for f in files if f.endswith(suffixes)]


def test_every_repository_path_the_docs_name_exists():
  missing = []
  for name in _tracked((".py", ".md", ".sh", ".in", ".toml")):
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
      text = f.read()
    for path in _PATH.findall(text):
      path = path.rstrip(".")
      # Generated outputs (bench/results.json) and placeholders are not repository files.
      if "<" in path or path.startswith("bench/results") or "*" in path:
        continue
      if not os.path.exists(os.path.join(REPO, path)):
        missing.append(f"{name}: {path}")
  assert not missing, missing


def test_no_doc_cites_a_file_outside_the_repository():
  for name in _tracked((".py", ".md")):
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
      assert "ARCHITECTURE.md" not in f.read() or name == "tests/test_docs.py", name
