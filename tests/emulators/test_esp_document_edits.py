"""ESP+ emulator over a real socket with httpx: invoices, purchase orders and bills edited through `PUT` (fields,
parties, lines added, changed and dropped, totals recomputed, optimistic concurrency, field-named 400s and 422s), and
the `SyncMessage` a QuickBooks send records beside `ExternalId`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import RunningEmulator
from tests.emulators.test_esp import ESP_DATE, api, parse_esp_date

CUSTOMER, OTHER_CUSTOMER, SUPPLIER, DECORATOR = 500000001, 500000002, 500000003, 500000004
CONTACT = 600000001
INVOICE, SALES_ORDER, PURCHASE_ORDER, BILL = 700000001, 700000002, 800000001, 900000001
# What a PUT leaves alone besides what it was asked to change.
SYSTEM_FIELDS = ("Version", "UpdateDate", "UpdatedBy")


def seed_documents(esp: RunningEmulator) -> None:
    """A small tenant every test edits: two customers, a supplier, a decorator, and one document of each kind."""
    assert esp.admin("POST", "reset").status_code == 200
    lines = [
        {"Number": "MUG-11", "Name": "Mug", "Quantity": 10, "Price": 4.5, "Cost": 2.0, "Supplier": {"Id": SUPPLIER}},
        {"Number": "PEN-2", "Name": "Pen", "Quantity": 100, "Price": 0.8, "Cost": 0.3, "Supplier": {"Id": SUPPLIER}},
        {"Number": "CAP-7", "Name": "Cap", "Quantity": 20, "Price": 9.0, "Cost": 5.5, "Supplier": {"Id": DECORATOR}},
    ]
    cost_lines = [{"Number": "MUG-11", "Name": "Mug", "Quantity": 10, "Cost": 2.0}]
    reply = esp.admin(
        "POST",
        "seed",
        json={
            "records": {
                "Company": [
                    {"Id": CUSTOMER, "Name": "Keystone Events", "IsCustomer": True},
                    {"Id": OTHER_CUSTOMER, "Name": "Harbor Promotions", "IsCustomer": True},
                    {"Id": SUPPLIER, "Name": "Brighter Promotions", "IsSupplier": True},
                    {"Id": DECORATOR, "Name": "Acme Screen Print", "IsDecorator": True},
                ],
                "Contact": [{"Id": CONTACT, "Name": "Dana Lee", "CompanyId": OTHER_CUSTOMER}],
                "Order": [
                    {
                        "Id": INVOICE,
                        "Type": "invoice",
                        "Number": "INV-1",
                        "CustomerId": CUSTOMER,
                        "Date": "2025-03-01",
                        "DueDate": "2025-03-31",
                        "LineItems": lines,
                    },
                    {"Id": SALES_ORDER, "Type": "order", "Number": "SO-1", "CustomerId": CUSTOMER, "LineItems": lines},
                ],
                "PurchaseOrder": [
                    {
                        "Id": PURCHASE_ORDER,
                        "Number": "SO-1-1",
                        "VendorId": SUPPLIER,
                        "CustomerId": CUSTOMER,
                        "Date": "2025-03-01",
                        "LineItems": cost_lines,
                    }
                ],
                "Bill": [
                    {
                        "Id": BILL,
                        "Number": "V-981",
                        "VendorId": SUPPLIER,
                        "CustomerId": CUSTOMER,
                        "Date": "2025-03-02",
                        "DueDate": "2025-04-01",
                        "LineItems": cost_lines,
                    }
                ],
            }
        },
    )
    assert reply.status_code == 200, reply.text


@pytest.fixture
def esp(start_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    emulator = start_emulator("esp", scale="none")
    seed_documents(emulator)
    return emulator


def without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def refused(reply: httpx.Response, status: int, field: str) -> str:
    """The message of a refusal that names `field` in ASI's `Errors` list."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["Errors"] == [{"Field": field, "Message": body["Error"]}], body
    return str(body["Error"])


def test_a_document_written_back_as_read_changes_only_its_version_and_stamps(esp: RunningEmulator) -> None:
    with api(esp.env) as client:
        for path in (f"orders/{INVOICE}", f"orders/{SALES_ORDER}", f"purchaseorders/{PURCHASE_ORDER}", f"bills/{BILL}"):
            before = client.get(path).json()
            reply = client.put(path, json=before)
            assert reply.status_code == 200, reply.text
            assert reply.headers["algoliataskids"] and reply.headers["content-type"].startswith("application/json")
            after = reply.json()
            assert after == client.get(path).json()
            assert without(after, *SYSTEM_FIELDS) == without(before, *SYSTEM_FIELDS)
            assert after["Version"] == before["Version"] + 1
            assert after.get("UpdatedBy", "API Integration") == "API Integration"  # orders name their editor
            assert parse_esp_date(after["UpdateDate"]) > parse_esp_date(before["UpdateDate"])
    assert esp.admin("GET", "stats").json()["per_route"]["PUT /babou/api/esp/orders/{id:int}"] == 2


def test_an_invoice_edit_changes_fields_and_lines_and_recomputes_its_totals(esp: RunningEmulator) -> None:
    with api(esp.env) as client:
        invoice = client.get(f"orders/{INVOICE}").json()
        assert invoice["TotalAmount"] == 45 + 80 + 180
        mug, _pen, cap = invoice["LineItems"]
        mug["Variants"][0]["Quantity"] = 12  # as GET shows a product line's amounts
        mug["Description"] = "Glossy white"
        cap["Price"] = 10  # a top-level amount wins over the variant's
        cap["Name"] = "Embroidered cap"
        freight = {"Type": "service", "Name": "Freight", "Quantity": 1, "Price": 25, "Cost": 18}
        tote = {"Number": "TOTE-1", "Name": "Tote", "Quantity": 5, "Price": 6, "Cost": 3, "Supplier": {"Id": DECORATOR}}
        edited = {
            **invoice,
            "Description": "Spring fair",
            "Date": "2025-03-05T00:00:00Z",
            "DueDate": "2025-04-04",
            "POReference": "PO-77",
            "Status": "Closed",
            "CurrencyCode": "CAD",
            "BillingContact": {"Id": CONTACT, "Company": {"Id": OTHER_CUSTOMER}},
            "LineItems": [cap, mug, freight, tote],  # the pen is dropped
            # Read-only: the send state, numbers, totals and stamps are ignored.
            "Number": "INV-HACKED",
            "TotalAmount": 1,
            "IsSentToQuickbooks": True,
            "ExternalId": "999",
            "CreateDate": "2001-01-01T00:00:00Z",
        }
        reply = client.put(f"orders/{INVOICE}", json=edited)
        assert reply.status_code == 200, reply.text
        after = reply.json()
        assert after["Version"] == invoice["Version"] + 1
        assert (after["Description"], after["POReference"], after["Status"], after["CurrencyCode"]) == (
            "Spring fair",
            "PO-77",
            "Closed",
            "CAD",
        )
        assert (after["Date"], after["DueDate"]) == ("2025-03-05T00:00:00Z", "2025-04-04T00:00:00Z")
        assert after["BillingContact"]["Company"]["Name"] == "Harbor Promotions"
        assert after["BillingContact"]["Name"] == "Dana Lee"
        assert (after["Number"], after["IsSentToQuickbooks"], after["ExternalId"]) == ("INV-1", False, None)
        assert after["CreateDate"] == invoice["CreateDate"]

        lines = after["LineItems"]
        assert [line["Name"] for line in lines] == ["Embroidered cap", "Mug", "Freight", "Tote"]
        assert [line["Sequence"] for line in lines] == [0, 1, 2, 3]
        assert lines[0]["Id"] == cap["Id"] and lines[1]["Id"] == mug["Id"]
        assert lines[0]["Variants"][0]["Price"] == 10 and lines[1]["Variants"][0]["Quantity"] == 12
        assert lines[1]["Description"] == "Glossy white" and lines[1]["Number"] == "MUG-11"
        assert lines[2]["Type"] == "service" and lines[2]["Supplier"] is None and lines[2]["Price"] == 25
        assert lines[3]["Supplier"]["Name"] == "Acme Screen Print" and lines[3]["CurrencyCode"] == "CAD"
        new_ids = {lines[2]["Id"], lines[3]["Id"]}
        old_ids = {line["Id"] for line in invoice["LineItems"]}
        assert not new_ids & old_ids and len(new_ids) == 2
        assert not new_ids & {line["Variants"][0]["Id"] for line in lines if line["Type"] == "product"}
        assert after["TotalAmount"] == after["Subtotal"] == after["AmountDue"] == 200 + 54 + 25 + 30
        assert after["TotalCost"] == 110 + 24 + 18 + 15
        assert client.get(f"orders/{INVOICE}/lineitems/{lines[3]['Id']}").json() == lines[3]

        rows = client.get("orders/search", params={"modifiedSince": after["UpdateDate"]}).json()["Results"]
        assert [r["Id"] for r in rows] == [INVOICE]
        assert rows[0]["Total"] == after["TotalAmount"] and rows[0]["Customer"] == "Harbor Promotions"
        assert [item["Name"] for item in rows[0]["LineItems"]] == ["Embroidered cap", "Mug", "Freight", "Tote"]

        # Fields left out of the body stay as they are; an empty LineItems list drops every line.
        partial = client.put(f"orders/{INVOICE}", json={"Version": after["Version"], "Description": None})
        assert partial.status_code == 200 and partial.json()["Description"] is None
        assert partial.json()["LineItems"] == lines and partial.json()["Status"] == "Closed"
        emptied = client.put(f"orders/{INVOICE}", json={"Version": after["Version"] + 1, "LineItems": []})
        assert emptied.json()["LineItems"] == [] and emptied.json()["TotalAmount"] == 0


def test_purchase_orders_and_bills_edit_vendor_customer_and_cost_lines(esp: RunningEmulator) -> None:
    with api(esp.env) as client:
        po = client.get(f"purchaseorders/{PURCHASE_ORDER}").json()
        [mug] = po["LineItems"]
        reply = client.put(
            f"purchaseorders/{PURCHASE_ORDER}",
            json={
                **po,
                "Vendor": {"Id": DECORATOR},
                "Customer": None,
                "Status": "Closed",
                "LineItems": [{**mug, "Cost": 2.25}, {"Name": "Setup", "Type": "service", "Cost": 40}],
            },
        )
        assert reply.status_code == 200, reply.text
        after = reply.json()
        assert after["Vendor"]["Name"] == "Acme Screen Print" and after["IsDecoratorPO"] is True
        assert after["Customer"] is None and after["Status"] == "Closed"
        assert [(line["Name"], line["Quantity"], line["TotalCost"]) for line in after["LineItems"]] == [
            ("Mug", 10, 22.5),
            ("Setup", 1, 40),
        ]
        assert after["TotalCost"] == 62.5

        bill = client.get(f"bills/{BILL}").json()
        reply = client.put(
            f"bills/{BILL}",
            json={**bill, "DueDate": "2025-05-01", "LineItems": [{**bill["LineItems"][0], "Quantity": 8}]},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["DueDate"] == "2025-05-01T00:00:00Z" and reply.json()["TotalAmount"] == 16
        assert reply.json()["LineItems"][0]["Amount"] == 16

        version = reply.json()["Version"]
        not_a_vendor = client.put(f"bills/{BILL}", json={"Version": version, "Vendor": {"Id": CUSTOMER}})
        assert "not a Supplier or Decorator" in refused(not_a_vendor, 400, "Vendor.Id")
        no_vendor = client.put(f"bills/{BILL}", json={"Version": version, "Vendor": None})
        assert refused(no_vendor, 400, "Vendor") == "Vendor is required"
        assert client.get(f"bills/{BILL}").json()["Version"] == version


BAD_EDITS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], int, str]] = [
    ("a quantity of 0", lambda d: {"LineItems": [*d["LineItems"][:2], {**d["LineItems"][2], "Quantity": 0}]},
     400, "LineItems[2].Quantity"),
    ("a negative variant price", lambda d: {"LineItems": [{**d["LineItems"][0], "Variants": [{"Price": -1}]}]},
     400, "LineItems[0].Variants[0].Price"),
    ("a cost that is text", lambda d: {"LineItems": [{"Name": "Bag", "Cost": "3"}]}, 400, "LineItems[0].Cost"),
    ("a new line without a name", lambda d: {"LineItems": [{"Quantity": 1}]}, 400, "LineItems[0].Name"),
    ("a blank name", lambda d: {"LineItems": [{**d["LineItems"][0], "Name": " "}]}, 400, "LineItems[0].Name"),
    ("a line of another document", lambda d: {"LineItems": [{"Id": 1, "Name": "x"}]}, 400, "LineItems[0].Id"),
    ("a line listed twice", lambda d: {"LineItems": [d["LineItems"][0], d["LineItems"][0]]}, 400, "LineItems[1].Id"),
    ("a title line", lambda d: {"LineItems": [{"Name": "Heading", "Type": "title"}]}, 400, "LineItems[0].Type"),
    ("a supplier that does not exist", lambda d: {"LineItems": [{"Name": "Bag", "Supplier": {"Id": 500999999}}]},
     422, "LineItems[0].Supplier.Id"),
    ("a status the tenant lacks", lambda d: {"Status": "Shipped"}, 400, "Status"),
    ("an unknown currency", lambda d: {"CurrencyCode": "XYZ"}, 400, "CurrencyCode"),
    ("a date that is not one", lambda d: {"Date": "next week"}, 400, "Date"),
    ("no date", lambda d: {"Date": None}, 400, "Date"),
    ("a customer that does not exist", lambda d: {"BillingContact": {"Company": {"Id": 500999999}}},
     422, "BillingContact.Company.Id"),
    ("a supplier as the customer", lambda d: {"BillingContact": {"Company": {"Id": SUPPLIER}}},
     400, "BillingContact.Company.Id"),
    ("a contact that does not exist", lambda d: {"BillingContact": {"Id": 600999999}}, 422, "BillingContact.Id"),
    ("another document's Id", lambda d: {"Id": SALES_ORDER}, 400, "Id"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_EDITS, ids=[case[0] for case in BAD_EDITS])
def test_a_bad_edit_is_refused_naming_its_field_and_changes_nothing(
    esp: RunningEmulator, case: tuple[str, Callable[[dict[str, Any]], dict[str, Any]], int, str]
) -> None:
    _, change, status, field = case
    with api(esp.env) as client:
        before = client.get(f"orders/{INVOICE}").json()
        # Valid changes beside the bad one are not applied either.
        body = {"Version": before["Version"], "Description": "not saved", **change(before)}
        refused(client.put(f"orders/{INVOICE}", json=body), status, field)
        assert client.get(f"orders/{INVOICE}").json() == before


def test_a_stale_or_missing_version_a_missing_document_and_a_refusing_record_fault(esp: RunningEmulator) -> None:
    with api(esp.env) as client:
        invoice = client.get(f"orders/{INVOICE}").json()
        assert client.put(f"orders/{INVOICE}", json=invoice).status_code == 200
        stale = client.put(f"orders/{INVOICE}", json={**invoice, "Description": "lost update"})
        assert stale.status_code == 409 and f"version {invoice['Version'] + 1}" in stale.json()["Error"]
        missing = client.put(f"orders/{INVOICE}", json=without(invoice, "Version"))
        assert refused(missing, 400, "Version") == "Version is required"
        assert client.put("orders/1", json={"Version": 1}).json() == {"Error": "Order not found"}
        assert client.put("purchaseorders/1", json={"Version": 1}).json() == {"Error": "Purchase order not found"}
        assert client.put(f"orders/{INVOICE}", json=[1]).status_code == 400

        current = client.get(f"orders/{INVOICE}").json()
        esp.admin("POST", "faults", json={"faults": [{"kind": "record_error", "object": "Order", "count": 1}]})
        faulted = client.put(f"orders/{INVOICE}", json={**current, "Description": "faulted"})
        assert faulted.status_code == 400 and faulted.json()["Error"] == "The order could not be saved."
        assert client.get(f"orders/{INVOICE}").json() == current


# ---- SyncMessage [ours] on sends ------------------------------------------------------------------------------------


def test_sync_message_is_stored_beside_external_id_kept_while_unsent_and_cleared_by_null(esp: RunningEmulator) -> None:
    message = "QuickBooks total 106.00 differs from ESP+ total 100.00"
    path = f"orders/{INVOICE}/sendto/QuickBooksOnline"
    with api(esp.env) as client:
        sent = client.post(
            path,
            json={
                "DocumentType": "Invoice",
                "DocumentId": INVOICE,
                "ExternalId": "145",
                "ExternalNumber": "1038",
                "ExternalSyncToken": "0",
                "Balance": 106.0,
                "SyncMessage": message,
            },
        )
        assert sent.status_code == 200, sent.text
        state = sent.json()
        assert state["SyncMessage"] == message
        assert list(state).index("SyncMessage") == list(state).index("ExternalId") + 1
        assert client.get(path).json() == state
        full = client.get(f"orders/{INVOICE}").json()
        row = client.get("orders/search", params={"filters": '{"IsSentToQuickbooks":{"terms":["true"]}}'}).json()
        for shown in (full, row["Results"][0]):
            assert shown["SyncMessage"] == message and shown["ExternalId"] == "145"
            assert list(shown).index("SyncMessage") == list(shown).index("ExternalId") + 1

        # A later send of the same QuickBooks transaction keeps the details it leaves out.
        kept = client.post(path, json={"ExternalId": "145", "Balance": 50}).json()
        assert (kept["SyncMessage"], kept["ExternalNumber"], kept["ExternalSyncToken"], kept["Balance"]) == (
            message,
            "1038",
            "0",
            50,
        )
        cleared = client.post(path, json={"ExternalId": "145", "SyncMessage": None}).json()
        assert cleared["SyncMessage"] is None and cleared["ExternalNumber"] == "1038"
        client.post(path, json={"ExternalId": "145", "SyncMessage": message})
        another = client.post(path, json={"ExternalId": "146"}).json()  # another QuickBooks transaction
        assert (another["SyncMessage"], another["ExternalNumber"], another["Balance"]) == (None, None, None)
        assert ESP_DATE.match(another["SentDate"])

        before = client.get(f"bills/{BILL}").json()
        bill_path = f"bills/{BILL}/sendto/QuickBooksOnline"
        assert refused(client.post(bill_path, json={"ExternalId": "9", "SyncMessage": 5}), 400, "SyncMessage")
        too_long = client.post(bill_path, json={"ExternalId": "9", "SyncMessage": "x" * 2001})
        assert "at most 2000" in refused(too_long, 400, "SyncMessage")
        assert refused(client.post(bill_path, json={"ExternalId": "9", "ExternalNumber": 7}), 400, "ExternalNumber")
        assert client.get(f"bills/{BILL}").json() == before
        bill = client.post(bill_path, json={"ExternalId": "9", "SyncMessage": "x" * 2000}).json()
        assert bill["DocumentType"] == "Bill" and len(bill["SyncMessage"]) == 2000
