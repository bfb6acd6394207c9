"""The Dagster code location: `pipelines.definitions.defs` assembles assets, jobs, schedules and resources."""
