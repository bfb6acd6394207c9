"""The Salesforce emulator answers writes and their read-backs as Salesforce does: simple-salesforce and httpx over
HTTPS against a running emulator (multi-record retrieve, collection upsert rows, unknown resources, OFFSET bounds,
Bulk 2.0 error cells, describe defaults, the opportunity's Create Project checkbox, the project/task external ids)."""

from __future__ import annotations

import csv
import gc
import io
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from emulators.world import World, salesforce_id
from tests import salesforce_client

NOT_FOUND_BODY = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
OPEN_SESSIONS: list[requests.Session] = []


@pytest.fixture
def running(start_emulator: Any) -> Iterator[Any]:
    emulator = start_emulator("salesforce")
    yield emulator
    while OPEN_SESSIONS:
        OPEN_SESSIONS.pop().close()  # before the server stops: idle keep-alive sockets delay its shutdown
    gc.collect()


@pytest.fixture
def sf(running: Any) -> Salesforce:
    session = salesforce_client.sandbox_session(running.env)
    OPEN_SESSIONS.append(session)
    return salesforce_client.connect(running.env, session)


@pytest.fixture
def http(running: Any, sf: Salesforce) -> Iterator[httpx.Client]:
    """A plain HTTP client holding the same bearer token as `sf`."""
    context = ssl.create_default_context(cafile=running.ca_bundle)
    with httpx.Client(base_url=running.origin, verify=context, timeout=30,
                      headers={"Authorization": f"Bearer {sf.session_id}"}) as client:
        yield client


def project_row(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "ia_crm__Project__c"}, **fields}


def failed_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---- multi-record retrieve ---------------------------------------------------------------------------------------


def test_collection_retrieve_answers_records_in_the_order_of_ids_with_null_for_missing(running: Any,
                                                                                     sf: Salesforce) -> None:
    projects = sf.query("SELECT Id, Name FROM ia_crm__Project__c ORDER BY Name")["records"]
    first, second = projects[0], projects[1]
    deleted = sf.ia_crm__Project__c.create({"Name": "Gone soon"})["id"]
    sf.ia_crm__Project__c.delete(deleted)
    unknown = salesforce_id("a0B", 999_999)
    ids = [second["Id"], unknown, first["Id"][:15], deleted, "not-an-id", salesforce_id("001", 1)]
    records = sf.restful("composite/sobjects/ia_crm__Project__c", method="POST",
                         json={"ids": ids, "fields": ["id", "Name", "ia_crm__Opportunity__c"]})
    assert len(records) == len(ids)
    assert records[0] == {
        "attributes": {"type": "ia_crm__Project__c",
                       "url": f"/services/data/v59.0/sobjects/ia_crm__Project__c/{second['Id']}"},
        "Id": second["Id"], "Name": second["Name"],
        "ia_crm__Opportunity__c": sf.ia_crm__Project__c.get(second["Id"])["ia_crm__Opportunity__c"],
    }
    assert records[2]["Id"] == first["Id"] and records[2]["Name"] == first["Name"]  # a 15-character id is answered
    assert records[1] is None and records[3] is None and records[4] is None and records[5] is None

    # The same resource by GET, ids and fields in the query string.
    by_get = sf.restful("composite/sobjects/ia_crm__Project__c", method="GET",
                        params={"ids": f"{first['Id']},{unknown}", "fields": "Name"})
    assert [r and r["Name"] for r in by_get] == [first["Name"], None]

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects/ia_crm__Project__c", method="POST",
                   json={"ids": [first["Id"]], "fields": ["Name", "Nope__c"]})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects/ia_crm__Project__c", method="POST",
                   json={"ids": [first["Id"]] * 2001, "fields": ["Name"]})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("composite/sobjects/Nope__c", method="POST", json={"ids": [first["Id"]], "fields": ["Name"]})


# ---- collection upsert rows ------------------------------------------------------------------------------------


def test_collection_upsert_rows_success_and_failure_shapes(running: Any, sf: Salesforce) -> None:
    path = "composite/sobjects/ia_crm__Project__c/ia_crm__Project_ID__c"
    existing = sf.query("SELECT ia_crm__Project_ID__c FROM ia_crm__Project__c WHERE ia_crm__Project_ID__c != null "
                        "LIMIT 1")["records"][0]["ia_crm__Project_ID__c"]
    rows = [
        project_row(ia_crm__Project_ID__c="PRJ-910001", Name="New"),  # created
        project_row(ia_crm__Project_ID__c=existing, Name="Renamed"),  # updated
        project_row(ia_crm__Project_ID__c="PRJ-910002"),  # insert without Name
        project_row(ia_crm__Project_ID__c=existing, Name="x" * 81),  # update with a value too long
        project_row(Name="No key"),  # no external id value
        project_row(ia_crm__Project_ID__c="PRJ-910003", Name="Bad lookup",
                    ia_crm__Opportunity__c=salesforce_id("006", 999_999)),
    ]
    results = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": rows})
    assert [set(r) for r in results[:2]] == [{"id", "success", "errors", "created"}] * 2
    assert [(r["success"], r["created"], r["errors"]) for r in results[:2]] == [(True, True, []), (True, False, [])]
    for failed in results[2:]:
        assert set(failed) == {"success", "errors"} and failed["success"] is False
    assert [r["errors"][0]["statusCode"] for r in results[2:]] == [
        "REQUIRED_FIELD_MISSING", "STRING_TOO_LONG", "MISSING_ARGUMENT", "INVALID_CROSS_REFERENCE_KEY"]

    # An injected per-record error fails its row the same way.
    running.admin("POST", "faults", json={"faults": [{"kind": "record_error", "object": "ia_crm__Project__c"}]})
    locked = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [
        project_row(ia_crm__Project_ID__c="PRJ-910004", Name="Locked")]})
    assert locked == [{"success": False, "errors": [{
        "statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record or 1 records",
        "fields": []}]}]

    # allOrNone: every row fails, the valid ones rolled back, none carries id or created.
    atomic = sf.restful(path, method="PATCH", json={"allOrNone": True, "records": [
        project_row(ia_crm__Project_ID__c="PRJ-910005", Name="Valid"),
        project_row(ia_crm__Project_ID__c=existing, Name="Valid update"),
        project_row(ia_crm__Project_ID__c="PRJ-910006")]})
    assert [set(r) for r in atomic] == [{"success", "errors"}] * 3
    assert [r["errors"][0]["statusCode"] for r in atomic] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]


# ---- unknown resources ------------------------------------------------------------------------------------------


def test_unknown_rest_paths_answer_salesforce_json_errors(running: Any, sf: Salesforce, http: httpx.Client) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.restful("no/such/resource")
    assert caught.value.content == NOT_FOUND_BODY
    for method, path in (("GET", "/services/data/v59.0/nope"), ("POST", "/services/data/v59.0/composite/nope"),
                         ("GET", "/services/data/v59.0/jobs/ingest/750000000000001AAA/batches/x/y"),
                         ("GET", "/services/data/v99.0/query"), ("GET", "/services/apexrest/nope")):
        reply = http.request(method, path)
        assert (reply.status_code, reply.json()) == (404, NOT_FOUND_BODY), (method, path)
        assert reply.headers["content-type"] == "application/json;charset=UTF-8"
    assert "Sforce-Limit-Info" in http.get("/services/data/v59.0/nope").headers
    # The session is checked first, as on every versioned resource.
    refused = httpx.get(f"{running.origin}/services/data/v59.0/nope", verify=ssl.create_default_context(
        cafile=running.ca_bundle))
    assert refused.status_code == 401 and refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    # A known resource asked with a method it does not serve: 405, also as JSON.
    wrong = http.put("/services/data/v59.0/limits")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/json;charset=UTF-8"
    assert wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED" and "'PUT'" in wrong.json()[0]["message"]


# ---- SOQL OFFSET -------------------------------------------------------------------------------------------------


def test_soql_offset_above_2000_is_refused(sf: Salesforce) -> None:
    assert sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 5 OFFSET 2000")["records"] == []
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 5 OFFSET 2001")
    assert caught.value.status == 400
    assert caught.value.content == [{"message": "Maximum SOQL offset allowed is 2000",
                                     "errorCode": "NUMBER_OUTSIDE_VALID_RANGE"}]


# ---- Bulk 2.0 sf__Error cells -------------------------------------------------------------------------------------


def test_bulk2_error_cells_and_deletes_of_unknown_ids(running: Any, sf: Salesforce) -> None:
    inserted = sf.bulk2.ia_crm__Project__c.insert(records=[{"Name": "Bulk A", "ia_crm__Project_ID__c": "PRJ-920001"},
                                                           {"ia_crm__Project_ID__c": "PRJ-920002"},
                                                           {"Name": "Dup", "ia_crm__Project_ID__c": "PRJ-920001"}],
                                                  wait=0.05)
    errors = sorted(r["sf__Error"] for r in failed_rows(
        sf.bulk2.ia_crm__Project__c.get_failed_records(inserted[0]["job_id"])))
    assert len(errors) == 2
    assert errors[1] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    assert errors[0].startswith("DUPLICATE_VALUE:duplicate value found: ia_crm__Project_ID__c duplicates value on "
                                "record with id: a0B") and errors[0].endswith(":--")

    live = sf.query("SELECT Id FROM ia_crm__Task__c LIMIT 1")["records"][0]["Id"]
    unknown = salesforce_id("a0C", 999_999)
    deleted = sf.bulk2.ia_crm__Task__c.delete(records=[{"Id": live}, {"Id": unknown}], wait=0.05)
    assert deleted[0]["numberRecordsFailed"] == 1
    failed = failed_rows(sf.bulk2.ia_crm__Task__c.get_failed_records(deleted[0]["job_id"]))
    assert [(r["sf__Id"], r["sf__Error"], r["Id"]) for r in failed] == [
        (unknown, "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--", unknown)]


# ---- describe -----------------------------------------------------------------------------------------------------


def test_describe_marks_platform_defaulted_fields(sf: Salesforce) -> None:
    for name in ("Account", "Opportunity", "Contract", "ia_crm__Project__c", "ia_crm__Task__c"):
        fields = {f["name"]: f for f in getattr(sf, name).describe()["fields"]}
        for system in ("Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "SystemModstamp"):
            assert fields[system]["defaultedOnCreate"] is True, (name, system)
        # What a client derives as required on create (not nillable, createable, not defaulted) is what is.
        derived = {n for n, f in fields.items() if not f["nillable"] and f["createable"] and not f["defaultedOnCreate"]}
        from emulators.salesforce.catalogue import OBJECTS

        assert derived == {f.name for f in OBJECTS[name].fields if f.required}, name
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opportunity["Probability"]["defaultedOnCreate"] is True
    assert opportunity["Amount"]["defaultedOnCreate"] is False


# ---- Create Project, project/task external ids -----------------------------------------------------------------


def test_opportunity_create_project_checkbox(running: Any, sf: Salesforce) -> None:
    field = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}["ia_crm__Create_Project__c"]
    assert (field["type"], field["label"], field["nillable"], field["defaultValue"], field["defaultedOnCreate"],
            field["createable"], field["updateable"]) == ("boolean", "Create Project", False, False, True, True, True)

    world = World(seed=1, scale="demo")
    asking = {salesforce_id("006", i + 1) for i in range(world.counts["opportunities"])
              if world.opportunity(i).asks_for_project}
    assert asking  # the demo world has an opportunity waiting for its project
    flagged = {r["Id"] for r in sf.query_all(
        "SELECT Id FROM Opportunity WHERE ia_crm__Create_Project__c = true")["records"]}
    assert flagged == asking
    with_project = {p["ia_crm__Opportunity__c"] for p in running.backend.list_records("ia_crm__Project__c")}
    assert not flagged & with_project
    for record_id in flagged:
        assert sf.Opportunity.get(record_id)["StageName"] == "Closed Won"

    created = sf.Opportunity.create({"Name": "Asks later", "StageName": "Closed Won", "CloseDate": "2025-07-01"})["id"]
    assert sf.Opportunity.get(created)["ia_crm__Create_Project__c"] is False
    sf.Opportunity.update(created, {"ia_crm__Create_Project__c": True})
    assert sf.Opportunity.get(created)["ia_crm__Create_Project__c"] is True


def test_project_and_task_external_ids_upsert_by_collection_and_bulk2(running: Any, sf: Salesforce,
                                                                      tmp_path: Path) -> None:
    opportunity = sf.query("SELECT Id FROM Opportunity WHERE ia_crm__Create_Project__c = true LIMIT 1"
                           )["records"][0]["Id"]
    projects = sf.restful("composite/sobjects/ia_crm__Project__c/ia_crm__Project_ID__c", method="PATCH", json={
        "allOrNone": True, "records": [project_row(ia_crm__Project_ID__c="PRJ-930001", Name="From opportunity",
                                                   ia_crm__Opportunity__c=opportunity)]})
    assert [(r["success"], r["created"]) for r in projects] == [(True, True)]
    tasks = sf.restful("composite/sobjects/ia_crm__Task__c/ia_crm__Task_ID__c", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "ia_crm__Task__c"}, "ia_crm__Task_ID__c": "T-9300001",
                                         "Name": "Kickoff",
                                         "ia_crm__Project__r": {"ia_crm__Project_ID__c": "PRJ-930001"}}]})
    assert [(r["success"], r["created"]) for r in tasks] == [(True, True)]

    project_csv = tmp_path / "projects.csv"
    project_csv.write_text("ia_crm__Project_ID__c,Name,ia_crm__Project_Status__c\n"
                           "PRJ-930001,From opportunity (renamed),In Progress\nPRJ-930002,Second,Not Started\n")
    first = sf.bulk2.ia_crm__Project__c.upsert(csv_file=str(project_csv), external_id_field="ia_crm__Project_ID__c",
                                               wait=0.05)
    assert (first[0]["numberRecordsProcessed"], first[0]["numberRecordsFailed"]) == (2, 0)
    created = {r["ia_crm__Project_ID__c"]: r["sf__Created"] for r in failed_rows(
        sf.bulk2.ia_crm__Project__c.get_successful_records(first[0]["job_id"]))}
    assert created == {"PRJ-930001": "false", "PRJ-930002": "true"}
    task_csv = tmp_path / "tasks.csv"
    task_csv.write_text("ia_crm__Task_ID__c,Name,ia_crm__Project__r.ia_crm__Project_ID__c\n"
                        "T-9300001,Kickoff (renamed),PRJ-930001\nT-9300002,Design,PRJ-930002\n")
    second = sf.bulk2.ia_crm__Task__c.upsert(csv_file=str(task_csv), external_id_field="ia_crm__Task_ID__c",
                                             wait=0.05)
    assert (second[0]["numberRecordsProcessed"], second[0]["numberRecordsFailed"]) == (2, 0)
    rows = {r["ia_crm__Task_ID__c"]: r for r in sf.query(
        "SELECT ia_crm__Task_ID__c, Name, ia_crm__Project__r.ia_crm__Project_ID__c FROM ia_crm__Task__c "
        "WHERE ia_crm__Task_ID__c IN ('T-9300001', 'T-9300002')")["records"]}
    assert rows["T-9300001"]["Name"] == "Kickoff (renamed)"
    assert rows["T-9300002"]["ia_crm__Project__r"]["ia_crm__Project_ID__c"] == "PRJ-930002"
    project = sf.ia_crm__Project__c.get_by_custom_id("ia_crm__Project_ID__c", "PRJ-930001")
    assert (project["Name"], project["ia_crm__Opportunity__c"]) == ("From opportunity (renamed)", opportunity)
