#!/usr/bin/env bash
# The main job: set up .venv/, write the digits demo data, run the image pipeline end to end.
# Usage: scripts/run_demo.sh [extra 'python -m pipeline run' flags]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup_env.sh
if [ ! -d demo_data/digits ]; then
  .venv/bin/python -m pipeline demo-data --task image --output demo_data/digits
fi
exec .venv/bin/python -m pipeline run --data-root demo_data/digits --work-dir work/digits \
  --config pipeline/demo_config.py "$@"
