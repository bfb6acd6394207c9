"""The sync jobs (SPEC E): sync_projects (Intacct + Salesforce), sync_quickbooks (ESP+ + QuickBooks), sync_all.

They run in one process so each system's client, and its API session, is shared by all of that run's streams.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE
from crosswalk.sync.projects import SYNC as PROJECTS

QUICKBOOKS_SYNC = "quickbooks_sync"  # the QuickBooks sync's asset group (its extract group is `quickbooks`)

# A run tag per sync the run performs (sync_all carries both): dagster.yaml's run queue lets one run at a time hold
# each, and a sync's schedule skips its tick while a run holding it is queued or going.
SYNC_TAGS = {"sync_projects": "crosswalk/sync_projects", "sync_quickbooks": "crosswalk/sync_quickbooks"}


def sync_tags(*syncs: str) -> dict[str, str]:
    return {SYNC_TAGS[sync]: "true" for sync in syncs}


sync_projects = define_asset_job(
    "sync_projects",
    selection=AssetSelection.groups(INTACCT, SALESFORCE, PROJECTS),
    executor_def=in_process_executor,
    description="Intacct projects/tasks with Salesforce (SPEC A): extract, plan, load.",
    tags=sync_tags("sync_projects"),
)
sync_quickbooks = define_asset_job(
    "sync_quickbooks",
    selection=AssetSelection.groups(ESP, QUICKBOOKS, QUICKBOOKS_SYNC),
    executor_def=in_process_executor,
    description="ESP+ companies and documents to QuickBooks Online, status back (SPEC B): extract, plan, load.",
    tags=sync_tags("sync_quickbooks"),
)
sync_all = define_asset_job(
    "sync_all",
    selection=AssetSelection.groups(INTACCT, SALESFORCE, PROJECTS, ESP, QUICKBOOKS, QUICKBOOKS_SYNC),
    executor_def=in_process_executor,
    description="Both syncs.",
    tags=sync_tags("sync_projects", "sync_quickbooks"),
)

JOBS = [sync_projects, sync_quickbooks, sync_all]
