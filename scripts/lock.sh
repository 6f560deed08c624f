#!/usr/bin/env bash
# Regenerates requirements.lock from requirements.in (the pinned set every machine installs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup_env.sh >/dev/null
.venv/bin/python -m uv pip compile --python-version 3.10 \
  --python-platform x86_64-manylinux_2_36 requirements.in -o requirements.lock
