"""Crosswalk: the sync hub's own library (staging store, settings, CLI); Dagster wiring lives in pipelines/ and assets/."""

__version__ = "0.1.0"
