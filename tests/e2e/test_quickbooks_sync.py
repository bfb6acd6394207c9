"""The ESP+ -> QuickBooks Online sync end to end (SPEC B2, B5, B7, B8): Dagster runs `sync_quickbooks` against a
sandbox of its own, with the real clients over sockets, on a SQLite and on a PostgreSQL store; what lands is read
back through ESP+'s API, python-quickbooks and the emulators' admin API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.payment import Payment, PaymentLine

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging.links import LinkStore
from tests.e2e.conftest import job_env, run_job
from tests.e2e.quickbooks_support import (
    esp_api,
    plan_json,
    quickbooks_as_crosswalk,
    records,
    reset_stats,
    sent_invoices,
    writes,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def synced(database_url: str, tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, str], str]]:
    """A sandbox of its own (the sync writes to it), a store of each kind, and one run of sync_quickbooks."""
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo") as sandbox:
        env = job_env(sandbox, database_url, tmp_path / "dagster", quickbooks_sync=True)
        first = run_job("sync_quickbooks", env)
        assert first.returncode == 0, first.stderr[-4000:]
        yield sandbox, env, database_url


def _duplicates(values: list[Any]) -> dict[Any, int]:
    return {value: n for value, n in Counter(values).items() if n > 1}


def test_documents_land_once_with_links_and_status_then_nothing_moves(
    synced: tuple[Sandbox, dict[str, str], str],
) -> None:
    sandbox, env, database_url = synced
    store = StagingStore(database_url)
    linked = {link.right_key for link in LinkStore(store, "quickbooks", ("esp", "quickbooks")).links("invoice")}
    store.dispose()
    customers = {r["Id"]: r for r in records(sandbox, "quickbooks", "Customer")}
    vendors = {r["Id"]: r for r in records(sandbox, "quickbooks", "Vendor")}
    items = {r["Id"]: r for r in records(sandbox, "quickbooks", "Item")}
    invoices = {r["Id"]: r for r in records(sandbox, "quickbooks", "Invoice")}
    # Nothing twice: names are unique in QBO, and no document number was sent twice.
    assert _duplicates([c["DisplayName"].casefold() for c in [*customers.values(), *vendors.values()]]) == {}
    assert _duplicates([i["Name"] for i in items.values()]) == {}
    assert _duplicates([i["DocNumber"] for i in invoices.values()]) == {}

    with esp_api(env) as esp:
        settings = esp.get("settings/integrations/quickbooks")
        # Invoices some earlier tool sent whose QBO twin is refused (its customer inactive in QBO) are quarantined,
        # not synced: the others are all linked.
        sent = [invoice for invoice in sent_invoices(esp) if invoice["ExternalId"] in linked]
        assert len(sent) >= 8, "invoices were not sent"
        companies = {c["Id"]: c for c in esp.search("companies")}
        for invoice in sent:
            twin = invoices[invoice["ExternalId"]]
            # B2: the one QBO invoice, with the document's number, customer and lines.
            assert twin["DocNumber"] == invoice["Number"]
            company = companies[invoice["BillingContact"]["Company"]["Id"]]
            [link] = [k for k in company["QuickBooksLinks"] if k["MemberType"] == "Customer"]
            assert twin["CustomerRef"]["value"] == link["QuickBooksId"]
            lines = [ln for ln in twin["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
            expected = [(line["Number"], variant["Quantity"]) for line in invoice["LineItems"]
                        for variant in line.get("Variants") or []]  # fmt: skip
            # B5: each line's item is named by the product number (ESP+'s ItemNameSource).
            assert settings["ItemNameSource"] == "ProductNumber"
            got = [(items[ln["SalesItemLineDetail"]["ItemRef"]["value"]]["Name"], ln["SalesItemLineDetail"]["Qty"])
                   for ln in lines]  # fmt: skip
            assert sorted(got) == sorted(expected)
            # B8: the send state shows QBO's id, number, SyncToken and balance.
            state = esp.get(f"orders/{invoice['Id']}/sendto/QuickBooksOnline")
            assert state["IsSent"] is True
            assert state["ExternalNumber"] == twin["DocNumber"]
            assert state["ExternalSyncToken"] == twin["SyncToken"]
            assert float(state["Balance"]) == pytest.approx(float(twin["Balance"]))
        # B7: every customer company is linked (manual links kept), each to a QBO customer of its name.
        for company in companies.values():
            links = {k["MemberType"]: k for k in company["QuickBooksLinks"]}
            if company["IsCustomer"] and company["IsActive"] and "Customer" in links:
                assert links["Customer"]["QuickBooksId"] in customers
                assert links["Customer"]["Source"] in ("Manual", "Matched", "Created")
        created = [k for c in companies.values() for k in c["QuickBooksLinks"] if k["Source"] == "Created"]
        assert created, "no company was created in QuickBooks Online and linked back"
        for link in created:
            entity = customers if link["QuickBooksEntity"] == "Customer" else vendors
            assert entity[link["QuickBooksId"]]["DisplayName"] == link["CompanyName"]

    # No echo: the dry run plans no write, and a run writes nothing to QBO or ESP+.
    assert [i for i in plan_json(env)["items"] if i["action"] in ("create", "update")] == []
    reset_stats(sandbox)
    quiet = run_job("sync_quickbooks", env)
    assert quiet.returncode == 0, quiet.stderr[-4000:]
    assert writes(sandbox) == {"esp": 0, "quickbooks": 0}


def test_an_edited_invoice_updates_its_one_qbo_invoice_and_a_payment_moves_the_balance_in_esp(
    synced: tuple[Sandbox, dict[str, str], str],
) -> None:
    sandbox, env, database_url = synced
    with esp_api(env) as esp:
        invoice = sent_invoices(esp)[0]
        document = esp.get(f"orders/{invoice['Id']}")
        line = next(li for li in document["LineItems"] if li.get("Variants"))
        line["Variants"][0]["Quantity"] += 10
        esp.put(f"orders/{invoice['Id']}", document)
    before = {r["Id"]: r for r in records(sandbox, "quickbooks", "Invoice")}
    edited = run_job("sync_quickbooks", env)
    assert edited.returncode == 0, edited.stderr[-4000:]
    after = {r["Id"]: r for r in records(sandbox, "quickbooks", "Invoice")}
    assert set(after) == set(before)  # updated in place: no second invoice
    twin = after[invoice["ExternalId"]]
    assert int(twin["SyncToken"]) > int(before[invoice["ExternalId"]]["SyncToken"])
    quantities = [ln["SalesItemLineDetail"]["Qty"] for ln in twin["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert line["Variants"][0]["Quantity"] in quantities
    with esp_api(env) as esp:
        state = esp.get(f"orders/{invoice['Id']}/sendto/QuickBooksOnline")
    assert state["ExternalSyncToken"] == twin["SyncToken"]
    assert float(state["Balance"]) == pytest.approx(float(twin["Balance"]))

    # A customer pays part of it in QuickBooks Online: the next run shows the new balance in ESP+.
    paid = round(float(twin["Balance"]) / 2, 2)
    with quickbooks_as_crosswalk(env, database_url) as qb:
        payment = Payment()
        payment.CustomerRef = Ref()
        payment.CustomerRef.value = twin["CustomerRef"]["value"]
        payment.TotalAmt = paid
        payment_line = PaymentLine()
        payment_line.Amount = paid
        linked = LinkedTxn()
        linked.TxnId, linked.TxnType = twin["Id"], "Invoice"
        payment_line.LinkedTxn = [linked]
        payment.Line = [payment_line]
        payment.save(qb=qb)
    moved = run_job("sync_quickbooks", env)
    assert moved.returncode == 0, moved.stderr[-4000:]
    [paid_invoice] = [r for r in records(sandbox, "quickbooks", "Invoice") if r["Id"] == twin["Id"]]
    assert float(paid_invoice["Balance"]) == pytest.approx(float(twin["Balance"]) - paid)
    with esp_api(env) as esp:
        state = esp.get(f"orders/{invoice['Id']}/sendto/QuickBooksOnline")
    assert float(state["Balance"]) == pytest.approx(float(paid_invoice["Balance"]))
