"""Recovery of a killed load: the intents it left open are closed by looking the records up in the target, through
the real clients against the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crosswalk.clients.intacct import IntacctSource
from crosswalk.clients.salesforce import SalesforceSource
from crosswalk.config import projects_settings
from crosswalk.staging import StagingStore
from crosswalk.staging.intents import DONE, FAILED, Intent
from crosswalk.sync.projects import projects_engine
from crosswalk.sync.writer import RecordWriter, WriteOp, WriteRequest
from tests.conftest import RunningEmulator
from tests.integration.extract_support import RETRY

Start = Callable[..., RunningEmulator]


def salesforce_writer(emulator: RunningEmulator) -> SalesforceSource:
    env = emulator.env
    return SalesforceSource(
        instance_url=env["SALESFORCE_INSTANCE_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
        client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SALESFORCE_CA_BUNDLE"], retry=RETRY, timeout=30,
    )  # fmt: skip


def intacct_writer(emulator: RunningEmulator) -> IntacctSource:
    env = emulator.env
    return IntacctSource(
        url=env["INTACCT_URL"], sender_id=env["INTACCT_SENDER_ID"], sender_password=env["INTACCT_SENDER_PASSWORD"],
        company_id=env["INTACCT_COMPANY_ID"], user_id=env["INTACCT_USER_ID"],
        user_password=env["INTACCT_USER_PASSWORD"], retry=RETRY, timeout=30,
    )  # fmt: skip


# Per target: the object, its lookup field, a create that a killed run sent, and the fields of an update it sent.
CASES = {
    "salesforce": (
        "ia_crm__Project__c", "ia_crm__Project_ID__c",
        lambda ident: WriteRequest(WriteOp.UPSERT, "ia_crm__Project__c", {"Name": "Sent before the kill"}, "m-create",
                                   external_id=("ia_crm__Project_ID__c", ident)),
        {"ia_crm__Description__c": "Updated before the kill"},
    ),
    "intacct": (
        "PROJECT", "PROJECTID",
        lambda ident: WriteRequest(WriteOp.CREATE, "PROJECT", {
            "PROJECTID": ident, "NAME": "Sent before the kill", "PROJECTCATEGORY": "Contract", "CUSTOMERID": "C-000001",
            "LOCATIONID": "E100"}, "m-create", external_id=("PROJECTID", ident)),
        {"DESCRIPTION": "Updated before the kill"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("target", sorted(CASES))
def test_a_killed_load_is_recovered_creates_by_their_lookup_field_updates_without_one(
    target: str, start_emulator: Start, store: StagingStore
) -> None:
    emulator = start_emulator(target)
    writer: RecordWriter = salesforce_writer(emulator) if target == "salesforce" else intacct_writer(emulator)
    object_name, lookup_field, create, update_fields = CASES[target]
    # What the killed run sent: a create that landed, one that never left, and an update of the record it created.
    [created] = writer.write([create("PRJ-KILLED-1")])
    assert created.ok and created.key, created.errors
    [updated] = writer.write([WriteRequest(WriteOp.UPDATE, object_name, update_fields, "m-update", key=created.key)])
    assert updated.ok, updated.errors

    engine = projects_engine(store, projects_settings())
    engine.intents.open([
        Intent("m-landed", "plan-killed", 0, target, object_name, "create", lookup_field, "PRJ-KILLED-1"),
        Intent("m-lost", "plan-killed", 1, target, object_name, "create", lookup_field, "PRJ-KILLED-2"),
        Intent("m-update", "plan-killed", 2, target, object_name, "update", "key", created.key),
    ], "killed-run")  # fmt: skip

    assert engine.recover(target, writer) == 1
    assert engine.intents.open_intents(target) == []
    outcomes = engine.intents.outcomes("plan-killed")
    assert (outcomes[0].state, outcomes[0].result_key) == (DONE, created.key)
    assert outcomes[1].state == FAILED and "not found" in (outcomes[1].error or "")
    # Whether an interrupted update landed is read by the next extract; the next plan writes it again if not.
    assert outcomes[2].state == FAILED and "update" in (outcomes[2].error or "")


def test_a_create_planned_again_before_an_interrupted_one_showed_takes_its_record_instead_of_a_second(
    start_emulator: Start, store: StagingStore
) -> None:
    from crosswalk.sync.plan import Action, PlanItem

    emulator = start_emulator("intacct")
    writer = intacct_writer(emulator)
    engine = projects_engine(store, projects_settings())

    def create(plan_id: str) -> None:
        # The same record's create, as a plan made before and a plan made after the kill both hold it.
        engine.plans.save(plan_id, [PlanItem(
            "project", Action.CREATE, "new:project:-:a0Bsf000000LATE1", target="intacct", target_object="PROJECT",
            source="salesforce", source_key="a0Bsf000000LATE1", values={"name": "Landed after the kill"},
            link_values={"PROJECTID": "PRJ-LATE"}, identity=("PROJECTID", "PRJ-LATE"),
            fixed_values={"PROJECTCATEGORY": "Contract", "CUSTOMERID": "C-000001", "LOCATIONID": "E100"},
        )])  # fmt: skip

    # The killed run: its intent committed, its create landed in Intacct, its outcome never recorded; the next plan
    # was made before the record showed in Intacct, so it plans the create again.
    create("plan-killed")
    engine.intents.open([Intent("m-killed", "plan-killed", 0, "intacct", "PROJECT", "create", "PROJECTID",
                                "PRJ-LATE")], "killed-run")  # fmt: skip
    [landed] = writer.write([WriteRequest(WriteOp.CREATE, "PROJECT", {
        "PROJECTID": "PRJ-LATE", "NAME": "Landed after the kill", "PROJECTCATEGORY": "Contract",
        "CUSTOMERID": "C-000001", "LOCATIONID": "E100"}, "m-killed", external_id=("PROJECTID", "PRJ-LATE"))])
    assert landed.ok, landed.errors  # fmt: skip
    create("plan-next")

    result = engine.load("plan-next", "intacct", writer, "next-run")
    assert (result.created, result.recovered, result.failed) == (0, 2, 0)
    [outcome] = engine.intents.outcomes("plan-next").values()
    assert (outcome.state, outcome.result_key) == (DONE, landed.key)
    assert list(writer.find("PROJECT", "PROJECTID", ["PRJ-LATE"])) == ["PRJ-LATE"]
    projects = emulator.admin("GET", "records/PROJECT").json()["records"]
    assert [p["PROJECTID"] for p in projects].count("PRJ-LATE") == 1
