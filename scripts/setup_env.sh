#!/usr/bin/env bash
# Creates .venv/ in the repo root with Python 3.10 and installs the locked
# dependency set (requirements.lock). Safe to run repeatedly: an up-to-date
# venv is left alone.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
lock="$repo/requirements.lock"
stamp="$venv/.lock-installed"

find_python310() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' 2>/dev/null; then
    command -v python3.10; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    for p in "$root"/versions/3.10.*/bin/python3.10; do
      [ -x "$p" ] && { echo "$p"; return 0; }
    done
  fi
  for p in "$HOME"/.pyenv/versions/3.10.*/bin/python3.10; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

if [ -f "$stamp" ] && cmp -s "$lock" "$stamp"; then
  exit 0
fi

if ! py="$(find_python310)"; then
  echo "error: Python 3.10 is required (TFX 1.16 supports Python < 3.11) and none was found." >&2
  echo "Install it with 'pyenv install 3.10' or put a python3.10 on PATH, then rerun." >&2
  exit 1
fi

echo "==> Using $py"
if [ ! -x "$venv/bin/python" ]; then
  echo "==> Creating virtual environment at $venv"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.9.7" \
  || "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
echo "==> Installing locked dependencies (uv pip sync requirements.lock)"
"$venv/bin/python" -m uv pip sync --python "$venv/bin/python" "$lock"
# pip, setuptools and wheel are in the lock: TFX installs Trainer module files with "python -m pip".

cp "$lock" "$stamp"
echo "==> Environment ready"
