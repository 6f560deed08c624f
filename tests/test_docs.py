"""The docs and docstrings name only files that exist: every repository path quoted in the
README, docs/, requirements.in and the modules' docstrings and comments; every Markdown link
of the README, CONTRIBUTING.md and docs/ resolves, and the README links every docs page."""

import glob
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
  names = _tracked((".py", ".md", ".sh", ".in", ".toml"))
  names += [n for n in _pages() if n not in names]     # docs/ pages not committed yet
  for name in names:
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
  names = _tracked((".py", ".md"))
  for name in names + [n for n in _pages() if n not in names]:
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
      assert "ARCHITECTURE.md" not in f.read() or name == "tests/test_docs.py", name


# The Markdown pages: the README, CONTRIBUTING.md and docs/*.md, read from disk (not from
# `git ls-files`), so that a page that is not committed yet is checked too.
def _pages():
  names = ["README.md", "CONTRIBUTING.md"]
  names += sorted("docs/" + os.path.basename(p) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
  return [n for n in names if os.path.isfile(os.path.join(REPO, n))]


def _read(name):
  with open(os.path.join(REPO, name), encoding="utf-8") as f:
    return f.read()


_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
# [text](target) and ![alt](target), with an optional "title"; code is stripped first.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text):
  """The page without fenced code blocks and code spans (where `[x](y)` is not a link)."""
  return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _links(name):
  """(target path relative to the repository, anchor or None) for every relative link."""
  out = []
  for target in _LINK.findall(_prose(_read(name))):
    if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):      # http:, https:, mailto:, ...
      continue
    path, _, anchor = target.partition("#")
    path = (os.path.normpath(os.path.join(os.path.dirname(name), path)) if path else name)
    out.append((path, anchor or None))
  return out


def _slug(heading):
  """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
  text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()   # a link: its text
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def _anchors(name):
  seen, anchors = {}, set()
  for heading in _HEADING.findall(_FENCE.sub("", _read(name))):
    slug = _slug(heading)
    anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
    seen[slug] = seen.get(slug, 0) + 1
  return anchors


def test_every_relative_markdown_link_points_to_a_file_that_exists():
  missing = [f"{name}: {path}" for name in _pages() for path, _ in _links(name)
             if not os.path.exists(os.path.join(REPO, path))]
  assert not missing, missing


def test_every_markdown_link_anchor_names_a_heading():
  missing = [f"{name}: {path}#{anchor}" for name in _pages() for path, anchor in _links(name)
             if anchor and path.endswith(".md") and os.path.isfile(os.path.join(REPO, path))
             and anchor not in _anchors(path)]
  assert not missing, missing


def test_the_readme_links_every_docs_page():
  pages = {n for n in _pages() if n.startswith("docs/")}
  assert pages, "docs/ has no pages"
  linked = {path for path, _ in _links("README.md")}
  assert not pages - linked, sorted(pages - linked)
  assert "CONTRIBUTING.md" in linked


def test_every_docs_page_has_a_title_and_a_link_back_to_the_readme():
  for name in _pages():
    if not name.startswith("docs/"):
      continue
    lines = _read(name).splitlines()
    assert lines and lines[0].startswith("# "), name
    assert any(path == "README.md" for path, _ in _links(name)), name
    assert "../README.md" in "\n".join(lines[:4]), name


def test_the_readme_quick_start_runs_the_demo_then_the_tests():
  """CI (.ci/run) and users run the README's first two commands as they are."""
  text = _read("README.md")
  quick_start = text.split("## Quick start", 1)[1]
  block = re.search(r"```bash\n(.*?)```", quick_start, re.S).group(1)
  assert block.split("\n")[:2] == ["./scripts/run_demo.sh", "./scripts/run_tests.sh"]
  assert text.index("./scripts/run_demo.sh") < text.index("./scripts/run_tests.sh")
  assert "./scripts/run_demo.sh" not in text.split("## Quick start", 1)[0]
