"""Crosswalk's own library: staging store, extract stage, settings and CLI (Dagster wiring is in pipelines/)."""

__version__ = "0.1.0"
