"""The time-series task: CSV files, one series each, forecast `delay` rows ahead from a
window of `lookback` rows (Chollet's ch. 10), judged against the common-sense baselines."""

from typing import Optional

from pipeline.tasks import Demo, Task, register
from schemas.sections import timeseries as sections


def baseline_skip(config) -> Optional[str]:
  if config.timeseries_ingest.on_feature_change == "accept":
    return ("--on-feature-change accept: the model is trained on the columns this data "
            "root holds, which the served model may not read, so the Evaluator judges it "
            "on its own thresholds only")
  return None


def model_card(config) -> dict:
  trainer, ingest = config.timeseries_trainer, config.timeseries_ingest
  return {
      "model": {"model": trainer.model, "residual": trainer.residual, "units": trainer.units,
                "lookback": ingest.lookback, "step": ingest.step, "delay": ingest.delay},
      "limits": [
          f"A forecast needs the latest {ingest.lookback} rows of a series, every value "
          "present and numeric, columns named as in the model's assets/features.json "
          "(any order); the signature refuses another window shape.",
          f"It forecasts {ingest.delay} rows after the window's last row, at the training "
          "data's row interval; values far outside the training range (another unit, a "
          "broken sensor) give forecasts nobody measured."]}


TASK = register(Task(
    name="timeseries",
    example_gen="components.timeseries_example_gen.component.TimeseriesExampleGen",
    schema_file="timeseries_schema.pbtxt",
    run_fn="trainer.timeseries.timeseries_trainer.run_fn",
    ingest_section="timeseries_ingest",
    trainer_sections=("timeseries_trainer", "timeseries_ingest"),
    trainer_section="timeseries_trainer",
    evaluation="forecast",
    evaluator_examples="windows",
    has_classes=False,
    gates=("series",),
    warm_start=True,
    flags=sections.FLAGS,
    data_root="CSV files, one series each, anywhere under the root",
    demos={"nyc_weather": Demo("demo_data/nyc_weather", "work/nyc_weather",
                               "pipeline/timeseries_demo_config.py",
                               "pipeline.demo_data.nyc_weather",
                               about="2013 hourly weather at the New York airports, "
                               "temperature 24 h ahead",
                               drops_writer="pipeline.demo_data.nyc_weather_drops")},
    baseline_skip=f"{__name__}.baseline_skip",
    model_card=f"{__name__}.model_card"))
