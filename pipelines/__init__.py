"""The Dagster code location: `pipelines.definitions.defs` assembles the extract assets, the sync jobs and the
resources."""
