"""The one Definitions object of the code location (module pipelines.definitions, attribute defs)."""

from __future__ import annotations

from dagster import Definitions

from assets.extract import EXTRACT_ASSETS
from pipelines.jobs import JOBS
from resources.systems import resources_from_env

defs = Definitions(assets=EXTRACT_ASSETS, jobs=JOBS, resources=resources_from_env())
