#!/usr/bin/env bash
# The main job: set up .venv/, write the demo data, run the pipeline end to end.
# Usage: scripts/run_demo.sh [--task image|text|timeseries] [extra 'python -m pipeline run' flags]
#   image (default): scikit-learn's digits, small convnet from scratch (pipeline/demo_config.py)
#   text: the BBC News corpus, bag of 1-2-grams + dense head (pipeline/text_demo_config.py)
#   timeseries: 2013 hourly weather at the New York airports, temperature 24 h ahead
#     (pipeline/timeseries_demo_config.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
task=image
if [ "${1:-}" = "--task" ]; then
  task="${2:?--task needs image, text or timeseries}"; shift 2
fi
./scripts/setup_env.sh
case "$task" in
  image) data=demo_data/digits; work=work/digits; config=pipeline/demo_config.py ;;
  text) data=demo_data/bbc_news; work=work/bbc_news; config=pipeline/text_demo_config.py ;;
  timeseries) data=demo_data/nyc_weather; work=work/nyc_weather
    config=pipeline/timeseries_demo_config.py ;;
  *) echo "error: --task must be image, text or timeseries. Received: --task $task" >&2
    exit 2 ;;
esac
if [ ! -d "$data" ]; then
  .venv/bin/python -m pipeline demo-data --task "$task" --output "$data"
fi
exec .venv/bin/python -m pipeline run --task "$task" --data-root "$data" --work-dir "$work" \
  --config "$config" "$@"
