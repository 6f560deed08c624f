"""Configuration of the text demo run on the BBC News corpus (`demo-data --task text`).

Defaults otherwise: TextExampleGen with UTF-8 and no fallback, a multi-hot bag of 1-2-grams
and a small dense head (Chollet's strong baseline for short-to-medium documents).
"""

from pipeline_config import EvalConfig, PipelineConfig

CONFIG = PipelineConfig(
    task="text",
    pipeline_name="bbc-news-demo",
    evaluation=EvalConfig(min_accuracy=0.9, max_accuracy_drop=0.0),
)
