"""The Salesforce emulator driven by simple-salesforce over HTTPS, as the extract and write stages use it."""

from __future__ import annotations

import csv
import gc
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from emulators.world import Presence, World, salesforce_id, salesforce_id_checksum
from tests import salesforce_client
from tests.salesforce_client import InstanceRedirect

WIRE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
OPEN_SESSIONS: list[requests.Session] = []


def new_session() -> requests.Session:
    # Closed before the server stops: uvicorn's graceful shutdown otherwise waits on idle keep-alive sockets.
    session = requests.Session()
    OPEN_SESSIONS.append(session)
    return session


def sandbox_session(env: dict[str, str]) -> requests.Session:
    session = salesforce_client.sandbox_session(env)
    OPEN_SESSIONS.append(session)
    return session


def connect(env: dict[str, str]) -> Salesforce:
    return salesforce_client.connect(env, sandbox_session(env))


@pytest.fixture
def running(start_emulator: Any) -> Iterator[Any]:
    emulator = start_emulator("salesforce")
    yield emulator
    while OPEN_SESSIONS:
        OPEN_SESSIONS.pop().close()
    gc.collect()  # closes sockets of responses whose bodies a test never read


@pytest.fixture
def sf(running: Any) -> Salesforce:
    return connect(running.env)


def raw(running: Any, sf: Salesforce, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sf.session_id}", **kwargs.pop("headers", {})}
    return sf.session.request(method, f"{running.origin}{path}", headers=headers, **kwargs)


# ---- login ----------------------------------------------------------------------------------------------------


def test_token_endpoint_issues_client_credentials_tokens(running: Any) -> None:
    env = running.env
    assert set(env) == {"SALESFORCE_INSTANCE_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET",
                        "SALESFORCE_CA_BUNDLE"}
    session = sandbox_session(env)
    reply = session.post(f"{env['SALESFORCE_INSTANCE_URL']}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
        "client_secret": env["SALESFORCE_CLIENT_SECRET"]})
    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == ["access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"]
    assert body["instance_url"] == env["SALESFORCE_INSTANCE_URL"] and body["token_type"] == "Bearer"
    assert body["access_token"].startswith("00D") and "!" in body["access_token"] and body["issued_at"].isdigit()
    bad = session.post(f"{env['SALESFORCE_INSTANCE_URL']}/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"], "client_secret": "nope"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_client",
                                                     "error_description": "invalid client credentials"}
    assert session.get(f"{env['SALESFORCE_INSTANCE_URL']}/services/data/v59.0/limits").status_code == 401


def test_domain_argument_alone_reaches_the_emulator(running: Any) -> None:
    # Without a mounted adapter: the domain carries host:port and a fragment swallows ".salesforce.com/...".
    host = urlsplit(running.env["SALESFORCE_INSTANCE_URL"]).netloc
    session = new_session()
    session.verify, session.trust_env = running.ca_bundle, False
    sf = Salesforce(consumer_key=running.env["SALESFORCE_CLIENT_ID"],
                    consumer_secret=running.env["SALESFORCE_CLIENT_SECRET"],
                    domain=f"{host}/services/oauth2/token#", session=session)
    assert sf.sf_instance == host
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == len(running.backend.list_records("Account"))


def test_soap_username_password_login(running: Any) -> None:
    from emulators.salesforce.auth import PASSWORD, SECURITY_TOKEN, USERNAME

    session = new_session()
    session.verify, session.trust_env = running.ca_bundle, False
    session.mount("https://login.salesforce.com", InstanceRedirect(running.origin))
    sf = Salesforce(username=USERNAME, password=PASSWORD, security_token=SECURITY_TOKEN, session=session)
    assert sf.sf_instance == urlsplit(running.origin).netloc
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        Salesforce(username=USERNAME, password="wrong", security_token="x", session=session)


def test_expired_tokens_are_renewed_by_client_credentials_and_refused_for_bare_sessions(running: Any,
                                                                                      sf: Salesforce) -> None:
    old_token = sf.session_id
    assert running.admin("POST", "faults", json={"faults": [{"kind": "expire_session", "count": 1}]}).status_code == 200
    before = running.admin("GET", "stats").json()["sessions"]
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 12
    assert sf.session_id != old_token and running.admin("GET", "stats").json()["sessions"] == before + 1

    bare = Salesforce(instance_url=running.origin, session_id=sf.session_id, session=sandbox_session(running.env))
    running.backend.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as caught:
        bare.query("SELECT Id FROM Account")
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    reply = raw(running, bare, "GET", "/services/data/v59.0/limits")
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Token"


# ---- query ----------------------------------------------------------------------------------------------------


def test_query_pages_with_next_records_url_and_batch_size(running: Any, sf: Salesforce) -> None:
    running.backend.limits.min_batch_size = 5  # the real floor is 200; lowered so demo data spans pages
    soql = "SELECT Id, Name, SystemModstamp FROM ia_crm__Task__c ORDER BY SystemModstamp"
    headers = {"Sforce-Query-Options": "batchSize=5"}
    first = sf.query(soql, headers=headers)
    total = len(running.backend.list_records("ia_crm__Task__c"))
    assert list(first) == ["totalSize", "done", "nextRecordsUrl", "records"]
    assert first["totalSize"] == total and first["done"] is False and len(first["records"]) == 5
    assert re.fullmatch(r"/services/data/v59\.0/query/01g[0-9A-Za-z]{15}-5", first["nextRecordsUrl"])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
    assert second["nextRecordsUrl"].endswith("-10") and len(second["records"]) == 5
    records = list(sf.query_all_iter(soql, headers=headers))
    assert len(records) == total == len({r["Id"] for r in records})
    stamps = [r["SystemModstamp"] for r in records]
    assert stamps == sorted(stamps) and all(WIRE_DATETIME.match(s) for s in stamps)
    assert records[0]["attributes"] == {"type": "ia_crm__Task__c",
                                        "url": f"/services/data/v59.0/sobjects/ia_crm__Task__c/{records[0]['Id']}"}
    assert list(records[0]) == ["attributes", "Id", "Name", "SystemModstamp"]
    # Without the header the page is 2000 rows; an unknown locator is refused.
    assert sf.query(soql)["done"] is True
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01g5g0000000zzzAAA-5")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_where_clauses_datetimes_in_like_null_order_limit(running: Any, sf: Salesforce) -> None:
    tasks = running.backend.list_records("ia_crm__Task__c")
    pivot = sorted(t["SystemModstamp"] for t in tasks)[10]
    literal = pivot[:19] + "Z"
    after = sf.query_all(f"SELECT Id FROM ia_crm__Task__c WHERE SystemModstamp > {literal}")["records"]
    assert len(after) == sum(1 for t in tasks if t["SystemModstamp"] > pivot)
    offset_form = sf.query_all(f"SELECT Id FROM ia_crm__Task__c WHERE SystemModstamp >= {pivot[:19]}+00:00")
    assert offset_form["totalSize"] == sum(1 for t in tasks if t["SystemModstamp"] >= pivot)
    local = (datetime.fromisoformat(pivot[:19]) - timedelta(hours=5)).isoformat()
    shifted = sf.query_all(f"SELECT Id FROM ia_crm__Task__c WHERE SystemModstamp >= {local}.000-05:00")
    assert shifted["totalSize"] == offset_form["totalSize"]  # the same instant written in another offset
    naive = sf.query_all(f"SELECT Id FROM ia_crm__Task__c WHERE SystemModstamp >= {local}Z")
    assert naive["totalSize"] >= shifted["totalSize"]

    statuses = sf.query_all("SELECT Id, ia_crm__Task_Status__c FROM ia_crm__Task__c "
                            "WHERE ia_crm__Task_Status__c IN ('Completed', 'planned')")["records"]
    assert {r["ia_crm__Task_Status__c"] for r in statuses} <= {"Completed", "Planned"}
    assert len(statuses) == sum(1 for t in tasks if t["ia_crm__Task_Status__c"] in ("Completed", "Planned"))

    like = sf.query_all("SELECT Name FROM ia_crm__Task__c WHERE Name LIKE 'design%' ORDER BY Name DESC LIMIT 3")
    names = [r["Name"] for r in like["records"]]
    expected = sorted((t["Name"] for t in tasks if t["Name"].lower().startswith("design")), key=str.lower,
                      reverse=True)[:3]
    assert names == expected

    projects = running.backend.list_records("ia_crm__Project__c")
    unlinked = sf.query_all("SELECT Id FROM ia_crm__Project__c WHERE ia_crm__Project_ID__c = null")
    assert unlinked["totalSize"] == sum(1 for p in projects if p["ia_crm__Project_ID__c"] is None)
    mixed = sf.query_all("SELECT Id FROM ia_crm__Project__c WHERE ia_crm__Project_ID__c != null AND "
                         "(ia_crm__Project_Status__c = 'Completed' OR ia_crm__Project_Status__c = 'On Hold')")
    assert mixed["totalSize"] == sum(1 for p in projects if p["ia_crm__Project_ID__c"] and
                                     p["ia_crm__Project_Status__c"] in ("Completed", "On Hold"))

    parent = sf.query("SELECT Id, Account.Name FROM Opportunity WHERE AccountId != null LIMIT 1")["records"][0]
    assert parent["Account"]["attributes"]["type"] == "Account" and parent["Account"]["Name"]

    for bad, code in (("SELECT Id FROM ia_crm__Task__c WHERE Nope__c = 1", "INVALID_FIELD"),
                      ("SELECT Id FROM Nothing__c", "INVALID_TYPE"),
                      ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
                      ("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_FIELD")):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(bad)
        assert caught.value.status == 400 and caught.value.content[0]["errorCode"] == code
        assert set(caught.value.content[0]) == {"message", "errorCode"}


def test_query_all_returns_deleted_rows_and_the_deleted_log(running: Any, sf: Salesforce) -> None:
    victim = sf.query("SELECT Id, SystemModstamp FROM ia_crm__Task__c LIMIT 1")["records"][0]
    assert sf.ia_crm__Task__c.delete(victim["Id"]) == 204
    soql = f"SELECT Id, IsDeleted, SystemModstamp FROM ia_crm__Task__c WHERE Id = '{victim['Id']}'"
    assert sf.query(soql)["totalSize"] == 0
    row = sf.query(soql, include_deleted=True)["records"][0]
    assert row["IsDeleted"] is True and row["SystemModstamp"] > victim["SystemModstamp"]
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.ia_crm__Task__c.get(victim["Id"])
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    now = running.backend.clock.now()
    log = sf.ia_crm__Task__c.deleted(now - timedelta(days=1), now + timedelta(minutes=2))
    assert [d["id"] for d in log["deletedRecords"]] == [victim["Id"]]
    assert WIRE_DATETIME.match(log["deletedRecords"][0]["deletedDate"])
    assert WIRE_DATETIME.match(log["latestDateCovered"])
    with pytest.raises(SalesforceMalformedRequest) as old:
        sf.ia_crm__Task__c.deleted(now - timedelta(days=20), now)
    assert old.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


# ---- writes -----------------------------------------------------------------------------------------------------


def test_crud_upsert_and_validation_errors(running: Any, sf: Salesforce) -> None:
    opportunity = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
    created = sf.ia_crm__Project__c.create({"Name": "Kickoff", "ia_crm__Project_ID__c": "PRJ-900001",
                                            "ia_crm__Opportunity__c": opportunity[:15]})
    assert created["success"] is True and created["errors"] == [] and created["id"].startswith("a0B")
    record = sf.ia_crm__Project__c.get(created["id"])
    assert record["ia_crm__Opportunity__c"] == opportunity and WIRE_DATETIME.match(record["CreatedDate"])
    assert record["CreatedDate"] == record["SystemModstamp"] and record["IsDeleted"] is False
    assert sf.ia_crm__Project__c.update(created["id"], {"ia_crm__Complete_by_Duration__c": 42.5}) == 204
    updated = sf.ia_crm__Project__c.get(created["id"])
    assert updated["ia_crm__Complete_by_Duration__c"] == 42.5 and updated["SystemModstamp"] > record["SystemModstamp"]

    assert sf.ia_crm__Project__c.upsert("ia_crm__Project_ID__c/PRJ-900002", {"Name": "New"}) == 201
    reply = sf.ia_crm__Project__c.upsert("ia_crm__Project_ID__c/PRJ-900002", {"Name": "Renamed"}, raw_response=True)
    assert reply.status_code == 200 and reply.json()["created"] is False and reply.json()["success"] is True
    assert sf.ia_crm__Project__c.get_by_custom_id("ia_crm__Project_ID__c", "PRJ-900002")["Name"] == "Renamed"
    task = sf.ia_crm__Task__c.upsert("ia_crm__Task_ID__c/T-9000001", {
        "Name": "Design", "ia_crm__Project__r": {"ia_crm__Project_ID__c": "PRJ-900002"}}, raw_response=True)
    assert task.status_code == 201 and task.json()["created"] is True
    assert sf.ia_crm__Task__c.get(task.json()["id"])["ia_crm__Project__c"] == reply.json()["id"]

    def error_of(call: Any) -> dict[str, Any]:
        with pytest.raises((SalesforceMalformedRequest, SalesforceResourceNotFound)) as caught:
            call()
        return caught.value.content[0]

    assert error_of(lambda: sf.ia_crm__Project__c.create({"ia_crm__Project_Status__c": "In Progress"})) == {
        "message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Name"]}
    duplicate = error_of(lambda: sf.ia_crm__Project__c.create({"Name": "x", "ia_crm__Project_ID__c": "PRJ-900001"}))
    assert duplicate["errorCode"] == "DUPLICATE_VALUE" and created["id"] in duplicate["message"]
    assert error_of(lambda: sf.ia_crm__Project__c.create({"Name": "x" * 81}))["errorCode"] == "STRING_TOO_LONG"
    assert error_of(lambda: sf.ia_crm__Task__c.create({"Name": "x", "ia_crm__Project__c": "a0B5g00000zzzzzAAA"})
                    )["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert error_of(lambda: sf.Opportunity.create({"Name": "x", "StageName": "Dreaming", "CloseDate": "2025-01-01"})
                    )["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error_of(lambda: sf.Account.create({"Name": "x", "SystemModstamp": "2024-01-01T00:00:00Z"})
                    )["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error_of(lambda: sf.ia_crm__Project__c.upsert("Nope__c/1", {"Name": "x"}))["errorCode"] == "NOT_FOUND"
    assert error_of(lambda: sf.ia_crm__Project__c.get("a0B5g00000zzzzzAAA")) == {
        "message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}

    won = sf.Opportunity.create({"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2025-06-30"})
    derived = sf.Opportunity.get(won["id"])
    assert (derived["IsWon"], derived["IsClosed"], derived["Probability"], derived["ForecastCategoryName"]) == (
        True, True, 100.0, "Closed")


def test_sobject_collections_limits_all_or_none_and_row_errors(running: Any, sf: Salesforce) -> None:
    project = {"attributes": {"type": "ia_crm__Project__c"}}
    rows = [{**project, "Name": "A"}, {**project, "ia_crm__Project_Status__c": "Completed"}, {**project, "Name": "C"}]
    before = len(running.backend.list_records("ia_crm__Project__c"))
    partial = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": rows})
    assert [r["success"] for r in partial] == [True, False, True]
    assert partial[1] == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                        "message": "Required fields are missing: [Name]",
                                                        "fields": ["Name"]}]}
    assert len(running.backend.list_records("ia_crm__Project__c")) == before + 2

    atomic = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": rows})
    assert atomic[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert atomic[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(running.backend.list_records("ia_crm__Project__c")) == before + 2

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False,
                                                              "records": [{**project, "Name": "x"}] * 201})
    assert caught.value.content == [{"message": "record limit reached. cannot submit more than 200 records into "
                                                "this call", "errorCode": "EXCEEDED_ID_LIMIT"}]

    upserts = [{**project, "ia_crm__Project_ID__c": f"PRJ-8{i:05d}", "Name": f"P{i}"} for i in range(200)]
    first = sf.restful("composite/sobjects/ia_crm__Project__c/ia_crm__Project_ID__c", method="PATCH",
                       json={"allOrNone": False, "records": upserts})
    assert len(first) == 200 and all(r["created"] is True and r["success"] for r in first)
    again = sf.restful("composite/sobjects/ia_crm__Project__c/ia_crm__Project_ID__c", method="PATCH",
                       json={"allOrNone": False, "records": upserts[:2]})
    assert [(r["id"], r["created"]) for r in again] == [(first[0]["id"], False), (first[1]["id"], False)]

    update = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {**project, "id": first[0]["id"], "ia_crm__Complete_by_Duration__c": 10},
        {**project, "id": "a0B5g00000zzzzzAAA", "Name": "ghost"}]})
    assert update[0] == {"id": first[0]["id"], "success": True, "errors": []}
    assert update[1]["id"] == "a0B5g00000zzzzzAAA" and update[1]["errors"][0]["statusCode"] == "NOT_FOUND"
    removed = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": f"{first[0]['id']},{first[1]['id']}", "allOrNone": "false"})
    assert removed == [{"id": first[0]["id"], "success": True, "errors": []},
                       {"id": first[1]["id"], "success": True, "errors": []}]
    stats = running.admin("GET", "stats").json()
    assert stats["per_route"]["POST /services/data/v{version}/composite/sobjects"] == 3


def test_per_record_faults_fail_single_rows(running: Any, sf: Salesforce) -> None:
    plan = {"faults": [{"kind": "record_error", "object": "ia_crm__Task__c", "count": 1},
                       {"kind": "record_error", "object": "Account", "count": 1,
                        "message": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Billing country is required"}]}
    running.admin("POST", "faults", json=plan)
    project = sf.query("SELECT Id FROM ia_crm__Project__c LIMIT 1")["records"][0]["Id"]
    rows = [{"attributes": {"type": "ia_crm__Task__c"}, "Name": f"T{i}", "ia_crm__Project__c": project}
            for i in range(3)]
    result = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": rows})
    assert [r["success"] for r in result] == [False, True, True]
    assert result[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.create({"Name": "Acme"})
    assert caught.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert caught.value.content[0]["message"] == "Billing country is required"
    assert sf.Account.create({"Name": "Acme"})["success"] is True


# ---- Bulk API 2.0 -----------------------------------------------------------------------------------------------


def test_bulk2_ingest_upsert_with_failures_and_null_marker(running: Any, sf: Salesforce) -> None:
    project = sf.query("SELECT Id, ia_crm__Project_ID__c FROM ia_crm__Project__c WHERE ia_crm__Project_ID__c != null "
                       "LIMIT 1")["records"][0]
    records = [{"ia_crm__Task_ID__c": f"T-B{i}", "Name": f"Bulk {i}", "ia_crm__Project__c": project["Id"],
                "ia_crm__Percent_Complete__c": 10 * i} for i in range(5)]
    records.append({"ia_crm__Task_ID__c": "T-BAD", "Name": "Bad", "ia_crm__Project__c": "a0B5g00000zzzzzAAA",
                    "ia_crm__Percent_Complete__c": 1})
    result = sf.bulk2.ia_crm__Task__c.upsert(records=records, external_id_field="ia_crm__Task_ID__c", wait=0.05)
    assert len(result) == 1
    assert result[0]["numberRecordsProcessed"] == 6 and result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.ia_crm__Task__c.get_failed_records(job_id))))
    assert len(failed) == 1 and failed[0]["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    good = sf.bulk2.ia_crm__Task__c.get_successful_records(job_id)
    assert good.splitlines()[0].startswith('"sf__Id","sf__Created"') and good.count('"true"') >= 5

    # An empty cell leaves a field unchanged; #N/A sets it to null. Relationship columns resolve external ids.
    text = ("ia_crm__Task_ID__c,Name,ia_crm__Percent_Complete__c,ia_crm__Project__r.ia_crm__Project_ID__c\n"
            f"T-B1,,#N/A,{project['ia_crm__Project_ID__c']}\nT-B2,Renamed,,\n")
    path = running.backend.name + "-bulk.csv"
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        file = pathlib.Path(directory) / path
        file.write_text(text)
        second = sf.bulk2.ia_crm__Task__c.upsert(csv_file=str(file), external_id_field="ia_crm__Task_ID__c",
                                                 wait=0.05)
    assert second[0]["numberRecordsFailed"] == 0
    rows = {r["ia_crm__Task_ID__c"]: r for r in sf.query_all(
        "SELECT ia_crm__Task_ID__c, Name, ia_crm__Percent_Complete__c FROM ia_crm__Task__c "
        "WHERE ia_crm__Task_ID__c IN ('T-B1', 'T-B2')")["records"]}
    assert rows["T-B1"]["Name"] == "Bulk 1" and rows["T-B1"]["ia_crm__Percent_Complete__c"] is None
    assert rows["T-B2"]["Name"] == "Renamed" and rows["T-B2"]["ia_crm__Percent_Complete__c"] == 20.0


def test_bulk2_query_pages_with_locator(running: Any, sf: Salesforce) -> None:
    total = len(running.backend.list_records("ia_crm__Task__c"))
    pages = list(sf.bulk2.ia_crm__Task__c.query("SELECT Id, Name, SystemModstamp, ia_crm__Project__r.Name FROM "
                                                "ia_crm__Task__c", max_records=10, wait=0.05))
    assert len(pages) == -(-total // 10)
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == total == len({r["Id"] for r in rows})
    assert pages[0].splitlines()[0] == '"Id","Name","SystemModstamp","ia_crm__Project__r.Name"'
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", rows[0]["SystemModstamp"])
    job = raw(running, sf, "POST", "/services/data/v59.0/jobs/query",
              json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    assert job["state"] == "UploadComplete"
    early = raw(running, sf, "GET", f"/services/data/v59.0/jobs/query/{job['id']}/results")
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    states = [raw(running, sf, "GET", f"/services/data/v59.0/jobs/query/{job['id']}").json()["state"]
              for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]
    last = raw(running, sf, "GET", f"/services/data/v59.0/jobs/query/{job['id']}/results")
    assert last.headers["Sforce-Locator"] == "null"
    assert int(last.headers["Sforce-NumberOfRecords"]) == len(running.backend.list_records("Account"))


# ---- limits, faults, metadata ----------------------------------------------------------------------------------


def test_limit_header_and_daily_quota(running: Any, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    used = sf.api_usage["api-usage"].used
    assert sf.api_usage["api-usage"].total == running.backend.quota.maximum
    reply = raw(running, sf, "GET", "/services/data/v59.0/limits")
    assert reply.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{running.backend.quota.maximum}"
    assert reply.json()["DailyApiRequests"] == {"Max": running.backend.quota.maximum,
                                                "Remaining": running.backend.quota.maximum - used - 1}
    running.backend.limits.daily_api_requests = used + 2
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_call_level_faults_in_salesforce_shapes(running: Any, sf: Salesforce) -> None:
    soql = "SELECT Id FROM Account LIMIT 1"
    running.admin("POST", "faults", json={"faults": [{"kind": "throttle", "path": "/query"}]})
    with pytest.raises(SalesforceRefusedRequest) as throttled:
        sf.query(soql)
    assert throttled.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    running.admin("POST", "faults", json={"faults": [{"kind": "server_error", "path": "/query"}]})
    with pytest.raises(SalesforceGeneralError) as failed:
        sf.query(soql)
    assert failed.value.status == 500 and failed.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    running.admin("POST", "faults", json={"faults": [{"kind": "server_error", "status": 503, "retry_after": 7}]})
    reply = raw(running, sf, "GET", "/services/data/v59.0/limits")
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "7"
    assert reply.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    running.admin("POST", "faults", json={"faults": [{"kind": "reset", "path": "/query"}]})
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        sf.query(soql)
    running.admin("POST", "faults", json={"faults": [{"kind": "slow", "delay_seconds": 0.3, "path": "/query"}]})
    with pytest.raises(requests.exceptions.Timeout):
        sf.query(soql, timeout=0.1)
    assert sf.query(soql)["totalSize"] == 1
    assert running.admin("GET", "stats").json()["faults_injected"] == {
        "throttle": 1, "server_error": 2, "reset": 1, "slow": 1}


def test_describe_versions_and_updated(running: Any, sf: Salesforce) -> None:
    describe = sf.ia_crm__Project__c.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "a0B" and describe["custom"] is True
    assert fields["ia_crm__Project_ID__c"]["externalId"] is True and fields["ia_crm__Project_ID__c"]["unique"]
    assert fields["ia_crm__Opportunity__c"]["referenceTo"] == ["Opportunity"]
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["SystemModstamp"]["createable"] is False
    assert sf.ia_crm__Task__c.describe()["keyPrefix"] == "a0C"
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert names == {"Account", "Opportunity", "Contract", "User", "ia_crm__Project__c", "ia_crm__Task__c"}
    versions = sf.session.get(f"{running.origin}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    created = sf.Account.create({"Name": "Fresh"})["id"]
    now = running.backend.clock.now()
    assert sf.Account.updated(now - timedelta(hours=1), now + timedelta(minutes=2))["ids"] == [created]


def test_admin_seed_records_and_stats(running: Any, sf: Salesforce) -> None:
    seeded = running.admin("POST", "seed", json={"records": {"ia_crm__Project__c": [
        {"Name": "Seeded", "ia_crm__Project_ID__c": "PRJ-777777", "ia_crm__Project_Status__c": "In Progress"}]}})
    assert seeded.json() == {"seeded": {"ia_crm__Project__c": 1}}
    assert running.admin("POST", "seed", json={"records": {"Nope": [{}]}}).status_code == 404
    assert running.admin("POST", "seed", json={"records": {"Account": [{"Phone": "1"}]}}).status_code == 400
    listed = running.admin("GET", "records/ia_crm__Project__c").json()["records"]
    row = next(r for r in listed if r["ia_crm__Project_ID__c"] == "PRJ-777777")
    assert row["Id"].startswith("a0B") and WIRE_DATETIME.match(row["SystemModstamp"])
    assert max(r["SystemModstamp"] for r in listed) == row["SystemModstamp"]
    found = sf.query("SELECT Id FROM ia_crm__Project__c WHERE ia_crm__Project_ID__c = 'PRJ-777777'")
    assert found["records"][0]["Id"] == row["Id"]
    stats = running.admin("GET", "stats").json()
    assert stats["reads"] >= 1 and stats["sessions"] == 1
    assert stats["per_route"]["GET /services/data/v{version}/query/"] == 1


def test_generated_world_is_coherent(running: Any) -> None:
    world = World(seed=1, scale="demo")
    backend = running.backend
    projects = {p["Id"]: p for p in backend.list_records("ia_crm__Project__c")}
    for i in range(world.counts["projects"]):
        project = world.project(i)
        record = projects.get(salesforce_id("a0B", i + 1))
        assert (record is not None) == project.presence.on_right
        if record is None:
            continue
        assert record["Name"] == project.right_name
        assert record["ia_crm__Project_ID__c"] == (project.project_id if project.presence.linked else None)
        if project.presence is Presence.DRIFTED:
            assert record["Name"].endswith("(edited)")
        expected_opportunity = (salesforce_id("006", project.opportunity_index + 1)
                                if project.opportunity_index is not None else None)
        assert record["ia_crm__Opportunity__c"] == expected_opportunity
    tasks = backend.list_records("ia_crm__Task__c")
    assert all(t["ia_crm__Project__c"] in projects for t in tasks)
    assert len(tasks) == sum(1 for i in range(world.counts["tasks"]) if world.project(world.task(i).project_index)
                             .presence.on_right)
    accounts = backend.list_records("Account")
    assert len(accounts) == sum(1 for i in range(world.counts["customers"]) if world.customer(i).presence.on_right)
    contracts = backend.list_records("Contract")
    opportunities = {o["Id"]: o for o in backend.list_records("Opportunity")}
    assert contracts and all(opportunities[c["ia_crm__Opportunity__c"]]["StageName"] == "Closed Won"
                             for c in contracts)
    for record in [*accounts, *tasks, *contracts]:
        assert record["Id"][15:] == salesforce_id_checksum(record["Id"][:15])
        assert WIRE_DATETIME.match(record["SystemModstamp"]) and record["CreatedDate"] <= record["SystemModstamp"]
    assert len(backend.list_records("User")) == world.counts["users"] + 1  # plus the integration user
    assert backend.clock.tick().isoformat() > max(t["SystemModstamp"] for t in tasks)[:19]


def test_large_task_table_pages_by_watermark(start_emulator: Any) -> None:
    emulator = start_emulator("salesforce", counts={"tasks": 30000})
    sf = connect(emulator.env)
    try:
        headers = {"Sforce-Query-Options": "batchSize=2000"}
        total = emulator.backend.org.tables["ia_crm__Task__c"].size
        first = sf.query("SELECT Id FROM ia_crm__Task__c", headers=headers)
        assert first["totalSize"] == total > 20000 and len(first["records"]) == 2000
        assert first["nextRecordsUrl"].endswith("-2000")
        stamps = [r["SystemModstamp"] for r in sf.query_all_iter(
            "SELECT Id, SystemModstamp FROM ia_crm__Task__c ORDER BY SystemModstamp", headers=headers)]
        assert len(stamps) == total and stamps == sorted(stamps)
        watermark = stamps[total // 2]
        literal = watermark[:23] + "Z"
        newer = sf.query_all(f"SELECT Id FROM ia_crm__Task__c WHERE SystemModstamp > {literal} "
                             "ORDER BY SystemModstamp", headers=headers)
        assert newer["totalSize"] == sum(1 for s in stamps if s > watermark)
        updated = sf.ia_crm__Task__c.update(sf.query("SELECT Id FROM ia_crm__Task__c LIMIT 1")["records"][0]["Id"],
                                            {"ia_crm__Percent_Complete__c": 99})
        assert updated == 204
        after = sf.query_all(f"SELECT Id, SystemModstamp FROM ia_crm__Task__c WHERE SystemModstamp > {literal} "
                             "ORDER BY SystemModstamp DESC LIMIT 1")["records"]
        assert after[0]["SystemModstamp"] > stamps[-1]
    finally:
        sf.session.close()
        gc.collect()


def test_snapshot_round_trip_keeps_records_and_indexes(tmp_path: Any) -> None:
    from emulators.salesforce.backend import SalesforceBackend

    backend = SalesforceBackend()
    backend.generate(World(seed=3, scale="demo"))
    backend.org.insert("ia_crm__Project__c", {"Name": "Saved", "ia_crm__Project_ID__c": "PRJ-555555"})
    backend.save_snapshot(tmp_path / "salesforce.snap")
    restored = SalesforceBackend()
    restored.load_snapshot(tmp_path / "salesforce.snap")
    assert restored.list_records("ia_crm__Task__c") == backend.list_records("ia_crm__Task__c")
    row_id, created = restored.org.upsert("ia_crm__Project__c", "ia_crm__Project_ID__c", "PRJ-555555", {"Name": "X"})
    assert created is False and row_id.startswith("a0B")
