"""The projects sync's features end to end (SPEC A3, A4, A6, A7; conflicts, quarantine, the dry run, field-level
updates): Dagster runs `sync_projects` against Intacct and Salesforce emulators of each test's own (demo scale) with a
store of its own. Changes are made the way users make them, through simple-salesforce and the Intacct XML gateway;
what lands is read back through the emulators' admin API, the Dagster instance's event log, the store and the
`crosswalk` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx
import pytest
from dagster import AssetKey, DagsterInstance
from defusedxml.ElementTree import fromstring
from simple_salesforce import Salesforce

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging.plans import PlanStore
from tests.e2e.conftest import REPO, admin, job_env, run_job
from tests.salesforce_client import connect, sandbox_session

pytestmark = pytest.mark.slow
CROSSWALK = Path(sys.executable).parent / "crosswalk"
PROJECT = "ia_crm__Project__c"
TASK = "ia_crm__Task__c"
SYNC_ASSETS = (("projects", "plan"), ("projects", "load_salesforce"), ("projects", "load_intacct"))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Intacct and Salesforce as generated, for this test alone: the sync writes to them."""
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo", systems=("intacct", "salesforce")) as running:
        yield running


# ---- runs and what they leave ----------------------------------------------------------------------------------


def sync_env(sandbox: Sandbox, home: Path, database_url: str | None = None, settings: str | None = None
             ) -> dict[str, str]:  # fmt: skip
    """A run's environment: its store (SQLite under `home` unless given, created so `crosswalk plan` can read it
    before the first run), its Dagster instance and, when given, a settings file holding `settings` (keys left out
    keep the shipped defaults)."""
    url = database_url or f"sqlite:///{home / 'staging.sqlite'}"
    store = StagingStore(url)
    store.migrate()
    store.dispose()
    env = job_env(sandbox, url, home / "dagster", projects_sync=True)
    if settings is not None:
        path = home / f"settings-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(settings)
        env["CROSSWALK_CONFIG"] = str(path)
    return env


def sync(env: dict[str, str]) -> str:
    """One `sync_projects` run that must succeed; its Dagster run id."""
    result = run_job("sync_projects", env)
    assert result.returncode == 0, result.stderr[-4000:]
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [run] = instance.get_runs(limit=1)
        return run.run_id


def materialization(env: dict[str, str], key: tuple[str, ...], run_id: str) -> dict[str, Any]:
    """The metadata of the asset's latest materialisation, which must be the one of `run_id`."""
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        event = instance.get_latest_materialization_event(AssetKey(list(key)))
    assert event is not None and event.asset_materialization is not None, f"{key} was not materialised"
    assert event.run_id == run_id
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def stored_plan(env: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    """The plan a run stored before writing (plan_items of `projects-<run id>`), in plan order."""
    store = StagingStore(env["CROSSWALK_DATABASE_URL"])
    try:
        return [stored.item for stored in PlanStore(store, "projects").items(f"projects-{run_id}")]
    finally:
        store.dispose()


def cli_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run([str(CROSSWALK), *args, "--json"], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def records(sandbox: Sandbox, system: str, object_name: str) -> list[dict[str, Any]]:
    return admin(sandbox, system, "GET", f"records/{object_name}").json()["records"]


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {system: admin(sandbox, system, "GET", "stats").json()["writes"] for system in ("intacct", "salesforce")}


def reset_stats(sandbox: Sandbox) -> None:
    for system in ("intacct", "salesforce"):
        admin(sandbox, system, "DELETE", "stats")


def writes_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The creates and updates of a plan, as what each writes where: comparable across a dry run and a run."""
    return sorted(
        (
            {
                "entity": item["entity"], "action": item["action"], "target": item["target"],
                "target_key": item["target_key"], "source": item["source"], "source_key": item["source_key"],
                "values": item["values"], "link_values": item["link_values"], "identity": item["identity"],
                "fixed_values": item["fixed_values"], "scope": item["scope"],
            }
            for item in items if item["action"] in ("create", "update") and item["target"]
        ),
        key=lambda item: json.dumps(item, sort_keys=True, default=str),
    )  # fmt: skip


# ---- changes made the way users make them ------------------------------------------------------------------------


@contextmanager
def salesforce(sandbox: Sandbox) -> Iterator[Salesforce]:
    session = sandbox_session(sandbox.env)
    try:
        yield connect(sandbox.env, session)
    finally:
        session.close()


def intacct(sandbox: Sandbox, function: str, entity: str = "") -> Element:
    """One function through the XML gateway as the SDKs send it (login in the request; `entity`: an entity-level
    login); the function's <result>, which must be a success."""
    env = sandbox.env
    location = f"<locationid>{entity}</locationid>" if entity else ""
    request = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<request><control>'
        f"<senderid>{env['INTACCT_SENDER_ID']}</senderid><password>{escape(env['INTACCT_SENDER_PASSWORD'])}</password>"
        f"<controlid>{uuid.uuid4()}</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>"
        '</control><operation transaction="false"><authentication><login>'
        f"<userid>{env['INTACCT_USER_ID']}</userid><companyid>{env['INTACCT_COMPANY_ID']}</companyid>"
        f"<password>{escape(env['INTACCT_USER_PASSWORD'])}</password>{location}</login></authentication>"
        f'<content><function controlid="{uuid.uuid4().hex}">{function}</function></content></operation></request>'
    )
    response = httpx.post(env["INTACCT_URL"], content=request.encode(), headers={"content-type": "application/xml"},
                          timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    result = fromstring(response.content).find("operation/result")
    assert result is not None and result.findtext("status") == "success", response.text
    return result


def intacct_update(sandbox: Sandbox, object_name: str, recordno: str, entity: str = "", **fields: str) -> None:
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    intacct(sandbox, f"<update><{object_name}><RECORDNO>{recordno}</RECORDNO>{body}</{object_name}></update>", entity)


# ---- SPEC A3: the enable switch -------------------------------------------------------------------------------


def test_a3_switched_off_the_sync_writes_nothing_and_its_assets_say_they_skipped_and_why(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sync_env(sandbox, tmp_path, settings="projects:\n  enabled: false\n")
    # The world has work for the sync: the dry run (which plans whatever the switch says) lists writes.
    dry = cli_json(env, "plan")
    assert dry["enabled"] is False
    assert [i for i in dry["items"] if i["action"] in ("create", "update")], "the sandbox gives the sync nothing to do"
    reset_stats(sandbox)

    run_id = sync(env)

    assert writes(sandbox) == {"intacct": 0, "salesforce": 0}
    for key in SYNC_ASSETS:
        metadata = materialization(env, key, run_id)
        assert set(metadata) == {"skipped"}, (key, metadata)
        assert "projects.enabled is false" in metadata["skipped"]
        assert env["CROSSWALK_CONFIG"] in metadata["skipped"]
    assert stored_plan(env, run_id) == []


# ---- SPEC A4: the entity a project is created in -----------------------------------------------------------------


def intacct_project_named(sandbox: Sandbox, name: str) -> dict[str, Any]:
    [project] = [r for r in records(sandbox, "intacct", "PROJECT") if r["NAME"] == name]
    return project


def test_a4_a_salesforce_project_goes_to_the_entity_it_names_or_to_the_top_level_when_so_set(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    account = next(r for r in records(sandbox, "salesforce", "Account") if r["ia_crm__IntacctID__c"])
    new = {"ia_crm__Intacct_Entity__c": "E200", "ia_crm__Customer__c": account["Id"],
           "ia_crm__Project_Status__c": "Not Started", "ia_crm__Begin_Date__c": "2026-03-02"}  # fmt: skip
    with salesforce(sandbox) as client:
        in_entity = client.ia_crm__Project__c.create({"Name": "Canada rollout (entity)", **new})["id"]

    sync(sync_env(sandbox, tmp_path))  # the default: create_project_at_top_level false
    created = intacct_project_named(sandbox, "Canada rollout (entity)")
    assert (created["MEGAENTITYID"], created["LOCATIONID"]) == ("E200", "E200")
    assert created["SFDC_PROJECT_ID"] == in_entity
    assert created["CUSTOMERID"] == account["ia_crm__IntacctID__c"]

    with salesforce(sandbox) as client:
        client.ia_crm__Project__c.create({"Name": "Canada rollout (top level)", **new})
    sync(sync_env(sandbox, tmp_path, settings="projects:\n  create_project_at_top_level: true\n"))
    top = intacct_project_named(sandbox, "Canada rollout (top level)")
    # The top level: no owning entity, and the location the mapping's create_defaults give a top-level project.
    assert (top["MEGAENTITYID"], top["LOCATIONID"]) == ("", "E100")
    assert intacct_project_named(sandbox, "Canada rollout (entity)")["MEGAENTITYID"] == "E200"


# ---- SPEC A6: progress flows back ----------------------------------------------------------------------------


def test_a6_time_booked_in_intacct_reaches_salesforce_and_a_salesforce_edit_of_progress_is_written_over(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sync_env(sandbox, tmp_path)
    sync(env)
    projects = {r["RECORDNO"]: r for r in records(sandbox, "intacct", "PROJECT")}
    task = next(
        t for t in records(sandbox, "intacct", "TASK")
        if t["SFDC_TASK_ID"] and t["ESTQTY"] and t["TASKSTATUS"] != "Completed"
        and projects[t["PROJECTKEY"]]["PROJECTSTATUS"] != "Completed"
    )  # fmt: skip
    project = projects[task["PROJECTKEY"]]
    employee = records(sandbox, "intacct", "EMPLOYEE")[0]["EMPLOYEEID"]
    intacct(
        sandbox,
        f"<create><TIMESHEET><EMPLOYEEID>{employee}</EMPLOYEEID><BEGINDATE>03/02/2026</BEGINDATE>"
        "<STATE>Submitted</STATE><TIMESHEETENTRIES><TIMESHEETENTRY><ENTRYDATE>03/02/2026</ENTRYDATE><QTY>7.5</QTY>"
        f"<TASKKEY>{task['RECORDNO']}</TASKKEY></TIMESHEETENTRY></TIMESHEETENTRIES></TIMESHEET></create>",
    )
    task_now = next(t for t in records(sandbox, "intacct", "TASK") if t["RECORDNO"] == task["RECORDNO"])
    project_now = next(p for p in records(sandbox, "intacct", "PROJECT") if p["RECORDNO"] == project["RECORDNO"])
    assert float(task_now["ACTUALQTY"]) == pytest.approx(float(task["ACTUALQTY"] or 0) + 7.5)
    assert task_now["PERCENTCOMPLETE"] != task["PERCENTCOMPLETE"]
    assert project_now["ACTUALQTY"] != project["ACTUALQTY"]

    def salesforce_progress() -> tuple[dict[str, Any], dict[str, Any]]:
        salesforce_task = next(r for r in records(sandbox, "salesforce", TASK) if r["Id"] == task["SFDC_TASK_ID"])
        salesforce_project = next(
            r for r in records(sandbox, "salesforce", PROJECT) if r["Id"] == salesforce_task["ia_crm__Project__c"]
        )
        return salesforce_task, salesforce_project

    def assert_progress_shown() -> None:
        salesforce_task, salesforce_project = salesforce_progress()
        assert salesforce_task["ia_crm__Percent_Complete__c"] == pytest.approx(float(task_now["PERCENTCOMPLETE"]))
        assert salesforce_task["ia_crm__Actual_Duration__c"] == pytest.approx(float(task_now["ACTUALQTY"]))
        assert salesforce_project["ia_crm__Project_ID__c"] == project["PROJECTID"]
        assert salesforce_project["ia_crm__Complete_by_Duration__c"] == pytest.approx(
            float(project_now["PERCENTCOMPLETE"])
        )
        assert salesforce_project["ia_crm__Actual_Duration__c"] == pytest.approx(float(project_now["ACTUALQTY"]))
        assert salesforce_project["ia_crm__Remaining_Duration__c"] == pytest.approx(float(project_now["REMAININGQTY"]))

    assert salesforce_progress()[0]["ia_crm__Percent_Complete__c"] != pytest.approx(float(task_now["PERCENTCOMPLETE"]))
    sync(env)
    assert_progress_shown()

    # Progress is Intacct's: an edit in Salesforce is written over by the next run, and Intacct keeps its values.
    salesforce_task, salesforce_project = salesforce_progress()
    with salesforce(sandbox) as client:
        client.ia_crm__Task__c.update(salesforce_task["Id"], {"ia_crm__Percent_Complete__c": 99.5})
        client.ia_crm__Project__c.update(salesforce_project["Id"], {"ia_crm__Actual_Duration__c": 1.0})
    sync(env)
    assert_progress_shown()
    assert (
        next(t for t in records(sandbox, "intacct", "TASK") if t["RECORDNO"] == task["RECORDNO"])["PERCENTCOMPLETE"]
        == task_now["PERCENTCOMPLETE"]
    )


# ---- SPEC A7: view project ---------------------------------------------------------------------------------------


def test_a7_every_synced_salesforce_project_opens_its_intacct_project(sandbox: Sandbox, tmp_path: Path) -> None:
    # As generated, no Salesforce project's link opens its Intacct project (none, or a link of another form).
    intacct_urls = {r["RECORD_URL"] for r in records(sandbox, "intacct", "PROJECT")}
    assert not intacct_urls & {r["ia_crm__View_Project__c"] for r in records(sandbox, "salesforce", PROJECT)}
    env = sync_env(sandbox, tmp_path)
    sync(env)
    sync(env)  # projects created in Intacct by the first run have a RECORD_URL from then on
    intacct_projects = {r["PROJECTID"]: r for r in records(sandbox, "intacct", "PROJECT")}
    salesforce_projects = records(sandbox, "salesforce", PROJECT)
    assert len(salesforce_projects) == len(intacct_projects)
    for project in salesforce_projects:
        twin = intacct_projects[project["ia_crm__Project_ID__c"]]
        assert twin["RECORD_URL"]
        assert project["ia_crm__View_Project__c"] == twin["RECORD_URL"], project["Name"]
        page = httpx.get(project["ia_crm__View_Project__c"], timeout=30)  # the link opens that very project
        assert page.status_code == 200 and twin["PROJECTID"] in page.text, project["Name"]


# ---- conflicts ---------------------------------------------------------------------------------------------------


def test_a_field_edited_on_both_sides_is_settled_by_the_policy_and_listed_with_both_values_and_the_base(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sync_env(sandbox, tmp_path)
    sync(env)
    project = next(r for r in records(sandbox, "intacct", "PROJECT") if r["SFDC_PROJECT_ID"])
    [twin] = [r for r in records(sandbox, "salesforce", PROJECT) if r["Id"] == project["SFDC_PROJECT_ID"]]
    base = project["DESCRIPTION"]
    assert twin["ia_crm__Description__c"] == base  # in step after the first run

    def edit_both_and_sync(intacct_value: str, salesforce_value: str, run_env: dict[str, str]) -> str:
        intacct_update(sandbox, "PROJECT", project["RECORDNO"], project["MEGAENTITYID"], DESCRIPTION=intacct_value)
        with salesforce(sandbox) as client:
            client.ia_crm__Project__c.update(twin["Id"], {"ia_crm__Description__c": salesforce_value})
        sync(run_env)
        [project_after] = [r for r in records(sandbox, "intacct", "PROJECT") if r["RECORDNO"] == project["RECORDNO"]]
        [twin_after] = [r for r in records(sandbox, "salesforce", PROJECT) if r["Id"] == twin["Id"]]
        assert project_after["DESCRIPTION"] == twin_after["ia_crm__Description__c"]
        return str(project_after["DESCRIPTION"])

    # The default policy: Intacct wins.
    assert edit_both_and_sync("Edited in Intacct", "Edited in Salesforce", env) == "Edited in Intacct"
    # salesforce_wins in a settings file, on the same store: the base is now what the last run settled.
    salesforce_wins = sync_env(sandbox, tmp_path, settings="conflict_policy: salesforce_wins\n")
    assert edit_both_and_sync("Intacct again", "Salesforce again", salesforce_wins) == "Salesforce again"

    listed = [
        {name: c[name] for name in ("entity", "left_key", "base_left", "base_right", "left", "right", "winner", "rule")}
        for c in cli_json(env, "conflicts")["conflicts"]
        if c["field"] == "description" and c["right_key"] == twin["Id"]
    ]
    pair = {"entity": "project", "left_key": project["RECORDNO"]}
    assert listed == [
        {**pair, "base_left": base, "base_right": base, "left": "Edited in Intacct", "right": "Edited in Salesforce",
         "winner": "left", "rule": "policy intacct_wins"},
        {**pair, "base_left": "Edited in Intacct", "base_right": "Edited in Intacct", "left": "Intacct again",
         "right": "Salesforce again", "winner": "right", "rule": "policy salesforce_wins"},
    ]  # fmt: skip


# ---- quarantine --------------------------------------------------------------------------------------------------


def test_records_whose_values_do_not_map_are_quarantined_while_the_rest_syncs_and_sync_once_fixed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = sync_env(sandbox, tmp_path)
    with salesforce(sandbox) as client:  # the picklist is not restricted: Salesforce takes any status
        bad = client.ia_crm__Project__c.create({"Name": "Status nobody mapped", "ia_crm__Project_Status__c": "Bogus"})
    # A date the gateway would refuse can only be there through the admin seed (an import, a migration).
    admin(sandbox, "intacct", "POST", "seed", json={"records": {"PROJECT": [{
        "PROJECTID": "PRJ-BAD-DATE", "NAME": "Date nobody can read", "PROJECTCATEGORY": "Contract",
        "PROJECTSTATUS": "In Progress", "LOCATIONID": "E100", "BEGINDATE": "13/45/2026",
    }]}}).raise_for_status()  # fmt: skip
    [bad_date] = [p for p in records(sandbox, "intacct", "PROJECT") if p["PROJECTID"] == "PRJ-BAD-DATE"]
    sync(env)

    open_rows = {(r["system"], r["key"]): r for r in cli_json(env, "quarantine")["records"]}
    status_row = open_rows[("salesforce", bad["id"])]
    assert (status_row["object"], status_row["stage"], status_row["rule"]) == (PROJECT, "map", "value_map")
    assert "ia_crm__Project_Status__c" in status_row["reason"] and "'Bogus'" in status_row["reason"]
    date_row = open_rows[("intacct", bad_date["RECORDNO"])]
    assert (date_row["object"], date_row["stage"], date_row["rule"]) == ("PROJECT", "map", "type")
    assert "BEGINDATE" in date_row["reason"] and "13/45/2026" in date_row["reason"]
    # Neither went anywhere; every other project and task has its twin on the other side.
    intacct_projects = [p for p in records(sandbox, "intacct", "PROJECT") if p["RECORDNO"] != bad_date["RECORDNO"]]
    salesforce_projects = [r for r in records(sandbox, "salesforce", PROJECT) if r["Id"] != bad["id"]]
    assert bad["id"] not in {p["SFDC_PROJECT_ID"] for p in intacct_projects}
    assert "PRJ-BAD-DATE" not in {r["ia_crm__Project_ID__c"] for r in salesforce_projects}
    assert {r["Id"] for r in salesforce_projects} == {p["SFDC_PROJECT_ID"] for p in intacct_projects}
    assert {r["ia_crm__Project_ID__c"] for r in salesforce_projects} == {p["PROJECTID"] for p in intacct_projects}
    assert {r["Id"] for r in records(sandbox, "salesforce", TASK)} == {
        t["SFDC_TASK_ID"] for t in records(sandbox, "intacct", "TASK")
    }

    with salesforce(sandbox) as client:
        client.ia_crm__Project__c.update(bad["id"], {"ia_crm__Project_Status__c": "In Progress"})
    intacct_update(sandbox, "PROJECT", bad_date["RECORDNO"], BEGINDATE="03/02/2026")
    sync(env)
    [fixed] = [p for p in records(sandbox, "intacct", "PROJECT") if p["SFDC_PROJECT_ID"] == bad["id"]]
    assert (fixed["NAME"], fixed["PROJECTSTATUS"]) == ("Status nobody mapped", "In Progress")
    [fixed_date] = [r for r in records(sandbox, "salesforce", PROJECT) if r["ia_crm__Project_ID__c"] == "PRJ-BAD-DATE"]
    assert (fixed_date["Name"], fixed_date["ia_crm__Begin_Date__c"]) == ("Date nobody can read", "2026-03-02")
    assert set(open_rows) & {(r["system"], r["key"]) for r in cli_json(env, "quarantine")["records"]} == set()
    resolved = {(r["system"], r["key"]): r for r in cli_json(env, "quarantine", "--all")["records"]}
    assert resolved[("salesforce", bad["id"])]["resolved_at"] is not None
    assert resolved[("intacct", bad_date["RECORDNO"])]["resolved_at"] is not None


# ---- the dry run is the plan -------------------------------------------------------------------------------------


# Opportunities asking for projects (SPEC A5) are left out here: the dry run misses them (the test after this one).
NO_PROJECTS_FROM_OPPORTUNITIES = "projects:\n  opportunity_rule:\n    checkbox: ''\n    stages: []\n"


def test_the_dry_run_lists_exactly_the_writes_the_next_run_makes(
    sandbox: Sandbox, tmp_path: Path, database_url: str
) -> None:
    env = sync_env(sandbox, tmp_path, database_url=database_url, settings=NO_PROJECTS_FROM_OPPORTUNITIES)
    for _ in range(2):  # a fresh store (creates, matches, link-backs), then edits on both sides (updates)
        dry = writes_of(cli_json(env, "plan")["items"])
        assert dry, "nothing to write: the comparison would prove nothing"
        run_id = sync(env)
        assert writes_of(stored_plan(env, run_id)) == dry
        for target in ("salesforce", "intacct"):
            loaded = materialization(env, ("projects", f"load_{target}"), run_id)
            planned = [item for item in dry if item["target"] == target]
            assert loaded["created"] == sum(item["action"] == "create" for item in planned)
            assert loaded["updated"] == sum(item["action"] == "update" for item in planned)
            assert loaded["failed"] == loaded["retry_next_run"] == 0
        project = next(r for r in records(sandbox, "intacct", "PROJECT") if r["SFDC_PROJECT_ID"])
        intacct_update(sandbox, "PROJECT", project["RECORDNO"], project["MEGAENTITYID"], BUDGETAMOUNT="12345.67")
        with salesforce(sandbox) as client:
            task = next(r for r in records(sandbox, "salesforce", TASK) if r["ia_crm__Task_ID__c"])
            client.ia_crm__Task__c.update(task["Id"], {"Name": "Renamed in Salesforce"})


def test_the_dry_run_lists_the_projects_opportunities_ask_for(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sync_env(sandbox, tmp_path)
    dry = writes_of(cli_json(env, "plan")["items"])
    run_id = sync(env)
    run = writes_of(stored_plan(env, run_id))
    opportunities = {r["Id"] for r in records(sandbox, "salesforce", "Opportunity")}
    asked = [item for item in run if item["action"] == "create" and item["source_key"] in opportunities]
    assert asked, "no opportunity asks for a project in this world: the test would prove nothing"
    assert [item for item in asked if item not in dry] == []
    assert run == dry


# ---- field-level updates -----------------------------------------------------------------------------------------


def test_an_update_carries_only_the_field_that_changed(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sync_env(sandbox, tmp_path)
    sync(env)
    project = next(r for r in records(sandbox, "intacct", "PROJECT") if r["SFDC_PROJECT_ID"])
    intacct_update(sandbox, "PROJECT", project["RECORDNO"], project["MEGAENTITYID"], DESCRIPTION="Scope widened")
    run_id = sync(env)

    keys = {project["RECORDNO"], project["SFDC_PROJECT_ID"]}
    items = [
        item for item in stored_plan(env, run_id)
        if item["entity"] == "project" and item["action"] in ("create", "update")
        and keys & {item["target_key"], item["source_key"]}
    ]  # fmt: skip
    assert [(i["action"], i["target"], i["target_key"], i["values"], i["link_values"]) for i in items] == [
        ("update", "salesforce", project["SFDC_PROJECT_ID"], {"description": "Scope widened"}, {})
    ]
    [twin] = [r for r in records(sandbox, "salesforce", PROJECT) if r["Id"] == project["SFDC_PROJECT_ID"]]
    assert twin["ia_crm__Description__c"] == "Scope widened"
