"""The sync's tables on SQLite and PostgreSQL: links with bases, plans, intents, conflicts, reviews; the engine's plan
from staged records (the upgrade of a store made before these tables existed is in test_migrations.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from crosswalk.config import projects_settings
from crosswalk.staging import RawRecord, StagingStore
from crosswalk.staging.intents import DONE, Intent, IntentLog, Outcome
from crosswalk.staging.links import LinkStore, LinkWrite
from crosswalk.sync.plan import Action
from crosswalk.sync.projects import projects_engine
from tests.unit.test_sync_reconcile import intacct_project, salesforce_project

STAMP = datetime(2026, 1, 2, tzinfo=UTC)


def test_links_keep_both_bases_and_intents_survive_until_closed(store: StagingStore) -> None:
    links = LinkStore(store, "projects", ("intacct", "salesforce"))
    [new_id] = links.save([LinkWrite(None, "project", "7", "a0BA", {"name": "A"}, {"name": "A"}, "created")], "r1")
    [same] = links.save([LinkWrite(new_id, "project", "7", "a0BA", {"name": "B"}, {"name": "B"})], "r2")
    assert same == new_id
    [link] = links.links("project")
    assert (link.left_key, link.right_key) == ("7", "a0BA")
    assert link.base_left == link.base_right == {"name": "B"}
    assert links.count("project") == 1

    log = IntentLog(store)
    log.open([Intent("m1", "p1", 0, "salesforce", "ia_crm__Project__c", "upsert", "ia_crm__Project_ID__c", "PRJ-1"),
              Intent("m2", "p1", 1, "intacct", "PROJECT", "update", "key", "7")], "r1")  # fmt: skip
    assert [i.marker for i in log.open_intents()] == ["m1", "m2"]
    log.close([Outcome("m1", DONE, result_key="a0BA")])
    assert [i.marker for i in log.open_intents("intacct")] == ["m2"]
    assert log.outcomes("p1")[0].result_key == "a0BA"


def test_links_read_by_id_are_the_same_whichever_way_they_are_read(store: StagingStore) -> None:
    links = LinkStore(store, "projects", ("intacct", "salesforce"))
    writes = [LinkWrite(None, "task", str(n), f"a0C{n}", {"name": f"T{n}"}, {"name": f"T{n}"}) for n in range(40)]
    ids = links.save(writes, "r1")
    wanted = ids[3:9] + ids[30:31]
    listed = links.links("task", wanted, among=1_000_000)  # a few of many: looked up by id
    scanned = links.links("task", wanted, among=len(wanted))  # every one: one scan, filtered
    assert listed == scanned == sorted(listed, key=lambda link: link.id or 0)
    assert [(link.left_key, link.base_right) for link in listed] == [
        (str(n), {"name": f"T{n}"}) for n in (*range(3, 9), 30)
    ]


def stage(store: StagingStore, system: str, object_name: str, rows: list[dict[str, object]], key: str) -> None:
    records = [RawRecord(str(row[key]), row, "s", STAMP) for row in rows]
    store.stage_raw_records(system, object_name, records, "extract-run")


def test_the_engine_plans_from_staging_and_quarantines_what_does_not_map(store: StagingStore) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}], "Id")
    stage(store, "intacct", "PROJECT", [
        intacct_project(SFDC_PROJECT_ID=""),
        intacct_project(RECORDNO="8", PROJECTID="PRJ-8", NAME="Broken", BEGINDATE="99/99/2026", SFDC_PROJECT_ID=""),
    ], "RECORDNO")  # fmt: skip
    stage(store, "salesforce", "ia_crm__Project__c", [salesforce_project(ia_crm__Project_ID__c=None)], "Id")

    engine = projects_engine(store, projects_settings())
    plan = engine.plan()
    counts = plan.counts()
    assert counts["matched"] == 2  # the customer by its link field, the project by name and customer
    project_items = [i for i in plan.items if i.entity == "project"]
    assert {(i.action, i.target) for i in project_items} >= {(Action.UPDATE, "intacct"), (Action.UPDATE, "salesforce"),
                                                            (Action.REFUSED, None), (Action.LINK, None)}  # fmt: skip
    engine.save_plan(plan, "run-1")
    [row] = [r for r in store.quarantined("intacct", "PROJECT") if r["resolved_at"] is None]
    assert (row["record_key"], row["stage"], row["rule"]) == ("8", "map", "type")
    assert "BEGINDATE" in row["reason"]
    assert [s.item["action"] for s in engine.plans.items(plan.plan_id)] == [i.action.value for i in plan.items]

    # Fixed at the source, the record maps again and leaves the quarantine.
    stage(store, "intacct", "PROJECT", [intacct_project(RECORDNO="8", PROJECTID="PRJ-8", NAME="Broken",
                                                        SFDC_PROJECT_ID="")], "RECORDNO")  # fmt: skip
    engine.save_plan(engine.plan(), "run-2")
    assert [r for r in store.quarantined("intacct", "PROJECT") if r["resolved_at"] is None] == []


def test_the_latest_plan_and_its_write_outcomes_are_summed_up(store: StagingStore) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}], "Id")
    stage(store, "intacct", "PROJECT", [intacct_project(SFDC_PROJECT_ID="")], "RECORDNO")
    engine = projects_engine(store, projects_settings())
    plan = engine.plan()
    engine.save_plan(plan, "run-9")
    [create] = [item for item in plan.items if item.action is Action.CREATE]
    seq = plan.items.index(create)
    engine.intents.open([Intent("m", plan.plan_id, seq, "salesforce", "ia_crm__Project__c", "upsert", None, None)],
                        "run-9")  # fmt: skip
    engine.intents.close([Outcome("m", DONE, result_key="a0B1")])
    latest = engine.plans.latest()
    assert latest is not None and latest["plan_id"] == plan.plan_id and latest["run_id"] == "run-9"
    assert latest["counts"]["creates"] == 1
    assert latest["writes"] == {"salesforce": {"upsert_done": 1}}


def test_without_the_projects_subscription_projects_sync_as_a_dimension_only(store: StagingStore) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}], "Id")
    stage(store, "intacct", "PROJECT", [intacct_project(SFDC_PROJECT_ID="")], "RECORDNO")
    stage(store, "intacct", "TASK", [{"RECORDNO": "1", "TASKID": "T-1", "NAME": "Design", "PROJECTID": "PRJ-1"}],
          "RECORDNO")  # fmt: skip
    settings = replace(projects_settings(), projects_subscribed=False)
    plan = projects_engine(store, settings).plan()
    assert "task" not in plan.entities
    [create] = [item for item in plan.items if item.action is Action.CREATE]
    assert create.entity == "project" and create.values["name"] == "Launch"
    assert not {"percent_complete", "estimated_duration", "actual_duration", "remaining_duration"} & set(create.values)
    full = projects_engine(store, projects_settings()).plan()
    assert "percent_complete" in next(i for i in full.items if i.action is Action.CREATE).values
    assert any(item.entity == "task" and item.action is Action.CREATE for item in full.items)


def test_an_opportunity_asking_for_a_project_gets_one_on_each_side_once(store: StagingStore) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}], "Id")
    opportunities = [
        {"Id": "006000000000001AAA", "Name": "Kit", "AccountId": "001A", "StageName": "Prospecting",
         "ia_crm__Create_Project__c": True},
        {"Id": "006000000000002AAA", "Name": "Won", "AccountId": "001A", "StageName": "Closed Won",
         "ia_crm__Create_Project__c": False},
        {"Id": "006000000000003AAA", "Name": "Open", "AccountId": "001A", "StageName": "Prospecting",
         "ia_crm__Create_Project__c": False},
    ]  # fmt: skip
    stage(store, "salesforce", "Opportunity", opportunities, "Id")
    plan = projects_engine(store, projects_settings()).plan()
    creates = [i for i in plan.items if i.action is Action.CREATE]
    assert sorted((i.target, i.source_key, i.identity) for i in creates) == [
        ("intacct", "006000000000001AAA", ("PROJECTID", "006000000000001AAA")),
        ("intacct", "006000000000002AAA", ("PROJECTID", "006000000000002AAA")),
        ("salesforce", "006000000000001AAA", ("ia_crm__Project_ID__c", "006000000000001AAA")),
        ("salesforce", "006000000000002AAA", ("ia_crm__Project_ID__c", "006000000000002AAA")),
    ]
    intacct = next(i for i in creates if i.target == "intacct" and i.source_key == "006000000000001AAA")
    assert intacct.values == {"name": "Kit", "customer": "C-1", "opportunity": "006000000000001AAA"}
    assert intacct.link_from_result == "SFDC_PROJECT_ID" and intacct.fixed_values["PROJECTCATEGORY"] == "Contract"
    salesforce = next(i for i in creates if i.target == "salesforce" and i.source_key == "006000000000001AAA")
    assert salesforce.values == {"name": "Kit", "customer": "001A", "opportunity": "006000000000001AAA"}

    # Once a project names the opportunity (on either side), asking again makes nothing.
    stage(store, "intacct", "PROJECT", [intacct_project(RECORDNO="9", PROJECTID="006000000000001AAA",
                                                        SFDCKEY="006000000000001AAA", SFDC_PROJECT_ID="")],
          "RECORDNO")  # fmt: skip
    again = projects_engine(store, projects_settings()).plan()
    asked = {i.source_key for i in again.items if i.action is Action.CREATE and i.reason and "opportunity" in i.reason}
    assert asked == {"006000000000002AAA"}
