"""The sync jobs (SPEC E): sync_projects (Intacct + Salesforce), sync_quickbooks (ESP+ + QuickBooks), sync_all.

By default a run executes in one process, so each system's client, and its API session, is shared by all of that
run's streams. Dagster's multi_or_in_process_executor lets a run choose: its run config's `execution: config:
multiprocess: {...}` puts each step in a process of its own (its own clients, the store and the instance shared in
PostgreSQL), and CROSSWALK_EXECUTOR sets what a deployment's runs choose when their run config says nothing.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import AssetSelection, define_asset_job, multi_or_in_process_executor

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE
from crosswalk.config import ConfigError
from crosswalk.sync.projects import SYNC as PROJECTS

QUICKBOOKS_SYNC = "quickbooks_sync"  # the QuickBooks sync's asset group (its extract group is `quickbooks`)

# A run tag per sync the run performs (sync_all carries both): dagster.yaml's run queue lets one run at a time hold
# each, and a sync's schedule skips its tick while a run holding it is queued or going.
SYNC_TAGS = {"sync_projects": "crosswalk/sync_projects", "sync_quickbooks": "crosswalk/sync_quickbooks"}

# in_process (default) | multiprocess | multiprocess:N (at most N step processes at once; default the CPU count).
EXECUTOR_ENV = "CROSSWALK_EXECUTOR"
# Step processes fork from a server that imported the code location once: a step then costs what it does, not the
# seconds of importing Dagster, the assets and their clients again.
PRELOAD_MODULES = ["pipelines.definitions"]


def sync_tags(*syncs: str) -> dict[str, str]:
    return {SYNC_TAGS[sync]: "true" for sync in syncs}


def executor_config(value: str | None = None) -> dict[str, Any]:
    """multi_or_in_process_executor's config for CROSSWALK_EXECUTOR (or `value`); a bad value names the variable."""
    text = (os.environ.get(EXECUTOR_ENV, "") if value is None else value).strip().lower() or "in_process"
    mode, colon, limit = text.partition(":")
    if mode == "in_process" and not colon:
        return {"in_process": {}}
    if mode == "multiprocess" and (not colon or (limit.isdigit() and int(limit) > 0)):
        return {
            "multiprocess": {
                "max_concurrent": int(limit) if colon else None,
                "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}},
            }
        }
    raise ConfigError(f"{EXECUTOR_ENV} must be in_process, multiprocess or multiprocess:N (N > 0), got {text!r}")


# The jobs' default run config: a run whose config names no executor gets this one, and any run config (the UI's
# launchpad, `dagster job execute -c`) can choose the other.
RUN_CONFIG = {"execution": {"config": executor_config()}}

sync_projects = define_asset_job(
    "sync_projects",
    selection=AssetSelection.groups(INTACCT, SALESFORCE, PROJECTS),
    executor_def=multi_or_in_process_executor,
    config=RUN_CONFIG,
    description="Intacct projects/tasks with Salesforce (SPEC A): extract, plan, load.",
    tags=sync_tags("sync_projects"),
)
sync_quickbooks = define_asset_job(
    "sync_quickbooks",
    selection=AssetSelection.groups(ESP, QUICKBOOKS, QUICKBOOKS_SYNC),
    executor_def=multi_or_in_process_executor,
    config=RUN_CONFIG,
    description="ESP+ companies and documents to QuickBooks Online, status back (SPEC B): extract, plan, load.",
    tags=sync_tags("sync_quickbooks"),
)
sync_all = define_asset_job(
    "sync_all",
    selection=AssetSelection.groups(INTACCT, SALESFORCE, PROJECTS, ESP, QUICKBOOKS, QUICKBOOKS_SYNC),
    executor_def=multi_or_in_process_executor,
    config=RUN_CONFIG,
    description="Both syncs.",
    tags=sync_tags("sync_projects", "sync_quickbooks"),
)

JOBS = [sync_projects, sync_quickbooks, sync_all]
