"""Pairs left alone: a linked pair that a saved plan found with nothing to do is not mapped, validated or reconciled
again while neither record changes (nor the mapping or the settings that shape a plan), on SQLite and PostgreSQL;
and a plan that leaves such pairs alone is the plan that maps every record."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from crosswalk.config import projects_settings
from crosswalk.staging import StagingStore, schema
from crosswalk.staging.links import InSync, LinkStore, LinkWrite
from crosswalk.sync.engine import SyncEngine, SyncPlan
from crosswalk.sync.plan import Action
from crosswalk.sync.projects import projects_engine
from tests.integration.test_sync_store import stage
from tests.unit.test_sync_reconcile import intacct_project, salesforce_project

CUSTOMER = {"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}
ACCOUNT = {"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}


def linked_world(store: StagingStore) -> SyncEngine:
    """A customer and a project that agree on both sides, linked by a settled plan, then found in sync and marked."""
    stage(store, "intacct", "CUSTOMER", [CUSTOMER], "RECORDNO")
    stage(store, "salesforce", "Account", [ACCOUNT], "Id")
    stage(store, "intacct", "PROJECT", [intacct_project()], "RECORDNO")
    stage(store, "salesforce", "ia_crm__Project__c", [salesforce_project()], "Id")
    engine = projects_engine(store, projects_settings())
    first = engine.plan()
    assert first.counts()["matched"] == 2 and not first.writes()
    save_and_settle(engine, first, "run-1")
    second = engine.plan()
    assert second.counts()["unchanged"] == 0 and len(second.in_sync) == 2  # linked now: found in sync, to be marked
    save_and_settle(engine, second, "run-2")
    return engine


def save_and_settle(engine: SyncEngine, plan: SyncPlan, run_id: str) -> None:
    engine.save_plan(plan, run_id)
    engine.settle(plan.plan_id, run_id)


def comparable(plan: SyncPlan) -> list[tuple[str, str, str, str, str]]:
    return sorted(
        (i.entity, i.action.value, i.pair, i.target or "", repr((i.values, i.link_values, i.identity, i.reason)))
        for i in plan.items
    )


def forget_marks(store: StagingStore) -> None:
    with store.transaction() as conn:
        conn.execute(sa.update(schema.id_crosswalk).values(left_hash=None, right_hash=None))


def test_an_unchanged_pair_is_left_alone_and_still_resolves_references(store: StagingStore) -> None:
    engine = linked_world(store)
    quiet = engine.plan()
    assert quiet.counts()["unchanged"] == 2 and quiet.counts()["in_sync"] == 1  # the customer is not synced
    assert quiet.items == [] and quiet.in_sync == []
    assert all(suite.evaluated == 0 and suite.unchanged == 1 for suite in quiet.validation if suite.entity == "project")

    # A new Intacct task names the unchanged project: its Salesforce create refers to the linked Salesforce project.
    stage(store, "intacct", "TASK", [{"RECORDNO": "1", "TASKID": "T-1", "NAME": "Design", "PROJECTID": "PRJ-1"}],
          "RECORDNO")  # fmt: skip
    plan = engine.plan()
    [create] = [item for item in plan.items if item.action is Action.CREATE]
    assert (create.entity, create.target, create.values["project"]) == ("task", "salesforce", "a0BA")
    assert plan.counts()["unchanged"] == 2

    # The plan that leaves the pairs alone is the plan that maps them all.
    forget_marks(store)
    assert comparable(engine.plan()) == comparable(plan)


def test_a_changed_record_plans_its_pair_again_with_only_the_change(store: StagingStore) -> None:
    engine = linked_world(store)
    stage(store, "salesforce", "ia_crm__Project__c", [salesforce_project(ia_crm__Description__c="Phase two")], "Id")
    plan = engine.plan()
    assert plan.counts()["unchanged"] == 1  # the customer only
    [update] = [item for item in plan.items if item.action is Action.UPDATE]
    assert (update.target, update.values) == ("intacct", {"description": "Phase two"})
    forget_marks(store)
    assert comparable(engine.plan()) == comparable(plan)


def test_a_record_sharing_an_unchanged_records_identity_brings_it_back_to_validation(store: StagingStore) -> None:
    engine = linked_world(store)
    twin = salesforce_project(Id="a0BB", Name="Launch copy")  # the same ia_crm__Project_ID__c, PRJ-1
    stage(store, "salesforce", "ia_crm__Project__c", [twin], "Id")
    plan = engine.plan()
    [suite] = [s for s in plan.validation if s.name == "project.salesforce"]
    assert set(suite.refused) == {"a0BA", "a0BB"}  # both records share the external id: both refused, as ever
    refused = {i.source_key for i in plan.items if i.action is Action.REFUSED}
    assert {"a0BA", "a0BB"} <= refused
    assert not [i for i in plan.items if i.action is Action.CREATE]
    forget_marks(store)
    assert comparable(engine.plan()) == comparable(plan)


def test_a_new_mapping_context_or_a_settled_write_plans_every_pair_again(store: StagingStore) -> None:
    engine = linked_world(store)
    assert engine.plan().counts()["unchanged"] == 2
    dimension_only = projects_engine(store, replace(projects_settings(), projects_subscribed=False))
    assert dimension_only.context != engine.context
    assert dimension_only.plan().counts()["unchanged"] == 0

    links = LinkStore(store, "projects", ("intacct", "salesforce"))
    [project] = links.links("project")
    assert project.left_hash and project.right_hash
    links.save([LinkWrite(project.id, "project", project.left_key, project.right_key, {"name": "Launch"},
                          {"name": "Launch"})], "run-3")  # fmt: skip
    [settled] = links.links("project")
    assert settled.left_hash is None and settled.right_hash is None  # written: planned again next time
    assert engine.plan().counts()["unchanged"] == 1


def test_an_opportunity_an_unchanged_project_names_is_not_asked_again(store: StagingStore) -> None:
    opportunity = "006000000000001AAA"
    stage(store, "intacct", "CUSTOMER", [CUSTOMER], "RECORDNO")
    stage(store, "salesforce", "Account", [ACCOUNT], "Id")
    stage(store, "intacct", "PROJECT", [intacct_project(SFDCKEY=opportunity)], "RECORDNO")
    stage(store, "salesforce", "ia_crm__Project__c", [salesforce_project(ia_crm__Opportunity__c=opportunity)], "Id")
    stage(store, "salesforce", "Opportunity", [{"Id": opportunity, "Name": "Kit", "AccountId": "001A",
                                                "StageName": "Closed Won", "ia_crm__Create_Project__c": True}],
          "Id")  # fmt: skip
    engine = projects_engine(store, projects_settings())
    for run in ("run-1", "run-2"):
        save_and_settle(engine, engine.plan(), run)
    plan = engine.plan()
    assert plan.counts()["unchanged"] == 2
    assert not [i for i in plan.items if i.action is Action.CREATE]


def test_keys_and_identity_values_with_percent_signs_and_quotes_are_read_as_they_are(store: StagingStore) -> None:
    keys = ["50%off", "x'y", "plain"]
    stage(store, "intacct", "PROJECT", [intacct_project(RECORDNO=key, PROJECTID=f"P-{key}") for key in keys],
          "RECORDNO")  # fmt: skip
    assert sorted(store.staged_states("intacct", "PROJECT")) == sorted(keys)
    assert sorted(row[0] for row in store.iter_staged_records_of("intacct", "PROJECT", keys[:2])) == sorted(keys[:2])

    links = LinkStore(store, "projects", ("intacct", "salesforce"))
    ids = links.save([LinkWrite(None, "project", key, f"a0{index}", {}, {}) for index, key in enumerate(keys)], "r1")
    links.mark_in_sync([InSync("project", link_id, "l", "r", {"PROJECTID": f"P-{key}"}, {})
                        for link_id, key in zip(ids, keys, strict=True)])  # fmt: skip
    assert links.holding("project", "intacct", ["P-50%off", "P-x'y"]) == set(ids[:2])
    assert links.identities("project", "intacct", "PROJECTID") == {i: f"P-{k}" for i, k in zip(ids, keys, strict=True)}


def test_a_plan_runs_with_the_collector_paused_and_leaves_it_on(store: StagingStore) -> None:
    import gc

    engine = linked_world(store)
    seen: list[bool] = []
    plan = engine.plan(progress=lambda _message: seen.append(gc.isenabled()))
    assert seen and not any(seen)
    assert gc.isenabled()
    engine.save_plan(plan, "run-3")
    assert gc.isenabled()


def test_a_plan_says_where_its_time_went_per_phase_and_per_entity(store: StagingStore) -> None:
    from crosswalk.sync.engine import PLAN_PHASES

    engine = linked_world(store)
    said: list[str] = []
    plan = engine.plan(progress=said.append)
    assert set(plan.seconds) == set(PLAN_PHASES)
    assert all(seconds >= 0 for seconds in plan.seconds.values()) and sum(plan.seconds.values()) > 0
    project = next(line for line in said if line.startswith("planned project:"))
    assert all(f"{phase} " in project for phase in PLAN_PHASES), project
