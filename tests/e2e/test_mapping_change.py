"""A mapping change re-syncs exactly what it touches (SPEC C5): after a converged projects sync, the status value map
is edited (Intacct "Not Started" now means Salesforce "Completed" and the other way round); the next run writes that one
field of exactly the projects whose status is one of the two, and nothing else, and the plan's code version (the
mapping's hash) changes, which is what the Dagster UI shows as a changed asset to materialise."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance

from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import REPO, admin, job_env, run_job
from tests.e2e.projects_support import records, reset_stats

pytestmark = pytest.mark.slow

OLD_STATUS_MAP = "values: {Not Started: Not Started, In Progress: In Progress, Completed: Completed, On Hold: On Hold,"
NEW_STATUS_MAP = "values: {Not Started: Completed, In Progress: In Progress, Completed: Not Started, On Hold: On Hold,"
SWAPPED = {"Not Started": "Completed", "Completed": "Not Started"}


@pytest.fixture(scope="module")
def mapping_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("mapping-sandbox"), scale="demo") as running:
        yield running


def _records_written(sandbox: Sandbox) -> dict[str, int]:
    return {s: admin(sandbox, s, "GET", "stats").json()["records_written"] for s in ("intacct", "salesforce")}


def _plan_code_version(env: dict[str, str]) -> str | None:
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        event = instance.get_latest_materialization_event(AssetKey(["projects", "plan"]))
    assert event is not None and event.dagster_event is not None
    return event.dagster_event.step_materialization_data.materialization.tags.get("dagster/code_version")


def _plan_items(env: dict[str, str]) -> list[dict[str, Any]]:
    result = subprocess.run([str(Path(REPO) / ".venv/bin/crosswalk"), "plan", "--json", "--all"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    return [i for i in json.loads(result.stdout)["items"] if i["action"] in ("create", "update")]


def test_a_status_map_change_rewrites_that_field_of_exactly_the_projects_it_touches(
    mapping_sandbox: Sandbox, tmp_path: Path
) -> None:
    shipped = (REPO / "config/mappings/projects.yaml").read_text()
    assert OLD_STATUS_MAP in shipped
    mapping = tmp_path / "projects.yaml"
    mapping.write_text(shipped)
    config = tmp_path / "crosswalk.yaml"
    config.write_text(f"projects:\n  mapping: {mapping}\nquickbooks:\n  enabled: false\n")
    env = {**job_env(mapping_sandbox, f"sqlite:///{tmp_path / 'staging.sqlite'}", tmp_path / "dagster",
                     projects_sync=True), "CROSSWALK_CONFIG": str(config)}  # fmt: skip
    for _ in range(3):  # converge: creates, their link-backs, Intacct's computed values
        assert (result := run_job("sync_projects", env)).returncode == 0, result.stderr[-4000:]
    assert _plan_items(env) == []
    before = _plan_code_version(env)

    mapping.write_text(shipped.replace(OLD_STATUS_MAP, NEW_STATUS_MAP))
    touched = {p["PROJECTID"]: p["PROJECTSTATUS"] for p in records(mapping_sandbox, "intacct", "PROJECT")
               if p["PROJECTSTATUS"] in SWAPPED}  # fmt: skip
    assert touched, "the sandbox has no project not started or completed"
    planned = _plan_items(env)
    assert {(i["entity"], i["target"], tuple(i["values"])) for i in planned} == {("project", "salesforce", ("status",))}
    assert len(planned) == len(touched)

    reset_stats(mapping_sandbox)
    assert (result := run_job("sync_projects", env)).returncode == 0, result.stderr[-4000:]
    assert _records_written(mapping_sandbox) == {"intacct": 0, "salesforce": len(touched)}
    after = {p["ia_crm__Project_ID__c"]: p["ia_crm__Project_Status__c"]
             for p in records(mapping_sandbox, "salesforce", "ia_crm__Project__c")}  # fmt: skip
    assert {project: after[project] for project in touched} == {p: SWAPPED[s] for p, s in touched.items()}
    assert _plan_code_version(env) != before  # the plan asset's code version is the mapping's hash
    reset_stats(mapping_sandbox)
    assert (result := run_job("sync_projects", env)).returncode == 0, result.stderr[-4000:]
    assert _records_written(mapping_sandbox) == {"intacct": 0, "salesforce": 0}
