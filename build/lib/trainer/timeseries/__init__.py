"""Time-series forecasting: rows read back into series, windows, models, reports."""
