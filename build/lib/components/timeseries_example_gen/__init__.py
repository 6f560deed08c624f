"""TimeseriesExampleGen: CSV series -> rows split by time, eval windows, an ingest report."""
