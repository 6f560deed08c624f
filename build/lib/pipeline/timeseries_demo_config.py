"""Configuration of the time-series demo on 2013 hourly weather at the three New York airports
(`demo-data --task timeseries`): temperature (degrees F) 24 hours ahead from the previous
5 days, the book's setting on this data.

Ingestion leaves out `origin` (text), `year` (constant), `month`, `day` and `hour` (they repeat
the timestamp), `wind_gust` and `pressure` (missing in 80% and 10% of the rows); the model reads
temp, dewp, humid, wind_dir, wind_speed, precip and visib.
"""

from pipeline_config import PipelineConfig, TimeseriesConfig

CONFIG = PipelineConfig(
    task="timeseries",
    pipeline_name="nyc-weather-demo",
    timeseries=TimeseriesConfig(time_column="time_hour", target_column="temp", lookback=120,
                                delay=24),
)
