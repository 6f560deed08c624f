"""ImageExampleGen component."""
