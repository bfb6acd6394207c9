"""The ESP+ client as a RecordWriter: httpx writing QuickBooks links and document send states to the ESP+ emulator
over a socket, one call per link or send, each failure alone, read back through the API; and `update_document`, the
edit a person makes in ESP+."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from crosswalk.clients.esp import EspApiError, EspSource
from crosswalk.extract.errors import CredentialsError
from crosswalk.sync.writer import WriteOp, WriteRequest
from tests.conftest import RunningEmulator
from tests.emulators.test_esp import api
from tests.integration.extract_support import RETRY
from tests.integration.test_client_writes import closing_factory, fault, leaked, reset_stats, stats

CUSTOMER, SUPPLIER, SUPPLIER_DECORATOR, CUSTOMER_SUPPLIER = 500000001, 500000002, 500000003, 500000004
INVOICE, SALES_ORDER, PURCHASE_ORDER, BILL = 700000001, 700000002, 800000001, 900000001
LINK_ROUTE = "PUT /babou/api/esp/companies/{id:int}/integrations/quickbooks/{memberType}"
MESSAGE = "QuickBooks total 106.00 differs from ESP+ total 100.00"


@pytest.fixture
def esp(start_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    """An ESP+ tenant of four companies (customer, supplier, supplier and decorator, customer and supplier) and one
    document of each kind."""
    emulator = start_emulator("esp", scale="none")
    line = {"Number": "MUG-11", "Name": "Mug", "Quantity": 10, "Price": 10, "Cost": 4, "Supplier": {"Id": SUPPLIER}}
    reply = emulator.admin(
        "POST",
        "seed",
        json={
            "records": {
                "Company": [
                    {"Id": CUSTOMER, "Name": "Keystone Events", "IsCustomer": True},
                    {"Id": SUPPLIER, "Name": "Brighter Promotions", "IsSupplier": True},
                    {"Id": SUPPLIER_DECORATOR, "Name": "Acme Print", "IsSupplier": True, "IsDecorator": True},
                    {"Id": CUSTOMER_SUPPLIER, "Name": "Harbor Goods", "IsCustomer": True, "IsSupplier": True},
                ],
                "Order": [
                    {"Id": INVOICE, "Type": "invoice", "Number": "INV-1", "CustomerId": CUSTOMER, "LineItems": [line]},
                    {"Id": SALES_ORDER, "Type": "order", "Number": "SO-1", "CustomerId": CUSTOMER, "LineItems": [line]},
                ],
                "PurchaseOrder": [
                    {"Id": PURCHASE_ORDER, "Number": "SO-1-1", "VendorId": SUPPLIER, "LineItems": [line]}
                ],
                "Bill": [{"Id": BILL, "Number": "V-9", "VendorId": SUPPLIER, "LineItems": [line]}],
            }
        },
    )
    assert reply.status_code == 200, reply.text
    return emulator


@pytest.fixture
def esp_client(esp: RunningEmulator) -> Iterator[Callable[..., EspSource]]:
    env = esp.env
    yield from closing_factory(
        lambda **options: EspSource(
            **{
                "url": env["ESP_URL"],
                "client_id": env["ESP_CLIENT_ID"],
                "client_secret": env["ESP_CLIENT_SECRET"],
                "retry": RETRY,
                "timeout": 30,
                **options,
            }
        )
    )


def link(company_id: int, marker: str = "link", **fields: Any) -> WriteRequest:
    return WriteRequest(WriteOp.UPDATE, "companies", fields, marker=marker, key=str(company_id))


def send(object_name: str, document_id: int, marker: str = "send", **fields: Any) -> WriteRequest:
    return WriteRequest(WriteOp.UPDATE, object_name, fields, marker=marker, key=str(document_id))


def linked_rows(esp: RunningEmulator) -> set[tuple[Any, ...]]:
    with api(esp.env) as client:
        body = client.get("integrations/quickbooks/links", params={"linked": "true", "size": 100}).json()
    return {
        (
            r["CompanyId"],
            r["MemberType"],
            r["QuickBooksId"],
            r["QuickBooksEntity"],
            r["Source"],
            r["QuickBooksDisplayName"],
        )
        for r in body["Results"]
    }


def test_links_land_per_member_type_in_the_link_table_and_on_the_company(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    requests = [
        link(CUSTOMER, "c", QuickBooksCustomerId="58", QuickBooksDisplayName="Keystone Events"),
        link(SUPPLIER, "s", QuickBooksVendorId="72"),  # a Supplier by default, Matched by default
        link(SUPPLIER_DECORATOR, "sd", QuickBooksVendorId=71, MemberTypes=["Supplier", "Decorator"], Source="Created"),
        link(CUSTOMER_SUPPLIER, "cs", QuickBooksCustomerId="59", QuickBooksVendorId="73"),
    ]
    reset_stats(esp)
    results = client.write(requests)

    assert [r.request for r in results] == requests
    assert all(r.ok and r.created is False for r in results), [r.errors for r in results]
    assert [r.key for r in results] == [str(CUSTOMER), str(SUPPLIER), str(SUPPLIER_DECORATOR), str(CUSTOMER_SUPPLIER)]
    assert stats(esp)["per_route"][LINK_ROUTE] == 6 == stats(esp)["writes"]
    assert client.meter.calls == 7  # and the token
    expected = {
        (CUSTOMER, "Customer", "58", "Customer", "Matched", "Keystone Events"),
        (SUPPLIER, "Supplier", "72", "Vendor", "Matched", None),
        (SUPPLIER_DECORATOR, "Supplier", "71", "Vendor", "Created", None),
        (SUPPLIER_DECORATOR, "Decorator", "71", "Vendor", "Created", None),
        (CUSTOMER_SUPPLIER, "Customer", "59", "Customer", "Matched", None),
        (CUSTOMER_SUPPLIER, "Supplier", "73", "Vendor", "Matched", None),
    }
    assert linked_rows(esp) == expected
    with api(esp.env) as reader:
        company = reader.get(f"companies/{CUSTOMER_SUPPLIER}").json()
    assert {(li["MemberType"], li["QuickBooksId"]) for li in company["QuickBooksLinks"]} == {
        ("Customer", "59"),
        ("Supplier", "73"),
    }

    again = client.write(requests)  # a state write: the same request again leaves the same links
    assert all(r.ok for r in again)
    assert linked_rows(esp) == expected
    assert client.find("companies", "Id", [str(CUSTOMER)]) == {}


def test_requests_crosswalk_cannot_write_fail_alone_naming_the_field_without_a_call(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    invalid = [
        link(CUSTOMER, "name", QuickBooksCustomerId="58", Name="Renamed"),
        link(CUSTOMER, "none"),
        link(CUSTOMER, "null", QuickBooksCustomerId=None),
        link(SUPPLIER, "manual", QuickBooksVendorId="72", Source="Manual"),
        link(SUPPLIER, "customer-type", QuickBooksVendorId="72", MemberTypes=["Customer"]),
        link(SUPPLIER, "twice", QuickBooksVendorId="72", MemberTypes=["Supplier", "Supplier"]),
        WriteRequest(WriteOp.UPDATE, "companies", {"QuickBooksCustomerId": "58"}, marker="no-key", key="abc"),
        WriteRequest(WriteOp.CREATE, "companies", {"Name": "New Co"}, marker="create"),
        WriteRequest(WriteOp.UPSERT, "orders", {"ExternalId": "1"}, marker="upsert", external_id=("Number", "INV-1")),
        WriteRequest(WriteOp.UPDATE, "contacts", {"Title": "CFO"}, marker="contact", key="600000001"),
        send("orders", INVOICE, "no-external-id", ExternalNumber="1038"),
        send("orders", INVOICE, "total", ExternalId="145", TotalAmount=100),
        send("bills", BILL, "balance", ExternalId="88", Balance="12.50"),
    ]
    requests = [link(CUSTOMER, "ok", QuickBooksCustomerId="58"), *invalid]
    reset_stats(esp)
    results = client.write(requests)

    assert [r.ok for r in results] == [True] + [False] * len(invalid)
    assert stats(esp)["writes"] == 1
    errors = {r.request.marker: r.errors[0] for r in results[1:]}
    assert all(
        e.startswith("INVALID_REQUEST: esp ") and not r.retryable
        for e, r in zip(errors.values(), results[1:], strict=True)
    )
    assert "Crosswalk does not edit ESP+ companies: Name cannot be written" in errors["name"]
    assert "QuickBooksCustomerId or QuickBooksVendorId is required" in errors["none"]
    assert "QuickBooksCustomerId is null" in errors["null"]
    assert "Source is 'Manual'" in errors["manual"]
    assert "MemberTypes is ['Customer']" in errors["customer-type"]
    assert "MemberTypes is ['Supplier', 'Supplier']" in errors["twice"]
    assert "'abc' is not an ESP+ record Id" in errors["no-key"]
    for marker in ("create", "upsert", "contact"):
        assert "Crosswalk does not create ESP+ records" in errors[marker], errors[marker]
    assert f"esp orders {INVOICE} (no-external-id): ExternalId is required" in errors["no-external-id"]
    assert "TotalAmount cannot be written to ESP+ orders" in errors["total"]
    assert "Balance is '12.50', not a number" in errors["balance"]


def test_refusals_of_the_api_fail_their_request_alone_with_its_message(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    assert client.write([link(CUSTOMER, QuickBooksCustomerId="58")])[0].ok
    results = client.write(
        [
            link(SUPPLIER, "not-a-customer", QuickBooksCustomerId="60"),
            link(CUSTOMER_SUPPLIER, "taken", QuickBooksCustomerId="58"),  # company CUSTOMER holds it
            link(500999999, "missing", QuickBooksVendorId="74"),
            send("orders", SALES_ORDER, "sales-order", ExternalId="1"),  # only invoices are sent
            send("bills", BILL, "ok", ExternalId="88"),
        ]
    )
    assert [r.ok for r in results] == [False, False, False, False, True]
    bad, taken, missing, sales_order = (r.errors[0] for r in results[:4])
    assert bad.startswith(f"BAD_REQUEST: esp companies {SUPPLIER} link Customer to QuickBooks Customer 60: HTTP 400")
    assert f"Company {SUPPLIER} is not a Customer [memberType: " in bad
    assert taken.startswith("CONFLICT: ") and f"already linked to company {CUSTOMER}" in taken
    assert results[1].retryable  # it clears once the other company's link moves, perhaps later in this run
    assert missing.startswith("NOT_FOUND: ") and "Company not found" in missing
    assert sales_order.startswith("BAD_REQUEST: ") and "Only invoices" in sales_order
    assert [r.retryable for r in results] == [False, True, False, False, False]
    assert [r.key for r in results] == [str(SUPPLIER), str(CUSTOMER_SUPPLIER), "500999999", str(SALES_ORDER), str(BILL)]


def test_send_state_is_written_and_read_back_and_a_later_send_changes_only_what_it_gives(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    results = client.write(
        [
            send(
                "orders",
                INVOICE,
                ExternalId="145",
                ExternalNumber="1038",
                ExternalSyncToken=0,
                Balance=106.0,
                SyncMessage=MESSAGE,
            ),
            send("purchaseorders", PURCHASE_ORDER, ExternalId=77),
            send("bills", BILL, ExternalId="88", Balance=Decimal("12.50")),
        ]
    )
    assert all(r.ok and r.created is False for r in results), [r.errors for r in results]
    assert [r.key for r in results] == [str(INVOICE), str(PURCHASE_ORDER), str(BILL)]
    with api(esp.env) as reader:
        state = reader.get(f"orders/{INVOICE}/sendto/QuickBooksOnline").json()
        assert (state["IsSent"], state["DocumentType"], state["ExternalId"], state["ExternalNumber"]) == (
            True,
            "Invoice",
            "145",
            "1038",
        )
        assert (state["ExternalSyncToken"], state["Balance"], state["SyncMessage"]) == ("0", 106.0, MESSAGE)
        assert state["SentBy"] == "API Integration"
        row = reader.get("orders/search", params={"type": "invoice"}).json()["Results"][0]
        assert (row["IsSentToQuickbooks"], row["ExternalId"], row["SyncMessage"]) == (True, "145", MESSAGE)
        po = reader.get(f"purchaseorders/{PURCHASE_ORDER}/sendto/QuickBooksOnline").json()
        assert (po["DocumentType"], po["ExternalId"]) == ("PurchaseOrder", "77")
        assert reader.get(f"bills/{BILL}").json()["Balance"] == 12.5

    # The invoice is paid down and its totals agree again: only those fields are written.
    later = client.write([send("orders", INVOICE, ExternalId="145", Balance=6.0, SyncMessage=None)])
    assert later[0].ok, later[0].errors
    with api(esp.env) as reader:
        state = reader.get(f"orders/{INVOICE}/sendto/QuickBooksOnline").json()
    assert (state["Balance"], state["SyncMessage"], state["ExternalNumber"], state["ExternalSyncToken"]) == (
        6.0,
        None,
        "1038",
        "0",
    )
    assert client.find("orders", "ExternalId", ["145"]) == {}


def test_a_send_the_integration_settings_forbid_is_refused_with_the_api_message(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    with api(esp.env) as admin:
        settings = admin.get("settings/integrations/quickbooks").json()
        changed = admin.put(
            "settings/integrations/quickbooks",
            json={
                "Version": settings["Version"],
                "SendableDocuments": {"PurchaseOrder": False},
                "DocumentSendPermissions": [{"DocumentType": "Bill", "AccessLevel": "Custom", "UserIds": [999999]}],
            },
        )
        assert changed.status_code == 200, changed.text
    client = esp_client()
    results = client.write(
        [
            send("purchaseorders", PURCHASE_ORDER, "po", ExternalId="77"),
            send("bills", BILL, "bill", ExternalId="88"),
            send("orders", INVOICE, "invoice", ExternalId="145"),
        ]
    )
    assert [r.ok for r in results] == [False, False, True]
    assert not results[0].retryable and not results[1].retryable
    assert results[0].errors == (
        f"FORBIDDEN: esp purchaseorders {PURCHASE_ORDER} send as QuickBooks PurchaseOrder 77: "
        "HTTP 403: Sending PurchaseOrder documents to QuickBooks Online is turned off",
    )
    assert "may not send Bill documents to QuickBooks Online" in results[1].errors[0]
    with api(esp.env) as reader:
        assert reader.get(f"bills/{BILL}").json()["IsSentToQuickbooks"] is False


def test_throttling_and_server_errors_are_retried_and_when_retries_run_out_the_write_waits_for_the_next_run(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    assert client.write([link(CUSTOMER, QuickBooksCustomerId="58")])[0].ok  # the token: the faults hit the writes
    fault(esp, kind="throttle", path="sendto", count=1, retry_after=0)
    client.meter.reset()
    [throttled] = client.write([send("orders", INVOICE, ExternalId="145")])
    assert throttled.ok, throttled.errors
    assert (client.meter.calls, client.meter.retries, client.meter.retry_reasons) == (2, 1, {"HTTP 429": 1})

    fault(esp, kind="truncated", path="integrations/quickbooks", count=1)  # applied, then the reply cut in half
    client.meter.reset()
    [damaged] = client.write([link(SUPPLIER, QuickBooksVendorId="72")])
    assert damaged.ok and client.meter.retries == 1
    assert (SUPPLIER, "Supplier", "72", "Vendor", "Matched", None) in linked_rows(esp)

    fault(esp, kind="server_error", path="sendto", count=10)
    exhausted = client.write([send("bills", BILL, ExternalId="88"), send("orders", INVOICE, ExternalId="145")])
    assert all(not r.ok and r.retryable for r in exhausted)
    assert all(r.errors[0].startswith("RETRIES_EXHAUSTED: esp ") and "HTTP 503" in r.errors[0] for r in exhausted)
    fault(esp, kind="server_error", path="sendto", count=0)
    assert client.write([send("bills", BILL, ExternalId="88")])[0].ok  # the next run
    assert not leaked(exhausted, [esp.env["ESP_CLIENT_SECRET"]], client.scrub)


def test_an_expired_token_is_renewed_once_and_refused_credentials_stop_the_load(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    assert client.write([link(CUSTOMER, QuickBooksCustomerId="58")])[0].ok
    fault(esp, kind="expire_session", path="sendto", count=1)
    assert client.write([send("orders", INVOICE, ExternalId="145")])[0].ok
    assert client.tokens_fetched == 2

    fault(esp, kind="expire_session", path="sendto", count=2)  # refused again right after its renewal
    [refused] = client.write([send("bills", BILL, ExternalId="88")])
    assert not refused.ok and refused.retryable  # the session's fault, not the record's: never quarantined for it
    assert refused.errors[0].startswith(f"SESSION_REFUSED: esp bills {BILL} send as QuickBooks Bill 88")

    secret = "a-wrong-secret-value"
    wrong = esp_client(client_secret=secret)
    with pytest.raises(CredentialsError) as raised:
        wrong.write([send("orders", INVOICE, ExternalId="145")])
    assert secret not in str(raised.value) and "HTTP 401" in str(raised.value)
    assert not leaked([refused], [esp.env["ESP_CLIENT_SECRET"]], client.scrub)


def test_update_document_edits_an_invoice_as_a_person_would_and_names_a_refused_field(
    esp: RunningEmulator, esp_client: Callable[..., EspSource]
) -> None:
    client = esp_client()
    invoice = client.update_document("orders", INVOICE, {})
    assert invoice["TotalAmount"] == 100 and invoice["Version"] == 2
    [line] = invoice["LineItems"]
    edited = client.update_document(
        "orders",
        INVOICE,
        {
            "Description": "Rush",
            "LineItems": [{**line, "Quantity": 12}, {"Name": "Freight", "Type": "service", "Price": 6}],
        },
    )
    assert edited["Description"] == "Rush" and edited["TotalAmount"] == 126 and edited["Version"] == 3
    with api(esp.env) as reader:
        assert reader.get(f"orders/{INVOICE}").json() == edited

    with pytest.raises(EspApiError) as raised:
        client.update_document("orders", INVOICE, {"LineItems": [{**line, "Quantity": 0}]})
    assert raised.value.status == 400
    assert str(raised.value) == (
        f"esp update orders/{INVOICE}: HTTP 400: Quantity must be greater than 0 "
        "[LineItems[0].Quantity: Quantity must be greater than 0]"
    )
    with pytest.raises(EspApiError) as stale:
        client.update_document("bills", BILL, {"Version": 0, "Status": "Closed"})  # as if read long ago
    assert stale.value.status == 409
    with pytest.raises(ValueError, match="not 'companies'"):
        client.update_document("companies", CUSTOMER, {"Name": "x"})
