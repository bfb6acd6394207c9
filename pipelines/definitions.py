"""The one Definitions object of the code location (module pipelines.definitions, attribute defs)."""

from __future__ import annotations

from dagster import Definitions

from assets.extract import EXTRACT_ASSETS
from assets.sync import build_projects_assets
from crosswalk.config import extract_settings, load_settings, projects_settings
from pipelines.jobs import JOBS
from resources.systems import resources_from_env

# Read and validated here so a bad settings file stops the code location once, naming file and key, instead of
# failing every step of a run that has already started.
extract_settings()
projects_settings()
load_settings()

defs = Definitions(assets=[*EXTRACT_ASSETS, *build_projects_assets()], jobs=JOBS, resources=resources_from_env())
