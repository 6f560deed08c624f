#!/usr/bin/env bash
# The test suite: set up .venv/, then run pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup_env.sh
# The slowest tests are listed at the end, so a slow one is visible in CI output.
exec .venv/bin/python -m pytest tests --durations=25 "$@"
