"""Dagster resources: the staging store and one resource per external system, each owning its client."""
