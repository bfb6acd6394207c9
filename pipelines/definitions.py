"""The one Definitions object of the code location (module pipelines.definitions, attribute defs)."""

from __future__ import annotations

from dagster import Definitions

from assets.extract import EXTRACT_ASSETS
from assets.projects_sync import build_projects_assets
from assets.quickbooks_sync import build_quickbooks_sync_assets
from crosswalk.config import extract_settings, load_settings, projects_settings, quickbooks_sync_settings
from pipelines.alerts import build_alerts
from pipelines.jobs import JOBS
from pipelines.pools import build_pool_limits_sensor, with_pools
from pipelines.schedules import build_schedules
from resources.systems import resources_from_env

# Read and validated here so a bad settings file stops the code location once, naming file and key, instead of
# failing every step of a run that has already started.
extract_settings()
projects_settings()
quickbooks_sync_settings()
load_settings()

# Every step that calls a system takes a slot of that system's pool (pipelines/pools.py).
ASSETS = with_pools([*EXTRACT_ASSETS, *build_projects_assets(), *build_quickbooks_sync_assets()])
FRESHNESS_CHECKS, ALERT_SENSORS = build_alerts(ASSETS)

defs = Definitions(
    assets=ASSETS,
    asset_checks=FRESHNESS_CHECKS,
    jobs=JOBS,
    schedules=build_schedules(),
    sensors=[*ALERT_SENSORS, build_pool_limits_sensor()],
    resources=resources_from_env(),
)
