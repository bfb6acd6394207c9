"""Revisions of the staging store, numbered 0001, 0002, ... in order; the number is the schema version."""
