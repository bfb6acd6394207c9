"""The projects sync end to end (SPEC A1, C3): Dagster runs `sync_projects` against a sandbox of its own, with the real
clients over sockets; what lands is read back through the emulators' admin API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging.links import LinkStore
from tests.e2e.conftest import REPO, admin, job_env, run_job
from tests.salesforce_client import connect, sandbox_session

pytestmark = pytest.mark.slow
CROSSWALK = Path(sys.executable).parent / "crosswalk"


@pytest.fixture(scope="module")
def projects_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox the sync writes to (the shared one stays as generated for the extract tests)."""
    with Sandbox(state_dir=tmp_path_factory.mktemp("projects-sandbox"), scale="demo") as running:
        yield running


def records(sandbox: Sandbox, system: str, object_name: str) -> list[dict[str, Any]]:
    return admin(sandbox, system, "GET", f"records/{object_name}").json()["records"]


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {system: admin(sandbox, system, "GET", "stats").json()["writes"] for system in ("intacct", "salesforce")}


def reset_stats(sandbox: Sandbox) -> None:
    for system in ("intacct", "salesforce"):
        admin(sandbox, system, "DELETE", "stats")


def plan_json(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([str(CROSSWALK), "plan", "--json"], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_in_step(sandbox: Sandbox) -> None:
    """Every project and task is on both sides, each naming the other, tasks under the right project."""
    intacct_projects = records(sandbox, "intacct", "PROJECT")
    salesforce_projects = {r["Id"]: r for r in records(sandbox, "salesforce", "ia_crm__Project__c")}
    by_project_id = {r["ia_crm__Project_ID__c"]: r for r in salesforce_projects.values()}
    assert len(intacct_projects) == len(salesforce_projects)
    for project in intacct_projects:
        twin = by_project_id[project["PROJECTID"]]
        assert project["SFDC_PROJECT_ID"] == twin["Id"]
        assert twin["Name"] == project["NAME"][:80]
    intacct_tasks = records(sandbox, "intacct", "TASK")
    salesforce_tasks = {r["ia_crm__Task_ID__c"]: r for r in records(sandbox, "salesforce", "ia_crm__Task__c")}
    assert len(intacct_tasks) == len(salesforce_tasks)
    project_of = {r["RECORDNO"]: r["PROJECTID"] for r in intacct_projects}
    for task in intacct_tasks:
        twin = salesforce_tasks[task["TASKID"]]
        assert task["SFDC_TASK_ID"] == twin["Id"]
        assert salesforce_projects[twin["ia_crm__Project__c"]]["ia_crm__Project_ID__c"] == project_of[
            task["PROJECTKEY"]
        ]


def test_a_two_way_sync_converges_then_writes_nothing_then_moves_only_what_changed(
    projects_sandbox: Sandbox, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    env = job_env(projects_sandbox, database_url, tmp_path / "dagster", projects_sync=True)
    first = run_job("sync_projects", env)
    assert first.returncode == 0, first.stderr[-4000:]
    # Salesforce creates come back as new Ids that Intacct learns in the same run; a second run links what the
    # first created on both sides and settles every base.
    second = run_job("sync_projects", env)
    assert second.returncode == 0, second.stderr[-4000:]
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

