"""The projects sync end to end (SPEC A1, C3): Dagster runs `sync_projects` against a sandbox of its own, with the real
clients over sockets; what lands is read back through the emulators' admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging.links import LinkStore
from tests.e2e.conftest import job_env, run_job
from tests.e2e.projects_support import assert_in_step, plan_json, records, reset_stats, writes
from tests.salesforce_client import connect, sandbox_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def projects_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox the sync writes to (the shared one stays as generated for the extract tests)."""
    with Sandbox(state_dir=tmp_path_factory.mktemp("projects-sandbox"), scale="demo") as running:
        yield running


def test_a_two_way_sync_converges_then_writes_nothing_then_moves_only_what_changed(
    projects_sandbox: Sandbox, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    env = job_env(projects_sandbox, database_url, tmp_path / "dagster", projects_sync=True)
    first = run_job("sync_projects", env)
    assert first.returncode == 0, first.stderr[-4000:]
    # Salesforce creates come back as new Ids that Intacct learns in the same run, and what Intacct computes for the
    # records the run created in it (progress, record URLs) is read back and written to Salesforce in the same run:
    # the second run has nothing left to write.
    reset_stats(projects_sandbox)
    second = run_job("sync_projects", env)
    assert second.returncode == 0, second.stderr[-4000:]
    assert writes(projects_sandbox) == {"intacct": 0, "salesforce": 0}
    assert_in_step(projects_sandbox)

    # No echo: nothing changed anywhere, so the next run writes nothing, and the dry run says so first.
    assert [i for i in plan_json(env)["items"] if i["action"] in ("create", "update")] == []
    reset_stats(projects_sandbox)
    quiet = run_job("sync_projects", env)
    assert quiet.returncode == 0, quiet.stderr[-4000:]
    assert writes(projects_sandbox) == {"intacct": 0, "salesforce": 0}

    # One field edited in Salesforce: the plan updates exactly that field of that Intacct project.
    salesforce_project = next(r for r in records(projects_sandbox, "salesforce", "ia_crm__Project__c")
                              if r["ia_crm__Project_ID__c"])  # fmt: skip
    session = sandbox_session(projects_sandbox.env)
    try:
        salesforce = connect(projects_sandbox.env, session)
        edit = {"ia_crm__Description__c": "Edited in Salesforce"}
        salesforce.ia_crm__Project__c.update(salesforce_project["Id"], edit)
    finally:
        session.close()
    edited = run_job("sync_projects", env)  # stage the edit, plan and write it
    assert edited.returncode == 0, edited.stderr[-4000:]
    [project] = [r for r in records(projects_sandbox, "intacct", "PROJECT")
                 if r["PROJECTID"] == salesforce_project["ia_crm__Project_ID__c"]]  # fmt: skip
    assert project["DESCRIPTION"] == "Edited in Salesforce"
    reset_stats(projects_sandbox)
    again = run_job("sync_projects", env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert writes(projects_sandbox) == {"intacct": 0, "salesforce": 0}

    store = StagingStore(database_url)
    links = LinkStore(store, "projects", ("intacct", "salesforce"))
    assert links.count("project") == len(records(projects_sandbox, "intacct", "PROJECT"))
    store.dispose()

