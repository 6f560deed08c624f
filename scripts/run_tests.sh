#!/usr/bin/env bash
# The test suite: set up .venv/, then run pytest on both cores (pytest-xdist, a test file per
# worker so module fixtures and test order hold; TEST_WORKERS=0
# runs in one process). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup_env.sh
# The slowest tests are listed at the end, so a slow one is visible in CI output.
exec .venv/bin/python -m pytest tests -n "${TEST_WORKERS:-2}" --dist loadfile --durations=25 "$@"
