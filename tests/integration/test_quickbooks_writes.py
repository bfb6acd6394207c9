"""The QuickBooks Online client as a RecordWriter: python-quickbooks writing through QBO's batch endpoint to the
emulator over HTTPS, 30 items a call, every BatchItemResponse read on its own, requestid replay instead of double
writes, throttles backed off, and lookups by DocNumber, DisplayName and Name; what landed is checked through the
emulator's admin API."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crosswalk.clients.quickbooks import QuickBooksSource
from crosswalk.clients.replies import LookupFailedError
from crosswalk.extract.retry import RetryPolicy
from crosswalk.staging import StagingStore
from crosswalk.sync.writer import WriteOp, WriteRequest
from tests.conftest import RunningEmulator
from tests.integration.extract_support import RETRY
from tests.integration.test_client_writes import admin_records, closing_factory, fault, leaked, reset_stats, stats

Start = Callable[..., RunningEmulator]
# Seeded reference data every written record points at (docs/emulators/quickbooks.md).
WALK_IN_CUSTOMER = "58"
GENERIC_ITEM = "19"


@pytest.fixture
def qbo(start_emulator: Start, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    emulator = start_emulator("quickbooks")
    assert emulator.ca_bundle
    # intuit-oauth reads the discovery document with requests' default trust store, as the sandbox env file sets it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    return emulator


@pytest.fixture
def qb_client(qbo: RunningEmulator, tmp_path: Path) -> Iterator[Callable[..., QuickBooksSource]]:
    """`qb_client(**options)` builds a client on the emulator (its tokens kept in a SQLite store); closed after."""
    store = StagingStore(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    store.migrate()
    env = qbo.env
    yield from closing_factory(
        lambda **options: QuickBooksSource(
            base_url=env["QBO_BASE_URL"],
            discovery_url=env["QBO_DISCOVERY_URL"],
            client_id=env["QBO_CLIENT_ID"],
            client_secret=env["QBO_CLIENT_SECRET"],
            realm_id=env["QBO_REALM_ID"],
            initial_refresh_token=env["QBO_REFRESH_TOKEN"],
            store=store,
            timeout=30,
            **{"retry": RETRY, **options},
        )
    )
    store.dispose()


def batch_calls(emulator: RunningEmulator) -> int:
    return sum(n for route, n in stats(emulator)["per_route"].items() if route.endswith("/batch"))


def query_calls(emulator: RunningEmulator) -> int:
    return sum(n for route, n in stats(emulator)["per_route"].items() if route.endswith("/query"))


def customer(i: int, **fields: Any) -> WriteRequest:
    values = {"DisplayName": f"QW Customer {i:03d}", "CompanyName": f"QW Company {i}",
              "PrimaryEmailAddr": {"Address": f"qw{i}@example.com"}, **fields}  # fmt: skip
    return WriteRequest(WriteOp.CREATE, "Customer", values, marker=f"cust-{i}")


def invoice(i: int, doc_number: str | None = None, **fields: Any) -> WriteRequest:
    amount = Decimal("10.50") + i
    line = {"DetailType": "SalesItemLineDetail", "Amount": amount,
            "SalesItemLineDetail": {"ItemRef": {"value": GENERIC_ITEM}, "Qty": 1, "UnitPrice": amount}}  # fmt: skip
    values = {"CustomerRef": {"value": WALK_IN_CUSTOMER}, "DocNumber": doc_number or f"QW-{i:04d}", "Line": [line]}
    return WriteRequest(WriteOp.CREATE, "Invoice", {**values, **fields}, marker=f"inv-{i}")


def sparse_update(entity: str, key: str, marker: str, **fields: Any) -> WriteRequest:
    return WriteRequest(WriteOp.UPDATE, entity, fields, marker=marker, key=key)


def records_by(emulator: RunningEmulator, entity: str, field: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in admin_records(emulator, entity):
        if str(record.get(field) or "").startswith(prefix):
            found.setdefault(record[field], []).append(record)
    return found


def known_secrets(emulator: RunningEmulator) -> list[str]:
    """Every secret of the connection: the app secret, the first and current refresh tokens, the access tokens."""
    oauth = emulator.backend.oauth  # type: ignore[attr-defined]
    tokens = [grant.refresh_token for grant in oauth.grants.values()] + list(oauth.access_tokens)
    return [emulator.env["QBO_CLIENT_SECRET"], emulator.env["QBO_REFRESH_TOKEN"], *tokens]


def test_65_creates_are_3_batch_calls_and_65_sparse_updates_3_more(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    client = qb_client()
    requests = [customer(i) for i in range(65)]
    reset_stats(qbo)
    created = client.write(requests)

    assert [r.request for r in created] == requests
    assert all(r.ok and r.created is True and r.key for r in created), [r for r in created if not r.ok][:3]
    assert batch_calls(qbo) == math.ceil(65 / 30) == 3
    landed = records_by(qbo, "Customer", "DisplayName", "QW Customer")
    assert {name: rows[0]["Id"] for name, rows in landed.items()} == {
        r.request.fields["DisplayName"]: r.key for r in created
    }
    assert all(len(rows) == 1 for rows in landed.values())

    updates = [
        sparse_update("Customer", r.key or "", f"rename-{i}", SyncToken="0", CompanyName=f"Renamed {i}")
        for i, r in enumerate(created)
    ]
    reset_stats(qbo)
    updated = client.write(updates)
    assert all(u.ok and u.key == u.request.key and u.created is False for u in updated), updated[:3]
    assert batch_calls(qbo) == 3
    after = {rows[0]["Id"]: rows[0] for rows in records_by(qbo, "Customer", "DisplayName", "QW Customer").values()}
    for i, result in enumerate(created):
        record = after[result.key]
        assert record["CompanyName"] == f"Renamed {i}" and record["SyncToken"] == "1"
        assert record["PrimaryEmailAddr"]["Address"] == f"qw{i}@example.com"  # sparse: the rest is kept
    # One requestid per batch call (the emulator keeps the first reply of each), 36 characters at most.
    replays = qbo.backend.wire.replays  # type: ignore[attr-defined]
    assert len(replays) == 6 and all(len(request_id) == 36 for request_id in replays)


def test_each_item_is_answered_on_its_own_and_bad_requests_fail_before_any_call(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    client = qb_client()
    [first] = client.write([customer(0)])
    assert first.ok and first.key
    walk_in = next(r for r in admin_records(qbo, "Customer") if r["Id"] == WALK_IN_CUSTOMER)
    requests = [
        customer(1),
        customer(2, DisplayName=walk_in["DisplayName"].upper()),  # names are unique without case
        sparse_update("Customer", first.key, "stale", SyncToken="7", CompanyName="Stale"),
        sparse_update("Customer", first.key, "no-token", CompanyName="No token"),
        WriteRequest(
            WriteOp.UPSERT,
            "Customer",
            {"DisplayName": "QW Upsert"},
            marker="upsert",
            external_id=("DisplayName", "QW Upsert"),
        ),
        invoice(3, Line=[{"DetailType": "SalesItemLineDetail", "Amount": float("nan")}]),
        invoice(4, CustomerRef={"value": "999999"}),
        invoice(5),
    ]
    reset_stats(qbo)
    results = client.write(requests)

    assert [r.request for r in results] == requests
    assert [r.ok for r in results] == [True, False, False, False, False, False, False, True]
    assert batch_calls(qbo) == 1  # the refused-before-sending ones never left
    duplicate, stale, no_token, upsert, not_a_number, bad_ref = results[1:7]
    assert duplicate.errors[0].startswith("6240: Duplicate Name Exists Error: The name supplied already exists.")
    assert not duplicate.retryable
    assert stale.errors[0].startswith("5010: Stale Object Error: Stale Object Error : ") and stale.retryable
    assert no_token.errors == (
        "INVALID_REQUEST: quickbooks Customer no-token: an update needs fields['SyncToken'], the record's current "
        "SyncToken (QBO refuses a stale one)",
    )
    assert upsert.errors[0].startswith("INVALID_REQUEST: quickbooks Customer upsert: QuickBooks Online has no upsert")
    assert not_a_number.errors[0] == (
        "INVALID_REQUEST: quickbooks Invoice inv-3: field Line[0].Amount holds nan, not a number QBO takes"
    )
    assert bad_ref.errors[0].startswith("2500: ") and not bad_ref.retryable
    assert not any(r.retryable for r in (no_token, upsert, not_a_number))
    assert set(records_by(qbo, "Customer", "DisplayName", "QW Customer")) == {"QW Customer 000", "QW Customer 001"}
    assert set(records_by(qbo, "Invoice", "DocNumber", "QW-")) == {"QW-0005"}
    assert next(r for r in admin_records(qbo, "Customer") if r["Id"] == first.key)["CompanyName"] == "QW Company 0"

    # A record QBO refuses for a business rule fails alone, and is not worth retrying.
    fault(qbo, kind="record_error", object="Invoice", count=1, message="You must set a transaction amount.")
    refused = client.write([invoice(6), invoice(7)])
    assert [r.ok for r in refused] == [False, True]
    assert refused[0].errors == (
        "6000: A business validation error has occurred while processing your request: Business Validation Error: "
        "You must set a transaction amount.",
    )
    assert not refused[0].retryable
    assert not leaked(results + refused, known_secrets(qbo), client.scrub)


def test_a_429_storm_is_backed_off_as_retry_after_says_and_a_server_error_is_resent(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    slept: list[float] = []
    client = qb_client(retry=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=5), sleep=slept.append)
    client.refresh()  # connected: the faults below hit the batch calls
    fault(qbo, kind="throttle", path="/batch$", count=3, retry_after=2)
    client.meter.reset()
    results = client.write([customer(i) for i in range(3)])
    assert all(r.ok for r in results), results
    assert slept == [2.0, 2.0, 2.0]  # QBO's Retry-After, not the 1 ms backoff
    assert client.meter.calls == 4 and client.meter.retries == 3
    assert client.meter.retry_reasons == {"HTTP 429": 3}
    assert len(records_by(qbo, "Customer", "DisplayName", "QW Customer")) == 3

    fault(qbo, kind="server_error", path="/batch$", count=1)
    resent = client.write([customer(3)])
    assert resent[0].ok and client.meter.retry_reasons == {"HTTP 429": 3, "HTTP 500": 1}

    fault(qbo, kind="throttle", path="/batch$", count=10)
    exhausted = client.write([customer(4), customer(5)])
    assert all(not r.ok and r.retryable for r in exhausted)
    assert all(r.errors[0].startswith("RETRIES_EXHAUSTED: quickbooks batch of 2 writes (Customer)") for r in exhausted)
    assert len(records_by(qbo, "Customer", "DisplayName", "QW Customer")) == 4
    assert not leaked(results + resent + exhausted, known_secrets(qbo), client.scrub)


def test_a_batch_sent_again_gets_qbos_first_reply_and_writes_nothing_twice(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    """Invoices may share a DocNumber, so QBO itself would not stop a second copy: only the requestid does."""
    client = qb_client()
    client.refresh()
    fault(qbo, kind="truncated", path="/batch$", count=1)  # applied, but the reply is cut in half on the way
    client.meter.reset()
    requests = [invoice(i) for i in range(40)]
    first = client.write(requests)
    assert all(r.ok and r.created for r in first), [r for r in first if not r.ok][:3]
    assert client.meter.retries == 1 and client.meter.retry_reasons == {"damaged reply": 1}
    landed = records_by(qbo, "Invoice", "DocNumber", "QW-")
    assert len(landed) == 40 and all(len(rows) == 1 for rows in landed.values())
    assert [r.key for r in first] == [landed[r.request.fields["DocNumber"]][0]["Id"] for r in first]

    again = qb_client()  # a new process with the same writes (a lost reply, a rerun of the same batch)
    replayed = again.write(requests)
    assert [r.key for r in replayed] == [r.key for r in first] and all(r.ok for r in replayed)
    assert all(len(rows) == 1 for rows in records_by(qbo, "Invoice", "DocNumber", "QW-").values())

    # Other markers are other writes: the same invoices under new markers are new invoices.
    renamed = [WriteRequest(r.op, r.object, r.fields, marker=f"{r.marker}-next") for r in requests[:2]]
    assert all(r.ok and r.key not in {f.key for f in first} for r in client.write(renamed))
    assert len(records_by(qbo, "Invoice", "DocNumber", "QW-0000")["QW-0000"]) == 2


def test_find_by_displayname_docnumber_and_name_quotes_values_chunks_and_pages(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    client = qb_client()
    names = ["QW O'Hara & Sons", "QW Back\\slash Ltd", "QW Plain"]
    written = client.write([customer(i, DisplayName=name) for i, name in enumerate(names)])
    assert all(r.ok for r in written), written
    keys = {name: r.key for name, r in zip(names, written, strict=True)}

    found = client.find("Customer", "DisplayName", [*names, "QW Absent", "qw plain", "QW O'Hara"])
    assert {value: record["Id"] for value, record in found.items()} == {
        **keys, "qw plain": keys["QW Plain"],  # QBO compares names without case
    }  # fmt: skip

    docs = client.write([invoice(0, doc_number="QW-D'1"), invoice(1, doc_number="QW-D2")])
    by_doc = client.find("Invoice", "DocNumber", ["QW-D'1", "QW-D2", "QW-D3"])
    assert {value: record["Id"] for value, record in by_doc.items()} == {"QW-D'1": docs[0].key, "QW-D2": docs[1].key}
    items = client.find("Item", "Name", ["Promotional item", "No such item"])
    assert list(items) == ["Promotional item"] and items["Promotional item"]["Id"] == GENERIC_ITEM
    by_ref = client.find("Invoice", "CustomerRef", [WALK_IN_CUSTOMER])
    assert by_ref[WALK_IN_CUSTOMER]["CustomerRef"]["value"] == WALK_IN_CUSTOMER

    reset_stats(qbo)
    many = client.find("Customer", "DisplayName", [f"QW None {i}" for i in range(150)] + ["QW Plain"])
    assert set(many) == {"QW Plain"} and query_calls(qbo) == 2  # 100 values an IN list

    # A lookup that matches more than one page of 1000 reads every page.
    line = {
        "DetailType": "SalesItemLineDetail",
        "Amount": 5.0,
        "SalesItemLineDetail": {"ItemRef": {"value": GENERIC_ITEM}},
    }
    doubles = [
        {"Id": str(900000 + i), "DocNumber": "QW-MANY", "CustomerRef": {"value": WALK_IN_CUSTOMER}, "Line": [line]}
        for i in range(1001)
    ]
    seeded = qbo.admin("POST", "seed", json={"records": {"Invoice": doubles}})
    assert seeded.status_code == 200, seeded.text
    reset_stats(qbo)
    paged = client.find("Invoice", "DocNumber", ["QW-MANY"])
    assert list(paged) == ["QW-MANY"] and query_calls(qbo) == 2

    with pytest.raises(LookupFailedError, match="is not a QBO field name"):
        client.find("Customer", "DisplayName = 'x' or 1", ["x"])
    with pytest.raises(LookupFailedError, match=r"Customer: finding records by Nope failed: .*4001"):
        client.find("Customer", "Nope", ["x"])


def test_a_sparse_update_that_empties_a_field_clears_it_in_qbo(
    qbo: RunningEmulator, qb_client: Callable[..., QuickBooksSource]
) -> None:
    client = qb_client()
    [created] = client.write([invoice(0, doc_number="QW-MEMO", PrivateNote="Edited in QuickBooks")])
    assert created.ok, created
    [updated] = client.write([sparse_update("Invoice", created.key or "", "memo-0", SyncToken="0", PrivateNote=None)])
    assert updated.ok, updated
    [record] = records_by(qbo, "Invoice", "DocNumber", "QW-MEMO")["QW-MEMO"]
    # A null would be read as "not given" and the note kept: the next plan would write the same update again.
    assert record.get("PrivateNote") in (None, "") and record["SyncToken"] == "1"
    assert record["CustomerRef"]["value"] == WALK_IN_CUSTOMER  # sparse: the rest is kept
