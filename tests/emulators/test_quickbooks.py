"""The QBO emulator driven by python-quickbooks 0.9.12 and intuit-oauth 1.2.6 over a real TLS socket."""

from __future__ import annotations

import gc
import json
import re
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    SevereException,
    ValidationException,
)
from quickbooks.objects import Bill, Customer, Invoice, Item, Vendor
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

from emulators.quickbooks.limits import RealmThrottle, ThrottleSettings
from emulators.world import Presence, World, quickbooks_id

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-07:00$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}-07:00$")

warnings.filterwarnings("ignore", category=DeprecationWarning)


class Sandbox:
    """A running QBO emulator plus ways to reach it: the real clients and raw HTTPS."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.env = emulator.env
        self.backend = emulator.backend
        self.realm = self.env["QBO_REALM_ID"]
        self.sessions: list[requests.Session] = []

    def close(self) -> None:
        """Close client connections first: the TLS server's shutdown otherwise waits on idle keep-alive sockets."""
        for session in self.sessions:
            session.close()
        gc.collect()  # tracebacks kept by pytest.raises hold the sockets of failed calls

    def auth_client(self, refresh_token: str | None = None) -> AuthClient:
        auth = AuthClient(self.env["QBO_CLIENT_ID"], self.env["QBO_CLIENT_SECRET"], "http://localhost/callback",
                          self.env["QBO_DISCOVERY_URL"], refresh_token=refresh_token)
        self.sessions.append(auth)
        return auth

    def client(self) -> QuickBooks:
        auth = self.auth_client()
        qb = QuickBooks(auth_client=auth, refresh_token=self.env["QBO_REFRESH_TOKEN"], company_id=self.realm,
                        minorversion=75)
        qb.api_url_v3 = self.env["QBO_BASE_URL"]
        self.sessions.append(qb.session)
        self.env["QBO_REFRESH_TOKEN"] = qb.refresh_token  # rotated: keep the latest, as Crosswalk must
        return qb

    def url(self, tail: str) -> str:
        return f"{self.env['QBO_BASE_URL']}/company/{self.realm}/{tail}"

    def raw(self, qb: QuickBooks, method: str, tail: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {qb.session.access_token}", "Accept": "application/json"}
        return requests.request(method, self.url(tail), headers=headers, verify=self.emulator.ca_bundle,
                                timeout=30, **kwargs)

    def settings(self, **values: Any) -> None:
        reply = self.emulator.admin("POST", "seed", json={"records": {"EmulatorSettings": [values]}})
        assert reply.status_code == 200, reply.text

    def faults(self, *rules: dict[str, Any]) -> None:
        assert self.emulator.admin("POST", "faults", json={"seed": 3, "faults": list(rules)}).status_code == 200


@pytest.fixture
def sandbox(start_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    emulator = start_emulator("quickbooks", scale="demo", seed=1)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    running = Sandbox(emulator)
    yield running
    running.close()


def new_customer(name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    return customer


def test_env_exports_discovery_and_refresh_token_rotation(sandbox: Sandbox) -> None:
    env = sandbox.env
    assert env["QBO_BASE_URL"] == f"{sandbox.emulator.origin}/v3"
    assert env["QBO_DISCOVERY_URL"].endswith("/.well-known/openid_configuration")
    assert env["REQUESTS_CA_BUNDLE"] == sandbox.emulator.ca_bundle
    discovery = requests.get(env["QBO_DISCOVERY_URL"] + "/", timeout=10).json()
    assert discovery["token_endpoint"] == f"{sandbox.emulator.origin}/oauth2/v1/tokens/bearer"

    first = env["QBO_REFRESH_TOKEN"]
    auth = sandbox.auth_client(first)
    auth.refresh()
    assert auth.refresh_token != first and len(auth.refresh_token) == 50 and auth.refresh_token.startswith("AB11")
    assert auth.expires_in == 3600 and auth.x_refresh_token_expires_in == 8726400
    sandbox.auth_client(first).refresh()  # the replaced token still works within the default 24 h of grace
    sandbox.settings(refresh_token_grace_seconds=0)
    auth = sandbox.auth_client(first)
    auth.refresh()
    replaced = auth.refresh_token
    auth.refresh()  # under a zero grace period the token just replaced is refused at once
    with pytest.raises(AuthClientError) as refused:
        sandbox.auth_client(replaced).refresh()
    assert refused.value.status_code == 400
    assert json.loads(refused.value.content) == {"error": "invalid_grant",
                                                 "error_description": "Incorrect or invalid refresh token"}
    assert refused.value.intuit_tid
    second = auth.refresh_token
    auth.refresh()
    assert auth.refresh_token not in (first, second)

    bad = AuthClient(env["QBO_CLIENT_ID"], "wrong-secret", "http://localhost/callback", env["QBO_DISCOVERY_URL"])
    sandbox.sessions.append(bad)
    with pytest.raises(AuthClientError) as wrong_client:
        bad.refresh(refresh_token=auth.refresh_token)
    assert wrong_client.value.status_code == 401
    assert json.loads(wrong_client.value.content) == {"error": "invalid_client"}

    assert auth.revoke() is True
    with pytest.raises(AuthClientError):
        auth.refresh()
    assert sandbox.emulator.admin("GET", "stats").json()["sessions"] == 9


def test_rotation_interval_and_grace_are_configurable(sandbox: Sandbox) -> None:
    sandbox.settings(refresh_token_rotation_seconds=86400, refresh_token_grace_seconds=3600)
    auth = sandbox.auth_client(sandbox.env["QBO_REFRESH_TOKEN"])
    auth.refresh()
    rotated = auth.refresh_token  # the seeded token is older than nothing: first refresh rotates only after 24 h
    auth.refresh()
    assert auth.refresh_token == rotated and auth.x_refresh_token_expires_in <= 8726400
    sandbox.settings(advance_clock_seconds=86400)
    auth.refresh()
    assert auth.refresh_token != rotated
    sandbox.auth_client(rotated).refresh()  # still within the hour of grace
    sandbox.settings(advance_clock_seconds=3601)
    with pytest.raises(AuthClientError):
        sandbox.auth_client(rotated).refresh()


def test_authorization_code_grant(sandbox: Sandbox) -> None:
    auth = sandbox.auth_client()
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token="st-1")
    reply = requests.get(url, allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    query = dict(part.split("=", 1) for part in reply.headers["location"].split("?", 1)[1].split("&"))
    assert query["state"] == "st-1" and query["realmId"] == sandbox.realm
    auth.get_bearer_token(query["code"], realm_id=query["realmId"])
    assert auth.access_token and auth.refresh_token.startswith("AB11")
    with pytest.raises(AuthClientError):
        auth.get_bearer_token(query["code"])  # a code is single-use


def test_query_paging_fields_and_language(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    active_total = Customer.count(qb=qb)
    every_total = Customer.count("Active IN (true, false)", qb=qb)
    stored = sandbox.backend.list_records("Customer")
    assert every_total == len(stored) and active_total == sum(1 for c in stored if c["Active"])

    pages, start = [], 1
    while True:
        page = Customer.filter(start_position=start, max_results=4, order_by="Id", Active=True, qb=qb)
        pages.append(page)
        if len(page) < 4:
            break
        start += 4
    seen = [c.Id for page in pages for c in page]
    assert len(seen) == active_total == len(set(seen))
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)

    body = qb.query("select * from customer where active = true startposition 2 maxresults 3")
    response = body["QueryResponse"]
    assert list(response) == ["Customer", "startPosition", "maxResults"]
    assert response["startPosition"] == 2 and response["maxResults"] == 3 and TIME.match(body["time"])
    first = response["Customer"][0]
    assert first["domain"] == "QBO" and first["sparse"] is False and isinstance(first["SyncToken"], str)
    assert STAMP.match(first["MetaData"]["CreateTime"]) and STAMP.match(first["MetaData"]["LastUpdatedTime"])
    assert qb.query("SELECT * FROM Customer STARTPOSITION 9999")["QueryResponse"] == {}

    get = sandbox.raw(qb, "GET", "query", params={"query": "SELECT * FROM Item ORDER BY Metadata.LastUpdatedTime DESC"
                                                            " MAXRESULTS 2", "minorversion": "75"})
    assert get.status_code == 200 and get.headers["content-type"] == "application/json;charset=UTF-8"
    items = get.json()["QueryResponse"]["Item"]
    assert items[0]["MetaData"]["LastUpdatedTime"] >= items[1]["MetaData"]["LastUpdatedTime"]

    watermark = sorted(c["MetaData"]["LastUpdatedTime"] for c in stored)[len(stored) // 2]
    newer = Customer.where(f"MetaData.LastUpdatedTime >= '{watermark}' AND Active IN (true, false)",
                           order_by="MetaData.LastUpdatedTime", qb=qb)
    assert {c.Id for c in newer} == {c["Id"] for c in stored if c["MetaData"]["LastUpdatedTime"] >= watermark}
    assert Item.all(qb=qb, max_results=1000)  # SELECT *, Sku FROM Item
    name = stored[1]["DisplayName"]
    assert [c.Id for c in Customer.filter(DisplayName=name.upper(), qb=qb)] == [stored[1]["Id"]]
    assert Customer.where(f"DisplayName LIKE '{name[:6].lower()}%'", qb=qb)

    with pytest.raises(ValidationException) as too_many:
        Customer.all(max_results=1001, qb=qb)
    assert too_many.value.error_code == 4001 and "Max allowed value is 1000" in too_many.value.detail
    with pytest.raises(ValidationException) as parse:
        qb.query("SELECT * FROM Customer WHERE Active = true OR Taxable = false")
    assert parse.value.error_code == 4000 and parse.value.detail.startswith("QueryParserError")
    with pytest.raises(ValidationException) as unknown_field:
        qb.query("SELECT * FROM Customer WHERE Nickname = 'x'")
    assert unknown_field.value.error_code == 4001


def test_save_synctoken_stale_sparse_and_name_rules(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    original = new_customer("O'Brien & Sons")
    created = original.save(qb=qb)
    assert created.SyncToken == "0" and int(created.Id) > 1000 and created.Active is True
    created.CompanyName = "O'Brien and Sons Ltd"
    updated = created.save(qb=qb)
    assert updated.SyncToken == "1" and updated.CompanyName == "O'Brien and Sons Ltd"
    assert updated.MetaData["LastUpdatedTime"] > created.MetaData["LastUpdatedTime"]
    assert updated.MetaData["CreateTime"] == created.MetaData["CreateTime"]
    with pytest.raises(QuickbooksException) as stale:
        created.save(qb=qb)  # still carries SyncToken "0"
    assert stale.value.error_code == 5010 and stale.value.message == "Stale Object Error"

    sparse = qb.update_object("Customer", json.dumps({"Id": updated.Id, "SyncToken": "1", "sparse": True,
                                                      "Notes": "sparse note"}))["Customer"]
    assert sparse["SyncToken"] == "2" and sparse["Notes"] == "sparse note"
    assert sparse["CompanyName"] == "O'Brien and Sons Ltd"
    assert [c.Id for c in Customer.filter(DisplayName="O'Brien & Sons", qb=qb)] == [updated.Id]

    with pytest.raises(QuickbooksException) as duplicate:
        new_customer("o'brien & sons").save(qb=qb)
    assert duplicate.value.error_code == 6240 and "already using this name" in duplicate.value.detail
    vendor = Vendor()
    vendor.DisplayName = "O'Brien & Sons"
    with pytest.raises(QuickbooksException, match="Duplicate Name"):
        vendor.save(qb=qb)
    with pytest.raises(ObjectNotFoundException) as missing:
        Customer.get(999999, qb=qb)
    assert missing.value.error_code == 610

    reply = sandbox.raw(qb, "POST", "customer", json={"DisplayName": "Typo Co", "Nickname": "x"})
    fault = reply.json()["Fault"]
    assert reply.status_code == 400 and fault["type"] == "ValidationFault"
    assert fault["Error"][0]["code"] == "2010" and 'Unrecognized field "Nickname"' in fault["Error"][0]["Detail"]
    assert list(fault["Error"][0]) == ["Message", "Detail", "code", "element"]


def test_invoice_lifecycle_delete_void_and_cdc(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    customer = Customer.filter(Active=True, max_results=1, qb=qb)[0]
    item = Item.all(qb=qb, max_results=1)[0]
    invoice = Invoice()
    line = SalesItemLine()
    line.Amount = 150.5
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = 2
    line.SalesItemLineDetail.UnitPrice = 75.25
    invoice.Line = [line]
    invoice.CustomerRef = customer.to_ref()
    saved = invoice.save(qb=qb)
    assert saved.TotalAmt == 150.5 and saved.Balance == 150.5 and saved.DocNumber == "1001"
    assert saved.Line[-1].DetailType == "SubTotalLineDetail" and saved.SalesTermRef.value == "3"
    wire_line = qb.get_single_object("Invoice", saved.Id)["Invoice"]["Line"][0]
    assert wire_line["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"} and wire_line["LineNum"] == 1
    balance = Customer.get(customer.Id, qb=qb).Balance
    assert balance == pytest.approx(customer.Balance + 150.5)

    with pytest.raises(ValidationException) as no_lines:
        qb.create_object("Invoice", json.dumps({"CustomerRef": {"value": customer.Id}}))
    assert no_lines.value.error_code == 2020
    assert no_lines.value.detail == "Required parameter Line is missing in the request."
    with pytest.raises(ValidationException) as bad_ref:
        body = {"CustomerRef": {"value": "424242"}, "Line": [json.loads(line.to_json())]}
        qb.create_object("Invoice", json.dumps(body))
    assert bad_ref.value.error_code == 2500

    voided = qb.post(sandbox.url("invoice"), json.dumps({"Id": saved.Id, "SyncToken": saved.SyncToken}),
                     params={"operation": "void"})["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"] == "Voided" and voided["SyncToken"] == "1"
    since = sandbox.backend.company_time.response_time(sandbox.backend.clock.now() - timedelta(minutes=5))
    second = Invoice.get(saved.Id, qb=qb)
    deleted = second.delete(qb=qb)
    assert deleted["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": saved.Id}
    with pytest.raises(ObjectNotFoundException, match="Object Not Found") as gone:
        Invoice.get(saved.Id, qb=qb)
    assert "Another user has deleted this transaction." in gone.value.detail

    changes = change_data_capture([Invoice, Customer], since, qb=qb)
    assert [inv.status for inv in changes.Invoice] == ["Deleted"] and changes.Invoice[0].Id == saved.Id
    assert changes.Invoice.startPosition == 1 and changes.Invoice.maxResults == 1
    assert not hasattr(changes, "Customer")  # a balance roll-up is not a change of the customer
    raw = sandbox.raw(qb, "GET", "cdc", params={"entities": "Invoice", "changedSince": since}).json()
    assert raw["CDCResponse"][0]["QueryResponse"][0]["Invoice"][0] == {
        "domain": "QBO", "status": "Deleted", "Id": saved.Id,
        "MetaData": {"LastUpdatedTime": raw["CDCResponse"][0]["QueryResponse"][0]["Invoice"][0]["MetaData"][
            "LastUpdatedTime"]}}
    with pytest.raises(QuickbooksException) as too_old:
        change_data_capture([Invoice], "2020-01-01T00:00:00-07:00", qb=qb)
    assert too_old.value.error_code == 6000
    with pytest.raises(ValidationException):
        qb.change_data_capture("TaxCode", since)
    with pytest.raises(QuickbooksException) as name_list_delete:
        qb.delete_object("Customer", json.dumps({"Id": customer.Id, "SyncToken": customer.SyncToken}))
    assert name_list_delete.value.error_code == 6000


def test_batch_chunks_of_30_with_per_item_faults(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    taken = Customer.filter(Active=True, max_results=1, qb=qb)[0].DisplayName
    customers = [new_customer(f"Batch Customer {n:02d}") for n in range(64)] + [new_customer(taken)]
    result = batch_create(customers, qb=qb)
    assert len(result.successes) == 64 and len(result.faults) == 1
    fault = result.faults[0]
    assert fault.type == "ValidationFault" and fault.Error[0].code == "6240"
    assert fault.original_object.DisplayName == taken
    stats = sandbox.emulator.admin("GET", "stats").json()
    assert stats["per_route"]["POST /v3/company/{realm}/batch"] == 3
    assert Customer.count("DisplayName LIKE 'Batch Customer%'", qb=qb) == 64

    items = [{"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"Too many {n}"}} for n in range(31)]
    reply = sandbox.raw(qb, "POST", "batch", json={"BatchItemRequest": items})
    assert reply.status_code == 400 and reply.json()["Fault"]["Error"][0]["code"] == "1040"
    mixed = sandbox.raw(qb, "POST", "batch", json={"BatchItemRequest": [
        {"bId": "q1", "Query": "select * from Term where Name = 'net 30'"},
        {"bId": "d1", "operation": "delete", "Bill": {"Id": "999999", "SyncToken": "0"}},
    ]}).json()["BatchItemResponse"]
    assert mixed[0]["QueryResponse"]["Term"][0]["Id"] == "3"
    assert mixed[1]["Fault"]["Error"][0]["code"] == "610"


def test_requestid_replays_the_first_reply(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    first = new_customer("Idempotent Co").save(qb=qb, request_id="req-0001")
    again = new_customer("Idempotent Co").save(qb=qb, request_id="req-0001")
    assert again.Id == first.Id and Customer.count("DisplayName = 'Idempotent Co'", qb=qb) == 1
    with pytest.raises(QuickbooksException) as too_long:
        new_customer("Long Request").save(qb=qb, request_id="x" * 51)
    assert too_long.value.error_code == 6000 and "50 characters" in too_long.value.detail


def test_rate_limits_answer_429_throttle_exceeded(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    sandbox.settings(requests_per_minute=3)
    for _ in range(3):
        Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as throttled:
        Customer.count(qb=qb)
    assert throttled.value.error_code == 10000 and "Error reading json response" in throttled.value.message
    reply = sandbox.raw(qb, "GET", "customer/1001")
    assert reply.status_code == 429 and "Retry-After" not in reply.headers
    assert '<Fault type="SERVICE">' in reply.text and "message=ThrottleExceeded; errorCode=003001" in reply.text
    sandbox.settings(throttle_body="json")
    assert sandbox.raw(qb, "GET", "customer/1001").json()["Fault"]["Error"][0]["code"] == "3001"

    sandbox.backend.throttle.reset()
    sandbox.settings(requests_per_minute=500, batch_per_minute=1)
    batch_create([new_customer("Batch Limit A")], qb=qb)
    with pytest.raises(QuickbooksException):
        batch_create([new_customer("Batch Limit B")], qb=qb)
    Customer.count(qb=qb)  # plain calls are not held back by the batch limit


def test_concurrency_slot_limit() -> None:
    throttle = RealmThrottle(ThrottleSettings(concurrent_requests=2))
    assert throttle.enter(False) and throttle.enter(False)
    assert not throttle.enter(False)
    throttle.leave()
    assert throttle.enter(False)


def test_faults_and_expired_sessions(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    sandbox.faults({"kind": "throttle", "path": "/query$", "retry_after": 60})
    throttled = sandbox.raw(qb, "POST", "query", data="SELECT * FROM Term")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "60"
    assert "ThrottleExceeded" in throttled.text
    sandbox.faults({"kind": "server_error"})
    with pytest.raises(SevereException) as severe:
        Customer.count(qb=qb)
    assert severe.value.error_code == 10000
    sandbox.faults({"kind": "server_error", "status": 503})
    with pytest.raises(QuickbooksException, match="Error reading json response"):
        Customer.count(qb=qb)
    sandbox.faults({"kind": "reset"})
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        Customer.count(qb=qb)
    sandbox.faults({"kind": "record_error", "object": "Customer", "message": "Simulated rejection"})
    with pytest.raises(QuickbooksException) as rejected:
        new_customer("Rejected Co").save(qb=qb)
    assert rejected.value.error_code == 6000 and rejected.value.detail.endswith("Simulated rejection")
    assert new_customer("Accepted Co").save(qb=qb).Id

    sandbox.faults({"kind": "expire_session"})
    with pytest.raises(AuthorizationException) as expired:
        Customer.count(qb=qb)
    body = json.loads(expired.value.detail)
    assert expired.value.error_code == 401 and body["fault"]["type"] == "AUTHENTICATION"
    assert body["fault"]["error"][0]["code"] == "3200"
    assert body["fault"]["error"][0]["detail"] == f"Token expired: {qb.session.access_token}"
    fresh = sandbox.client()  # refresh with the persisted, rotated token, then a new client
    assert Customer.count(qb=fresh) >= 1
    sandbox.settings(advance_clock_seconds=3601)
    with pytest.raises(AuthorizationException):
        Customer.count(qb=fresh)
    assert sandbox.emulator.admin("GET", "stats").json()["faults_injected"] == {
        "throttle": 1, "server_error": 2, "reset": 1, "expire_session": 1}


def test_admin_seed_records_and_stats(sandbox: Sandbox) -> None:
    seeded = sandbox.emulator.admin("POST", "seed", json={"records": {
        "Customer": [{"DisplayName": "Seeded Customer", "PrimaryEmailAddr": {"Address": "s@example.com"}}],
        "Bill": [{"VendorRef": {"value": quickbooks_id(0)}, "Line": [
            {"Amount": 12.5, "DetailType": "AccountBasedExpenseLineDetail",
             "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "20"}}}]}],
    }})
    assert seeded.json() == {"seeded": {"Customer": 1, "Bill": 1}}
    records = sandbox.emulator.admin("GET", "records/Customer").json()["records"]
    mine = next(r for r in records if r["DisplayName"] == "Seeded Customer")
    assert mine["SyncToken"] == "0" and STAMP.match(mine["MetaData"]["LastUpdatedTime"]) and mine["Id"].isdigit()
    bill = sandbox.emulator.admin("GET", "records/Bill").json()["records"][-1]
    assert bill["TotalAmt"] == 12.5 and bill["APAccountRef"]["value"] == "33"
    assert sandbox.emulator.admin("GET", "records/Estimate").status_code == 404
    bad_settings = {"records": {"EmulatorSettings": [{"nope": 1}]}}
    assert sandbox.emulator.admin("POST", "seed", json=bad_settings).status_code == 400

    qb = sandbox.client()
    sandbox.emulator.admin("DELETE", "stats")
    Customer.get(mine["Id"], qb=qb)
    Bill.get(bill["Id"], qb=qb)
    new_customer("Stats Co").save(qb=qb)
    stats = sandbox.emulator.admin("GET", "stats").json()
    assert stats["reads"] == 2 and stats["writes"] == 1 and stats["records_written"] == 1
    assert stats["per_route"]["GET /v3/company/{realm}/{entity}/{id}"] == 2


def test_generate_renders_the_right_side_of_the_world(sandbox: Sandbox) -> None:
    world = World(seed=1, scale="demo")
    backend = sandbox.backend
    customers = {c["Id"]: c for c in backend.list_records("Customer")}
    for index in range(world.counts["customers"]):
        person = world.customer(index)
        record = customers.get(quickbooks_id(index))
        assert (record is not None) == person.presence.on_right
        if record is not None:
            assert record["DisplayName"] == person.right_name and record["Active"] == person.active
    items = {i["Id"] for i in backend.list_records("Item")}
    invoices = {i["Id"]: i for i in backend.list_records("Invoice")}
    for index in range(world.counts["invoices"]):
        doc = world.document("invoice", index)
        record = invoices.get(quickbooks_id(index))
        assert (record is not None) == doc.presence.on_right
        if record is None:
            continue
        assert record["DocNumber"] == doc.number and record["TotalAmt"] == doc.total
        assert record["CustomerRef"]["value"] in customers
        assert all(line["SalesItemLineDetail"]["ItemRef"]["value"] in items for line in record["Line"][:-1])
        assert (record.get("PrivateNote") is not None) == (doc.presence is Presence.DRIFTED)
    accounts = {a["AccountType"] for a in backend.list_records("Account")}
    assert {"Accounts Receivable", "Accounts Payable", "Income", "Expense", "Cost of Goods Sold"} <= accounts
    assert all(int(a["Id"]) < 1000 for a in backend.list_records("Account"))
    assert {t["Id"] for t in backend.list_records("TaxCode")} >= {"TAX", "NON"}
    stamps = [r["MetaData"]["LastUpdatedTime"] for r in backend.list_records("Bill")]
    assert all(STAMP.match(s) for s in stamps)


def test_live_stamps_are_strictly_increasing(sandbox: Sandbox) -> None:
    qb = sandbox.client()
    stamps = [new_customer(f"Stamp Co {n}").save(qb=qb).MetaData["LastUpdatedTime"] for n in range(4)]
    assert stamps == sorted(set(stamps))
    seeded_max = max(c["MetaData"]["LastUpdatedTime"] for c in sandbox.backend.list_records("Customer")[:-4])
    assert stamps[0] > seeded_max


def test_snapshot_round_trip_keeps_records_and_tokens(tmp_path: Any) -> None:
    from emulators.quickbooks.backend import QuickBooksBackend

    backend = QuickBooksBackend()
    backend.generate(World(seed=2, scale="demo"))
    backend.company.create("Customer", {"DisplayName": "Snapshot Co"})
    backend.save_snapshot(tmp_path / "qbo.snap")
    restored = QuickBooksBackend()
    restored.load_snapshot(tmp_path / "qbo.snap")
    assert restored.list_records("Customer") == backend.list_records("Customer")
    assert restored.env_exports("https://x", None) == backend.env_exports("https://x", None)
    created = restored.company.create("Customer", {"DisplayName": "After Restore"})
    assert created["MetaData"]["LastUpdatedTime"] > backend.list_records("Customer")[-1]["MetaData"]["LastUpdatedTime"]
