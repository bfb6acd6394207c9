"""The QuickBooks sync's own rules, without servers: normalised names, contacts agreeing, send permissions, the
lines a document is sent with, QBO lines cut to what Crosswalk writes, and the total difference shown in ESP+."""

from __future__ import annotations

from typing import Any

import pytest

from crosswalk.sync.mapper import MappedRecord
from crosswalk.sync.quickbooks import (
    Integration,
    QuickBooksSync,
    _contacts_agree,
    _total_message,
    _written_line,
    normalised_name,
)
from crosswalk.sync.values import FieldType, canonical


def integration(**changes: Any) -> Integration:
    values: dict[str, Any] = {
        "sendable": {"Invoice": True, "PurchaseOrder": True, "Bill": True},
        "send_permissions": {},
        "visibility": ("Everyone", frozenset()),
        "billable": False,
        "item_name_source": "ProductNumber",
        "income_account": "79",
        "expense_account": "80",
        "payable_account": "33",
        "shipping_item": None,
        "tax_code": "TAX",
        "non_taxable_code": "NON",
        "class_id": None,
    }
    values.update(changes)
    return Integration(**values)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ACME, Inc.", "acme"),
        ("Acme Widgets LLC", "Acme  Widgets"),
        ("Café Bleu Ltd.", "cafe bleu"),
        ("Smith & Sons Co", "smith and sons"),
    ],
)
def test_names_that_differ_in_case_punctuation_accents_and_legal_suffix_normalise_alike(a: str, b: str) -> None:
    assert normalised_name(a) == normalised_name(b)


def test_a_suffix_alone_is_a_name_and_different_words_stay_different() -> None:
    assert normalised_name("Inc") == "inc"
    assert normalised_name("Acme Widgets") != normalised_name("Acme Gadgets")


def _company(email: str | None, phone: str | None) -> MappedRecord:
    return MappedRecord("esp", "companies", "1", {"name": "x", "email": email, "phone": phone})


def test_contacts_agree_on_email_ignoring_case_or_on_the_last_ten_phone_digits() -> None:
    assert _contacts_agree(_company("AP@Acme.example", None), _company("ap@acme.example", None))
    assert _contacts_agree(_company(None, "+1 (555) 201-9373"), _company(None, "555.201.9373"))
    assert not _contacts_agree(_company("a@x.example", "555-0100"), _company("b@x.example", "555-0199"))
    assert not _contacts_agree(_company(None, None), _company(None, None))  # nothing to agree on is no agreement


def test_send_permissions_hold_back_by_type_visibility_and_owner() -> None:
    assert integration().hold_reason("Invoice", 7) is None
    off = integration(sendable={"Invoice": False})
    assert "turned off" in (off.hold_reason("Invoice", 7) or "")
    custom = integration(send_permissions={"Invoice": ("Custom", frozenset({7}))})
    assert custom.hold_reason("Invoice", 7) is None
    assert "user 8" in (custom.hold_reason("Invoice", 8) or "")
    assert custom.hold_reason("Bill", 8) is None
    hidden = integration(visibility=("Custom", frozenset({7})))
    assert "not visible" in (hidden.hold_reason("Bill", "8") or "")


def _sync(**changes: Any) -> QuickBooksSync:
    return QuickBooksSync(store=None, mapping=None, integration=integration(**changes))  # type: ignore[arg-type]


def _invoice(**line: Any) -> dict[str, Any]:
    product = {"Type": "product", "Number": "P-1", "Name": "Mug", "Description": "Printed mug",
               "Variants": [{"Quantity": 10, "Price": 2.5, "Cost": 1.1, "IsTaxable": True}], **line}  # fmt: skip
    service = {"Type": "service", "Name": "Setup", "ServiceType": "GSCH", "Quantity": 1, "Price": 40, "Cost": 30,
               "IsTaxable": False}  # fmt: skip
    return {"Id": 9, "Number": "INV-9", "CurrencyCode": "USD", "TotalAmount": 65, "OwnerId": 1,
            "BillingContact": {"Company": {"Id": 5}}, "LineItems": [product, service]}  # fmt: skip


def test_an_invoice_is_sent_with_its_priced_lines_items_named_by_product_number_and_tax_codes() -> None:
    sync = _sync()
    sync._companies = {"5": {"Currency": "USD"}}
    view = sync.document_view("invoice", _invoice())
    assert view["CustomerId"] == "5" and view["LinesTotal"] == 65 and view["LinesWithoutItem"] == 0
    assert view["Lines"] == [
        {"DetailType": "SalesItemLineDetail", "Amount": 25.0, "Description": "Printed mug",
         "SalesItemLineDetail": {"ItemRef": {"value": "P-1"}, "Qty": 10.0, "UnitPrice": 2.5,
                                 "TaxCodeRef": {"value": "TAX"}}},
        {"DetailType": "SalesItemLineDetail", "Amount": 40.0, "Description": "Setup",
         "SalesItemLineDetail": {"ItemRef": {"value": "Setup"}, "Qty": 1.0, "UnitPrice": 40.0,
                                 "TaxCodeRef": {"value": "NON"}}},
    ]  # fmt: skip
    assert view["PartyCurrency"] == "USD" and view["SmallestQuantity"] == 1 and view["LargestQuantity"] == 10


def test_item_names_follow_item_name_source_and_fall_back_to_the_other() -> None:
    sync = _sync(item_name_source="ProductName")
    sync._companies = {}
    lines = sync.document_view("invoice", _invoice())["Lines"]
    assert lines[0]["SalesItemLineDetail"]["ItemRef"]["value"] == "Mug"
    by_number = _sync()
    by_number._companies = {}
    no_number = by_number.document_view("invoice", _invoice(Number=None))["Lines"]
    assert no_number[0]["SalesItemLineDetail"]["ItemRef"]["value"] == "Mug"


def test_billable_purchase_lines_carry_the_customer() -> None:
    sync = _sync(billable=True)
    sync._companies = {}
    purchase_order = {"Id": 3, "Number": "PO-3", "Vendor": {"Id": 8}, "Customer": {"Id": 5}, "TotalCost": 11,
                      "LineItems": [{"Type": "product", "Number": "P-1", "Quantity": 10, "Cost": 1.1}]}  # fmt: skip
    [line] = sync.document_view("purchase_order", purchase_order)["Lines"]
    detail = line["ItemBasedExpenseLineDetail"]
    assert detail["BillableStatus"] == "Billable" and detail["CustomerRef"] == {"value": "5"}
    assert line["Amount"] == 11.0


def test_a_qbo_line_compares_equal_to_the_line_crosswalk_wrote() -> None:
    written = {"DetailType": "SalesItemLineDetail", "Amount": 25.0, "Description": "Printed mug",
               "SalesItemLineDetail": {"ItemRef": {"value": "17"}, "Qty": 10, "UnitPrice": 2.5,
                                       "TaxCodeRef": {"value": "TAX"}}}  # fmt: skip
    from_qbo = {"Id": "1", "LineNum": 1, "DetailType": "SalesItemLineDetail", "Amount": 25,
                "Description": "Printed mug",
                "SalesItemLineDetail": {"ItemRef": {"value": "17", "name": "P-1"}, "Qty": 10.0, "UnitPrice": 2.5,
                                        "TaxCodeRef": {"value": "TAX"}, "ServiceDate": "2026-01-01"}}  # fmt: skip
    assert canonical(FieldType.LINES, [_written_line(from_qbo, integration())]) == canonical(FieldType.LINES, [written])


def test_a_total_qbo_computed_differently_is_reported_to_the_cent() -> None:
    assert _total_message(106.0, 100) == "QuickBooks Online total 106.00 differs from ESP+ total 100.00"
    assert _total_message(100.004, 100) is None
    assert _total_message(None, 100) is None


def test_a_deleted_esp_company_makes_its_qbo_customer_inactive_with_its_sync_token_under_deactivate() -> None:
    from pathlib import Path

    from crosswalk.sync.mapper import map_record
    from crosswalk.sync.plan import Action, EntityData, LinkState, OnDelete, PlanOptions, plan_entity
    from crosswalk.sync.quickbooks import load_quickbooks_mapping

    mapping = load_quickbooks_mapping(Path(__file__).resolve().parents[2] / "config/mappings/quickbooks.yaml")
    entity = mapping.entities["customer"]
    qbo = map_record(mapping, entity, "quickbooks", "58", {"Id": "58", "DisplayName": "Acme", "SyncToken": "3",
                                                           "Active": True})  # fmt: skip
    data = EntityData({}, {"58": qbo}, [LinkState(7, "500", "58")], left_deleted=frozenset({"500"}))
    sync = _sync()
    for on_delete, expected in ((OnDelete.FLAG, Action.FLAG), (OnDelete.DEACTIVATE, Action.UPDATE)):
        plan = plan_entity(mapping, entity, data, lambda rule, target, value: value, PlanOptions(on_delete=on_delete))
        [item] = plan.items
        assert item.action is expected and item.target == "quickbooks" and item.target_key == "58"
    sync._qbo_write(entity, data, item)
    assert item.fixed_values == {"Active": False, "SyncToken": "3"}
