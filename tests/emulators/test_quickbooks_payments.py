"""Payments and credit memos in the QBO emulator, driven by python-quickbooks over TLS: what they do to invoice
balances (and so to SyncToken, LastUpdatedTime, CDC and stamp queries), the faults QBO answers for overpayment and
stale writes, batch and requestid behaviour, the realm's limits, and the receivables the sandbox world is seeded with.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.batch import batch_create, batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
from quickbooks.objects import CreditMemo, Customer, Invoice, Item, Payment, Preferences, Vendor
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.payment import PaymentLine

from emulators.quickbooks.generate import LEFT_OVER, OPEN_CREDIT, RECEIVABLE_PLANS
from emulators.quickbooks.payments import AUTO_APPLY_NOTE
from tests.quickbooks_client import connected_quickbooks

warnings.filterwarnings("ignore", category=DeprecationWarning)
OVERPAID = "Business Validation Error: The payments you entered add up to more than"


@pytest.fixture
def qbo(start_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, QuickBooks]]:
    """(the running emulator, python-quickbooks connected to it)."""
    emulator = start_emulator("quickbooks", scale="demo", seed=1)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    with connected_quickbooks(emulator.env) as qb:
        yield emulator, qb


def settings(emulator: Any, **values: Any) -> None:
    reply = emulator.admin("POST", "seed", json={"records": {"EmulatorSettings": [values]}})
    assert reply.status_code == 200, reply.text


def new_customer(qb: QuickBooks, name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    return customer.save(qb=qb)


def sales_lines(qb: QuickBooks, *amounts: float) -> list[SalesItemLine]:
    item = Item.all(qb=qb, max_results=1)[0]
    lines = []
    for amount in amounts:
        line = SalesItemLine()
        line.Amount = amount
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = item.to_ref()
        lines.append(line)
    return lines


def new_invoice(qb: QuickBooks, customer: Customer, *amounts: float, txn_date: str = "") -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line = sales_lines(qb, *amounts)
    invoice.TxnDate = txn_date
    return invoice.save(qb=qb)


def new_credit_memo(qb: QuickBooks, customer: Customer, amount: float) -> CreditMemo:
    credit = CreditMemo()
    credit.CustomerRef = customer.to_ref()
    credit.Line = sales_lines(qb, amount)
    return credit.save(qb=qb)


def payment(customer: Customer, total: float, *applied: tuple[Any, float]) -> Payment:
    """A payment of `total` applying (invoice or credit memo, amount) pairs, one line each."""
    paid = Payment()
    paid.CustomerRef = customer.to_ref()
    paid.TotalAmt = total
    for txn, amount in applied:
        line = PaymentLine()
        line.Amount = amount
        line.LinkedTxn.append(txn.to_linked_txn())
        paid.Line.append(line)
    return paid


def company_url(qb: QuickBooks, tail: str) -> str:
    return f"{qb.api_url}/company/{qb.company_id}/{tail}"


def test_a_payment_moves_the_invoice_balance_and_shows_as_a_change_of_the_invoice(
    qbo: tuple[Any, QuickBooks],
) -> None:
    emulator, qb = qbo
    customer = new_customer(qb, "Balance Mover Co")
    invoice = new_invoice(qb, customer, 100.0, 50.0)
    assert invoice.TotalAmt == 150.0 and invoice.Balance == 150.0 and invoice.SyncToken == "0"

    paid = payment(customer, 100.0, (invoice, 90.0)).save(qb=qb)
    assert paid.TotalAmt == 100.0 and paid.UnappliedAmt == 10.0
    assert paid.DepositToAccountRef.value == "4"  # Undeposited Funds, as QBO files a payment without an account
    wire = qb.get_single_object("Payment", paid.Id)["Payment"]
    assert wire["Line"][0]["LinkedTxn"] == [{"TxnId": invoice.Id, "TxnType": "Invoice"}]
    assert {"Name": "txnOpenBalance", "Value": "150.00"} in [e["value"] for e in wire["Line"][0]["LineEx"]["any"]]

    after = Invoice.get(invoice.Id, qb=qb)
    assert after.Balance == 60.0 and after.TotalAmt == 150.0
    assert after.SyncToken == "1"  # QBO records the application as a change of the invoice
    assert after.MetaData.LastUpdatedTime > paid.MetaData.LastUpdatedTime > invoice.MetaData.LastUpdatedTime
    assert [(link.TxnId, link.TxnType) for link in after.LinkedTxn] == [(paid.Id, "Payment")]
    # The customer owes what the invoice leaves open, less the money not applied to anything.
    assert Customer.get(customer.Id, qb=qb).Balance == 50.0

    # The invoice as it was read before the payment is stale now.
    invoice.PrivateNote = "edited from an old read"
    with pytest.raises(QuickbooksException) as stale:
        invoice.save(qb=qb)
    assert stale.value.error_code == 5010 and stale.value.message == "Stale Object Error"

    since = paid.MetaData.LastUpdatedTime
    changes = change_data_capture([Invoice, Payment], since, qb=qb)
    assert [(i.Id, i.Balance) for i in changes.Invoice] == [(invoice.Id, 60.0)]
    assert [p.Id for p in changes.Payment] == [paid.Id]
    newer = Invoice.where(f"MetaData.LastUpdatedTime >= '{since}'", order_by="MetaData.LastUpdatedTime", qb=qb)
    assert [(i.Id, i.Balance, i.SyncToken) for i in newer] == [(invoice.Id, 60.0, "1")]
    assert [p.Id for p in Payment.filter(CustomerRef=customer.Id, qb=qb)] == [paid.Id]
    assert emulator.admin("GET", "records/Payment").json()["records"][-1]["Id"] == paid.Id


def test_an_invoice_line_update_keeps_what_payments_applied(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Line Editor Co")
    invoice = new_invoice(qb, customer, 200.0)
    paid = payment(customer, 80.0, (invoice, 80.0)).save(qb=qb)

    current = Invoice.get(invoice.Id, qb=qb)
    current.Line = [line for line in current.Line if line.DetailType == "SalesItemLineDetail"]
    current.Line[0].Amount = 250.0
    current.LinkedTxn = []  # a writer cannot unlink a payment through the invoice: QBO sets those links
    updated = current.save(qb=qb)
    assert updated.TotalAmt == 250.0 and updated.Balance == 170.0 and updated.SyncToken == "2"
    assert [(link.TxnId, link.TxnType) for link in updated.LinkedTxn] == [(paid.Id, "Payment")]
    assert Customer.get(customer.Id, qb=qb).Balance == 170.0

    updated.Line = [line for line in updated.Line if line.DetailType == "SalesItemLineDetail"]
    updated.Line[0].Amount = 80.0  # down to exactly what is paid
    paid_off = updated.save(qb=qb)  # python-quickbooks echoes the Payment link it read; it stays as it is
    assert paid_off.Balance == 0.0 and [link.TxnId for link in paid_off.LinkedTxn] == [paid.Id]


def test_an_invoice_total_below_what_is_applied_is_refused(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Shrinking Invoice Co")
    invoice = new_invoice(qb, customer, 100.0)
    payment(customer, 100.0, (invoice, 90.0)).save(qb=qb)
    body = {"Id": invoice.Id, "SyncToken": "1", "sparse": True, "CustomerRef": {"value": customer.Id},
            "Line": [{"Amount": 80.0, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "19"}}}]}  # fmt: skip
    with pytest.raises(QuickbooksException) as refused:
        qb.update_object("Invoice", json.dumps(body))
    assert refused.value.error_code == 6000
    assert "The invoice total (80.00) cannot be less than the payments and credits applied to it (90.00)" in (
        refused.value.detail
    )
    assert Invoice.get(invoice.Id, qb=qb).Balance == 10.0


def test_overpayment_is_refused_and_writes_nothing(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    customer = new_customer(qb, "Overpayer Co")
    invoice = new_invoice(qb, customer, 120.0)
    payment(customer, 100.0, (invoice, 100.0)).save(qb=qb)
    before = Invoice.get(invoice.Id, qb=qb)

    with pytest.raises(QuickbooksException) as over_balance:
        payment(customer, 50.0, (invoice, 20.01)).save(qb=qb)
    assert over_balance.value.error_code == 6000
    assert over_balance.value.detail.startswith(OVERPAID)
    assert f"the open balance of invoice {invoice.DocNumber} (20.00)" in over_balance.value.detail
    with pytest.raises(QuickbooksException) as over_total:  # lines applying more than the payment received
        payment(customer, 10.0, (invoice, 15.0)).save(qb=qb)
    assert over_total.value.error_code == 6000 and "the amount received (10.00" in over_total.value.detail

    after = Invoice.get(invoice.Id, qb=qb)
    assert (after.Balance, after.SyncToken) == (before.Balance, before.SyncToken) == (20.0, "1")
    assert len(Payment.filter(CustomerRef=customer.Id, qb=qb)) == 1
    payments = emulator.admin("GET", "records/Payment").json()["records"]
    assert [p["TotalAmt"] for p in payments if p["CustomerRef"]["value"] == customer.Id] == [100.0]

    other = new_customer(qb, "Someone Else Co")
    with pytest.raises(QuickbooksException) as foreign:
        payment(other, 10.0, (invoice, 10.0)).save(qb=qb)
    assert foreign.value.error_code == 6000 and "belongs to another customer" in foreign.value.detail
    missing = Invoice()
    missing.Id = "999999"
    with pytest.raises(ValidationException) as gone:
        payment(customer, 10.0, (missing, 10.0)).save(qb=qb)
    assert gone.value.error_code == 2500 and gone.value.detail.startswith("Invalid Reference Id")
    unpaid = Payment()
    unpaid.CustomerRef = customer.to_ref()
    with pytest.raises(ValidationException) as no_total:
        unpaid.save(qb=qb)
    assert no_total.value.error_code == 2020 and no_total.value.detail == (
        "Required parameter TotalAmt is missing in the request."
    )


def test_deleting_or_voiding_a_payment_restores_the_balance(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Refund Co")
    invoice = new_invoice(qb, customer, 300.0)
    first = payment(customer, 100.0, (invoice, 100.0)).save(qb=qb)
    second = payment(customer, 50.0, (invoice, 50.0)).save(qb=qb)
    assert Invoice.get(invoice.Id, qb=qb).Balance == 150.0

    with pytest.raises(QuickbooksException) as linked:  # QBO: unlink linked transactions before deleting
        Invoice.get(invoice.Id, qb=qb).delete(qb=qb)
    assert linked.value.error_code == 6000 and f"linked to payment {first.Id}, {second.Id}" in linked.value.detail

    deleted = first.delete(qb=qb)
    assert deleted["Payment"] == {"status": "Deleted", "domain": "QBO", "Id": first.Id}
    restored = Invoice.get(invoice.Id, qb=qb)
    assert restored.Balance == 250.0 and restored.SyncToken == "3"
    assert [link.TxnId for link in restored.LinkedTxn] == [second.Id]
    with pytest.raises(ObjectNotFoundException):
        Payment.get(first.Id, qb=qb)
    changes = change_data_capture([Payment], second.MetaData.LastUpdatedTime, qb=qb)
    assert [(p.Id, getattr(p, "status", "")) for p in changes.Payment] == [(second.Id, ""), (first.Id, "Deleted")]

    second.void(qb=qb)  # python-quickbooks: ?operation=update&include=void with a sparse body
    voided = Payment.get(second.Id, qb=qb)
    assert voided.TotalAmt == 0.0 and voided.UnappliedAmt == 0.0 and "Voided" in voided.PrivateNote
    assert [line.Amount for line in voided.Line] == [0.0]
    restored = Invoice.get(invoice.Id, qb=qb)
    assert restored.Balance == 300.0 and restored.LinkedTxn == [] and restored.SyncToken == "4"
    restored.delete(qb=qb)  # nothing applies to it any more


def test_voiding_an_invoice_leaves_its_payments_unapplied(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Void Co")
    kept = new_invoice(qb, customer, 40.0)
    voided = new_invoice(qb, customer, 60.0)
    paid = payment(customer, 100.0, (kept, 40.0), (voided, 60.0)).save(qb=qb)

    result = Invoice.get(voided.Id, qb=qb).void(qb=qb)["Invoice"]
    assert result["Balance"] == 0.0 and result["TotalAmt"] == 0.0 and result["LinkedTxn"] == []
    assert result["SyncToken"] == "2"  # one for the payment, one for the void
    after = Payment.get(paid.Id, qb=qb)
    assert after.UnappliedAmt == 60.0 and after.TotalAmt == 100.0 and after.SyncToken == "1"
    assert [(line.LinkedTxn[0].TxnId, line.Amount) for line in after.Line] == [(kept.Id, 40.0)]
    assert Invoice.get(kept.Id, qb=qb).Balance == 0.0
    assert Customer.get(customer.Id, qb=qb).Balance == -60.0  # money received and not applied is owed back


def test_a_credit_memo_applies_through_a_payment(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Credited Co")
    invoice = new_invoice(qb, customer, 500.0)
    credit = new_credit_memo(qb, customer, 120.0)
    assert credit.TotalAmt == 120.0 and credit.RemainingCredit == 120.0 and credit.Balance == 120.0
    assert credit.DocNumber and credit.Line[-1].DetailType == "SubTotalLineDetail"
    # The company does not apply credits by itself (AutoApplyCredit off): the invoice is untouched.
    assert Invoice.get(invoice.Id, qb=qb).SyncToken == "0"
    assert Customer.get(customer.Id, qb=qb).Balance == 380.0

    with pytest.raises(QuickbooksException) as too_much:
        payment(customer, 0.0, (invoice, 150.0), (credit, 150.0)).save(qb=qb)
    assert too_much.value.detail.startswith(OVERPAID) and "remaining credit of credit memo" in too_much.value.detail

    linker = payment(customer, 0.0, (invoice, 120.0), (credit, 120.0)).save(qb=qb)
    assert linker.TotalAmt == 0.0 and linker.UnappliedAmt == 0.0
    assert Invoice.get(invoice.Id, qb=qb).Balance == 380.0
    used = CreditMemo.get(credit.Id, qb=qb)
    assert used.RemainingCredit == 0.0 and used.Balance == 0.0 and used.SyncToken == "1"
    assert Customer.get(customer.Id, qb=qb).Balance == 380.0

    used.PrivateNote = "Returned goods"
    assert used.save(qb=qb).PrivateNote == "Returned goods"  # python-quickbooks' full update of a read credit memo
    with pytest.raises(QuickbooksException) as linked:
        CreditMemo.get(credit.Id, qb=qb).delete(qb=qb)
    assert linked.value.error_code == 6000
    Payment.get(linker.Id, qb=qb).delete(qb=qb)
    assert CreditMemo.get(credit.Id, qb=qb).RemainingCredit == 120.0
    assert Invoice.get(invoice.Id, qb=qb).Balance == 500.0
    CreditMemo.get(credit.Id, qb=qb).delete(qb=qb)
    assert Customer.get(customer.Id, qb=qb).Balance == 500.0


def test_automatically_apply_credits_links_open_credits_to_the_oldest_invoices(
    qbo: tuple[Any, QuickBooks],
) -> None:
    emulator, qb = qbo
    settings(emulator, auto_apply_credit=True)
    assert Preferences.get(qb=qb).SalesFormsPrefs.AutoApplyCredit is True
    customer = new_customer(qb, "Auto Credit Co")
    newer = new_invoice(qb, customer, 100.0, txn_date="2026-02-01")
    older = new_invoice(qb, customer, 30.0, txn_date="2026-01-15")

    credit = new_credit_memo(qb, customer, 50.0)
    assert credit.RemainingCredit == 50.0  # the reply is the credit memo as saved; QBO links it right after
    linkers = Payment.filter(CustomerRef=customer.Id, qb=qb)
    assert len(linkers) == 1 and linkers[0].TotalAmt == 0.0 and linkers[0].PrivateNote == AUTO_APPLY_NOTE
    assert [(line.LinkedTxn[0].TxnType, line.LinkedTxn[0].TxnId, line.Amount) for line in linkers[0].Line] == [
        ("Invoice", older.Id, 30.0),
        ("Invoice", newer.Id, 20.0),
        ("CreditMemo", credit.Id, 50.0),
    ]
    assert Invoice.get(older.Id, qb=qb).Balance == 0.0 and Invoice.get(newer.Id, qb=qb).Balance == 80.0
    assert CreditMemo.get(credit.Id, qb=qb).RemainingCredit == 0.0

    spare = new_credit_memo(qb, customer, 500.0)  # more than is open: the rest stays as credit
    assert Invoice.get(newer.Id, qb=qb).Balance == 0.0
    assert CreditMemo.get(spare.Id, qb=qb).RemainingCredit == 420.0
    latest = new_invoice(qb, customer, 25.0)  # a new invoice takes the open credit at once
    assert Invoice.get(latest.Id, qb=qb).Balance == 0.0
    assert CreditMemo.get(spare.Id, qb=qb).RemainingCredit == 395.0
    assert Customer.get(customer.Id, qb=qb).Balance == -395.0


def test_batch_writes_payments_with_per_item_faults(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    customer = new_customer(qb, "Batch Payer Co")
    invoice = new_invoice(qb, customer, 75.0)
    missing = Invoice()
    missing.Id = "999999"
    result = batch_create([
        payment(customer, 25.0, (invoice, 25.0)),
        payment(customer, 80.0, (invoice, 80.0)),  # more than the 75.00 open when the batch started
        payment(customer, 5.0, (missing, 5.0)),
        payment(customer, 30.0, (invoice, 30.0)),
    ], qb=qb)  # fmt: skip
    assert [p.TotalAmt for p in result.successes] == [25.0, 30.0]
    assert [(f.original_object.TotalAmt, f.Error[0].code) for f in result.faults] == [(80.0, "6000"), (5.0, "2500")]
    assert result.faults[0].Error[0].Detail.startswith(OVERPAID)
    assert Invoice.get(invoice.Id, qb=qb).Balance == 20.0

    first = result.successes[0]
    first.Line[0].Amount = 45.0
    first.TotalAmt = 45.0
    updated = batch_update([first], qb=qb)
    assert updated.faults == [] and updated.successes[0].SyncToken == "1"
    assert Invoice.get(invoice.Id, qb=qb).Balance == 0.0

    voids = qb.post(company_url(qb, "batch"), json.dumps({"BatchItemRequest": [
        {"bId": "v1", "operation": "update", "optionsData": "void",
         "Payment": {"Id": first.Id, "SyncToken": "1", "sparse": True}},
        {"bId": "v2", "operation": "update", "optionsData": "void",
         "Payment": {"Id": first.Id, "SyncToken": "1", "sparse": True}},
    ]}))["BatchItemResponse"]  # fmt: skip
    assert voids[0]["Payment"]["TotalAmt"] == 0.0 and voids[0]["Payment"]["PrivateNote"] == "Voided"
    assert voids[1]["Fault"]["Error"][0]["code"] == "5010"
    assert Invoice.get(invoice.Id, qb=qb).Balance == 45.0


def test_requestid_replays_a_payment_and_a_batch_without_writing_again(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    customer = new_customer(qb, "Retrying Payer Co")
    invoice = new_invoice(qb, customer, 90.0)
    emulator.admin("DELETE", "stats")
    first = payment(customer, 30.0, (invoice, 30.0)).save(qb=qb, request_id="pay-0001")
    again = payment(customer, 30.0, (invoice, 30.0)).save(qb=qb, request_id="pay-0001")
    assert again.Id == first.Id and again.MetaData.LastUpdatedTime == first.MetaData.LastUpdatedTime
    assert emulator.admin("GET", "stats").json()["writes"] == 1
    assert len(Payment.filter(CustomerRef=customer.Id, qb=qb)) == 1
    assert Invoice.get(invoice.Id, qb=qb).Balance == 60.0

    body = json.dumps({"BatchItemRequest": [
        {"bId": "p1", "operation": "create", "Payment": json.loads(payment(customer, 10.0, (invoice, 10.0)).to_json())},
        {"bId": "p2", "operation": "create", "Payment": json.loads(payment(customer, 99.0, (invoice, 99.0)).to_json())},
    ]})  # fmt: skip
    url = company_url(qb, "batch")
    replies = [qb.post(url, body, params={"requestid": "b-7f3a9c"}) for _ in range(2)]
    assert replies[0]["BatchItemResponse"] == replies[1]["BatchItemResponse"]
    assert "Payment" in replies[0]["BatchItemResponse"][0] and "Fault" in replies[0]["BatchItemResponse"][1]
    assert Invoice.get(invoice.Id, qb=qb).Balance == 50.0  # applied once
    assert len(Payment.filter(CustomerRef=customer.Id, qb=qb)) == 2

    with pytest.raises(QuickbooksException) as long_batch_id:  # a batch requestid is at most 36 characters
        qb.post(url, body, params={"requestid": "b" * 37})
    assert long_batch_id.value.error_code == 6000 and "36 characters" in long_batch_id.value.detail
    long_bid = json.dumps({"BatchItemRequest": [{"bId": "b" * 11, "Query": "select * from Term"}]})
    with pytest.raises(QuickbooksException) as long_bid_fault:  # with a requestid each bId is at most 10
        qb.post(url, long_bid, params={"requestid": "b-short"})
    assert long_bid_fault.value.error_code == 6000 and "at most 10" in long_bid_fault.value.detail
    assert qb.post(url, long_bid)["BatchItemResponse"][0]["QueryResponse"]["Term"]  # no requestid: no bId limit


def test_name_rules_across_contacts_and_items(qbo: tuple[Any, QuickBooks]) -> None:
    _emulator, qb = qbo
    vendor = Vendor()
    vendor.DisplayName = "Shared Name Supply"
    vendor.save(qb=qb)
    with pytest.raises(QuickbooksException) as contact:
        new_customer(qb, "shared name supply")
    assert contact.value.error_code == 6240 and contact.value.message == "Duplicate Name Exists Error"

    existing = Item.all(qb=qb, max_results=1)[0]
    item = Item()
    item.Name = existing.Name.upper()
    item.Type = "NonInventory"
    with pytest.raises(QuickbooksException) as duplicate_item:
        item.save(qb=qb)
    assert duplicate_item.value.error_code == 6240
    assert "Another product or service is already using this name" in duplicate_item.value.detail
    item.Name = "Shared Name Supply"  # item names are their own list: a contact's name is free for an item
    assert item.save(qb=qb).Id


def test_ten_concurrent_requests_per_realm_then_429(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    limits = emulator.admin("GET", "records/EmulatorSettings").json()["records"][0]
    assert (limits["requests_per_minute"], limits["concurrent_requests"], limits["batch_per_minute"]) == (500, 10, 40)
    settings(emulator, concurrent_requests=1)  # one call in flight stands for the ten of QBO's limit
    origin = urlsplit(emulator.origin)
    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    query = b"SELECT COUNT(*) FROM Term"
    head = (
        f"POST /v3/company/{qb.company_id}/query HTTP/1.1\r\nHost: {origin.netloc}\r\n"
        f"Authorization: Bearer {qb.session.access_token}\r\nContent-Type: application/text\r\n"
        f"Accept: application/json\r\nContent-Length: {len(query)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        socket.create_connection((origin.hostname, origin.port)) as raw,
        context.wrap_socket(raw, server_hostname=origin.hostname) as held,
    ):
        held.sendall(head + query[:6])  # the call holds its slot while its body is still arriving
        deadline = time.monotonic() + 10
        while emulator.backend.throttle.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.backend.throttle.in_flight == 1
        refused = requests.post(company_url(qb, "query"), data=query, timeout=30, headers={
            "Authorization": f"Bearer {qb.session.access_token}", "Content-Type": "application/text"})  # fmt: skip
        assert refused.status_code == 429 and "ThrottleExceeded" in refused.text
        held.sendall(query[6:])
        answer = b""
        while chunk := held.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"totalCount":5' in answer
    assert Item.count(qb=qb) >= 1  # the slot is free again


def test_the_world_is_seeded_with_payments_and_credit_memos(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    payments = Payment.all(qb=qb, max_results=100)
    credits = CreditMemo.all(qb=qb, max_results=100)
    assert (len(payments), len(credits)) == (4, 2)
    invoices = {i["Id"]: i for i in emulator.backend.list_records("Invoice")}
    first = list(invoices.values())[: len(RECEIVABLE_PLANS)]
    assert [i["TotalAmt"] - i["Balance"] > 0 for i in first] == [True, True, True, True, False]
    half = round(first[1]["TotalAmt"] / 2, 2)
    assert first[0]["Balance"] == 0.0 and first[1]["Balance"] == round(first[1]["TotalAmt"] - half, 2)
    assert [[link["TxnType"] for link in i["LinkedTxn"]] for i in first] == [["Payment"]] * 4 + [[]]
    assert sorted(p.UnappliedAmt for p in payments) == [0.0, 0.0, 0.0, LEFT_OVER]
    assert sorted(c.RemainingCredit for c in credits) == [0.0, OPEN_CREDIT]
    paid_invoice = Invoice.get(first[0]["Id"], qb=qb)
    assert paid_invoice.LinkedTxn[0].TxnType == "Payment"
    assert Payment.get(paid_invoice.LinkedTxn[0].TxnId, qb=qb).Line[0].LinkedTxn[0].TxnId == paid_invoice.Id

    # Each customer's balance is what its invoices leave open, less open credit and unapplied money.
    for customer in emulator.backend.list_records("Customer"):
        owed = sum(i["Balance"] for i in invoices.values() if i["CustomerRef"]["value"] == customer["Id"])
        owed -= sum(c.RemainingCredit for c in credits if c.CustomerRef.value == customer["Id"])
        owed -= sum(p.UnappliedAmt for p in payments if p.CustomerRef.value == customer["Id"])
        assert customer["Balance"] == pytest.approx(owed, abs=0.005), customer["DisplayName"]


def test_an_admin_seeded_payment_applies_to_its_invoice(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    customer = new_customer(qb, "Seeded Payer Co")
    invoice = new_invoice(qb, customer, 64.0)
    seeded = emulator.admin("POST", "seed", json={"records": {"Payment": [{
        "CustomerRef": {"value": customer.Id}, "TotalAmt": 24.0,
        "Line": [{"Amount": 24.0, "LinkedTxn": [{"TxnId": invoice.Id, "TxnType": "Invoice"}]}],
    }]}})  # fmt: skip
    assert seeded.json() == {"seeded": {"Payment": 1}}
    after = Invoice.get(invoice.Id, qb=qb)
    assert after.Balance == 40.0 and after.SyncToken == "1" and after.LinkedTxn[0].TxnType == "Payment"
