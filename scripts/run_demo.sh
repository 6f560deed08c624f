#!/usr/bin/env bash
# The main job: set up .venv/, get the demo data (and weights), run the pipeline end to end.
# Usage: scripts/run_demo.sh [--task TASK] [--dataset NAME] [extra 'python -m pipeline run' flags]
# The tasks, their demos and defaults come from their descriptors (pipeline/tasks/): see
# `python -m pipeline demo --help`. Without flags: the default task's main demo (the README
# says which, and what it measures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup_env.sh
exec .venv/bin/python -m pipeline demo "$@"
