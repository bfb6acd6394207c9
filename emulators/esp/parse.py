"""ESP+ wire JSON -> store fields: what a write (or an admin seed) may set, validated with ASI-style 400 errors.

ESP+ keeps lists of emails, phones, addresses and websites; this emulator keeps the primary (or first) of each and
renders it back as a one-element list (a documented simplification).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from emulators.esp.dates import parse_instant
from emulators.esp.errors import bad_request
from emulators.esp.model import MEMBER_TYPES, Line

_COMPANY_TEXT = ("Name", "Code", "AsiNumber", "Currency", "ExternalRecordId")
_COMPANY_FLAGS = ("IsCustomer", "IsSupplier", "IsDecorator", "IsProspect", "IsAsiMember", "IsActive")
_SYSTEM_STAMPS = ("CreateDate", "UpdateDate", "LastActivityDate")


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string", key)
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false", key)
    return value


def _int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(f"{key} must be an integer", key)
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{key} must be a number", key)
    return value


def _primary(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    items = body.get(key)
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad_request(f"{key} must be a list of objects", key)
    return next((item for item in items if item.get("IsPrimary")), items[0] if items else {})


def party_contact_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Email, phone, address and website from ESP's lists (or the flat Primary* fields of a search row)."""
    fields: dict[str, Any] = {}
    if (email := _primary(body, "Emails")) is not None:
        fields["Email"] = email.get("Address")
    elif "PrimaryEmail" in body:
        fields["Email"] = _text(body, "PrimaryEmail")
    if (phone := _primary(body, "Phones")) is not None:
        fields["Phone"] = phone.get("Number")
    elif "PrimaryPhone" in body:
        fields["Phone"] = _text(body, "PrimaryPhone")
    if (website := _primary(body, "Websites")) is not None:
        fields["Website"] = website.get("Url")
    address = _primary(body, "Addresses")
    if address is None and isinstance(body.get("PrimaryAddress"), dict):
        address = body["PrimaryAddress"]
    if address is not None:
        for key in ("Line1", "Line2", "City", "State", "PostalCode", "Country"):
            fields[key] = address.get(key)
    return fields


def company_fields(body: Any) -> dict[str, Any]:
    """The fields a POST/PUT /companies body sets (absent fields are left as they are)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a Company object")
    fields: dict[str, Any] = {}
    for key in _COMPANY_TEXT:
        if key in body:
            fields[key] = _text(body, key)
    for key in _COMPANY_FLAGS:
        if key in body:
            fields[key] = _flag(body, key)
    if "Types" in body and not any(flag in body for _, flag in MEMBER_TYPES.values()):
        types = body["Types"]
        if not isinstance(types, list):
            raise bad_request("Types must be a list", "Types")
        wanted = {str(t).lower() for t in types}
        for term, (_, flag) in MEMBER_TYPES.items():
            fields[flag] = term in wanted
    if "Tags" in body:
        tags = body["Tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad_request("Tags must be a list of strings", "Tags")
        fields["Tags"] = tuple(tags)
    for key in ("OwnerId", "ExternalId"):
        if key in body:
            fields[key] = _int(body, key)
    fields.update(party_contact_fields(body))
    return fields


def system_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Id, Version and stamps an admin seed may set explicitly (otherwise the store fills them)."""
    fields: dict[str, Any] = {}
    if body.get("Id") is not None:
        fields["Id"] = _int(body, "Id")
    if body.get("Version") is not None:
        fields["Version"] = _int(body, "Version")
    for key in _SYSTEM_STAMPS:
        if isinstance(body.get(key), str):
            fields[key] = parse_instant(body[key], key)
    return fields


def contact_fields(body: dict[str, Any]) -> dict[str, Any]:
    given, family = _text(body, "GivenName"), _text(body, "FamilyName")
    name = _text(body, "Name") or " ".join(part for part in (given, family) if part)
    if not name:
        raise bad_request("Name or GivenName/FamilyName is required", "Name")
    company_id = _int(body, "CompanyId")
    if company_id is None and isinstance(body.get("Company"), dict):
        company_id = _int(body["Company"], "Id")
    for link in body.get("Links") or ():
        if company_id is None and isinstance(link, dict) and isinstance(link.get("To"), dict):
            company_id = _int(link["To"], "Id")
    return {
        "Name": name,
        "GivenName": given,
        "FamilyName": family,
        "Title": _text(body, "Title"),
        "CompanyId": company_id,
        "IsActive": body.get("IsActive", True) is not False,
        "OwnerId": _int(body, "OwnerId"),
        **party_contact_fields(body),
    }


def user_fields(body: dict[str, Any]) -> dict[str, Any]:
    given, family = _text(body, "GivenName"), _text(body, "FamilyName")
    name = _text(body, "Name") or " ".join(part for part in (given, family) if part)
    if not name:
        raise bad_request("Name is required", "Name")
    email = _text(body, "Email")
    return {
        "Name": name,
        "GivenName": given,
        "FamilyName": family,
        "Email": email,
        "UserName": _text(body, "UserName") or email,
        "IsAdmin": body.get("IsAdmin") is True,
        "IsActive": body.get("IsActive", True) is not False,
    }


def _reference_id(body: dict[str, Any], flat_key: str, nested_key: str) -> int | None:
    value = _int(body, flat_key)
    if value is None and isinstance(body.get(nested_key), dict):
        value = _int(body[nested_key], "Id")
    return value


def document_lines(body: dict[str, Any], parent_id: int, default_supplier: int | None) -> tuple[Line, ...]:
    items = body.get("LineItems") or []
    if not isinstance(items, list):
        raise bad_request("LineItems must be a list", "LineItems")
    lines = []
    for sequence, item in enumerate(items):
        field = f"LineItems[{sequence}]"
        if not isinstance(item, dict):
            raise bad_request(f"{field} must be an object", field)
        variant = (item.get("Variants") or [{}])[0]
        quantity = item.get("Quantity", variant.get("Quantity", 1))
        price = item.get("Price", variant.get("Price", 0))
        cost = item.get("Cost", variant.get("Cost", 0))
        supplier = item.get("Supplier")
        supplier_id = supplier.get("Id") if isinstance(supplier, dict) else item.get("SupplierId", default_supplier)
        lines.append(
            Line(
                Id=item.get("Id") or parent_id * 100 + sequence + 1,
                Type=item.get("Type") or "product",
                Number=item.get("Number"),
                Name=item.get("Name") or item.get("Description") or "",
                Description=item.get("Description"),
                ProductId=item.get("ProductId"),
                Quantity=_number(quantity, f"{field}.Quantity"),
                Price=_number(price, f"{field}.Price"),
                Cost=_number(cost, f"{field}.Cost"),
                IsTaxable=bool(item.get("IsTaxable", variant.get("IsTaxable", False))),
                SupplierId=supplier_id,
            )
        )
    return tuple(lines)


def _document_common(body: dict[str, Any]) -> dict[str, Any]:
    number = _text(body, "Number")
    if not number:
        raise bad_request("Number is required", "Number")
    fields: dict[str, Any] = {
        "Number": number,
        "Status": _text(body, "Status") or "Open",
        "CurrencyCode": _text(body, "CurrencyCode") or "USD",
        "OwnerId": _int(body, "OwnerId"),
        "IsSentToQuickbooks": body.get("IsSentToQuickbooks") is True,
    }
    for key in ("Date", "DueDate", "ExternalSentDate"):
        if isinstance(body.get(key), str):
            fields[key] = parse_instant(body[key], key)
    for key in ("ExternalId", "ExternalNumber", "ExternalSyncToken", "ExternalSentBy", "SyncMessage"):
        fields[key] = _text(body, key)
    if body.get("Balance") is not None:
        fields["Balance"] = _number(body["Balance"], "Balance")
    return fields


def order_fields(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("Type") or "order"
    if kind not in ("order", "invoice", "quote", "samplerequest"):
        raise bad_request("Type must be order, invoice, quote or samplerequest", "Type")
    billing = body.get("BillingContact") if isinstance(body.get("BillingContact"), dict) else {}
    customer_id = _int(body, "CustomerId") or _reference_id(billing, "CompanyId", "Company")
    contact_id = _int(body, "ContactId") or _int(billing, "Id")
    return {
        **_document_common(body),
        "Type": kind,
        "Description": _text(body, "Description"),
        "POReference": _text(body, "POReference"),
        "CustomerId": customer_id,
        "ContactId": contact_id,
    }


def purchase_order_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **_document_common(body),
        "OrderId": _int(body, "OrderId"),
        "VendorId": _reference_id(body, "VendorId", "Vendor"),
        "CustomerId": _reference_id(body, "CustomerId", "Customer"),
    }


def bill_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **_document_common(body),
        "PurchaseOrderId": _int(body, "PurchaseOrderId"),
        "VendorId": _reference_id(body, "VendorId", "Vendor"),
        "CustomerId": _reference_id(body, "CustomerId", "Customer"),
    }


# ---- document edits (PUT /orders|purchaseorders|bills/{id}) --------------------------------------------------------

# What a PUT may change on each document; every other field in the body is read-only and ignored, as on companies.
_EDITABLE_TEXT = {
    "Order": ("Description", "POReference", "CurrencyCode", "Status"),
    "PurchaseOrder": ("CurrencyCode", "Status"),
    "Bill": ("CurrencyCode", "Status"),
}
_EDITABLE_DATES = {"Order": ("Date", "DueDate"), "PurchaseOrder": ("Date",), "Bill": ("Date", "DueDate")}
# Parties as the full view nests them: wire object -> store field.
_EDITABLE_PARTIES = {"PurchaseOrder": {"Vendor": "VendorId", "Customer": "CustomerId"}}
_EDITABLE_PARTIES["Bill"] = _EDITABLE_PARTIES["PurchaseOrder"]
_LINE_AMOUNTS = ("Quantity", "Price", "Cost")
_LINE_TEXT = ("Name", "Number", "Description")
_LINE_TYPES = ("product", "service")


class LineEdit(NamedTuple):
    """One entry of a PUT's LineItems: an existing line (by Id) with the values it changes, or a new line."""

    field: str  # where it sits in the body, e.g. LineItems[2]
    line_id: int | None  # None: a line to add
    changes: dict[str, Any]  # Line field -> validated value


class DocumentEdit(NamedTuple):
    """What a document PUT asks for, its values checked for type; the store checks them against the document."""

    fields: dict[str, Any]  # store field -> value (dates as epoch ms)
    parties: dict[str, tuple[str, int | None]]  # store field -> (the body field naming it, company or contact id)
    lines: tuple[LineEdit, ...] | None  # None: LineItems absent, the lines stay as they are


def _text_at(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{field} must be a string", field)
    return value


def _id_at(value: Any, field: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(f"{field} must be an integer", field)
    return value


def _party_id(body: dict[str, Any], key: str, prefix: str = "") -> tuple[str, int | None]:
    """A party object ({"Id": ...}) or null, as the body field naming the id (under `prefix`) and the id."""
    party, field = body[key], prefix + key
    if party is None:
        return field, None
    if not isinstance(party, dict):
        raise bad_request(f"{field} must be an object with an Id, or null", field)
    return f"{field}.Id", _id_at(party.get("Id"), f"{field}.Id")


def _amount(value: Any, field: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{key} must be a number", field)
    if key == "Quantity" and value <= 0:
        raise bad_request("Quantity must be greater than 0", field)
    if value < 0:
        raise bad_request(f"{key} must not be negative", field)
    return value


def _line_edit(item: Any, field: str) -> LineEdit:
    if not isinstance(item, dict):
        raise bad_request(f"{field} must be an object", field)
    # Product lines carry their amounts on Variants[0] (as GET shows them); a top-level value wins.
    variants = item.get("Variants")
    variant = variants[0] if isinstance(variants, list) and variants and isinstance(variants[0], dict) else {}
    changes: dict[str, Any] = {}
    for key in _LINE_AMOUNTS:
        if key in item:
            changes[key] = _amount(item[key], f"{field}.{key}", key)
        elif key in variant:
            changes[key] = _amount(variant[key], f"{field}.Variants[0].{key}", key)
    for key in _LINE_TEXT:
        if key in item:
            changes[key] = _text_at(item[key], f"{field}.{key}")
    if "Name" in changes and not (changes["Name"] or "").strip():
        raise bad_request("Name is required", f"{field}.Name")
    line_id = _id_at(item.get("Id"), f"{field}.Id")
    if line_id is not None:
        return LineEdit(field, line_id, changes)
    if "Name" not in changes:
        raise bad_request("Name is required", f"{field}.Name")
    kind = item.get("Type") or "product"
    if kind not in _LINE_TYPES:
        raise bad_request("Type must be product or service", f"{field}.Type")
    taxable = item.get("IsTaxable", variant.get("IsTaxable", False))
    if not isinstance(taxable, bool):
        raise bad_request("IsTaxable must be true or false", f"{field}.IsTaxable")
    changes.update(Type=kind, IsTaxable=taxable, ProductId=_id_at(item.get("ProductId"), f"{field}.ProductId"))
    if "Supplier" in item:
        changes["SupplierId"] = _party_id(item, "Supplier", f"{field}.")
    return LineEdit(field, None, changes)


def document_edit(object_name: str, body: dict[str, Any]) -> DocumentEdit:
    """The changes a PUT /{orders|purchaseorders|bills}/{id} body asks for (absent fields are left as they are)."""
    fields: dict[str, Any] = {}
    for key in _EDITABLE_TEXT[object_name]:
        if key in body:
            fields[key] = _text(body, key)
    for key in _EDITABLE_DATES[object_name]:
        if key not in body:
            continue
        value = body[key]
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{key} must be an ISO-8601 date-time or null", key)
        fields[key] = parse_instant(value, key) if value is not None else None
    parties: dict[str, tuple[str, int | None]] = {}
    if object_name == "Order" and "BillingContact" in body:
        billing = body["BillingContact"]
        if billing is None:
            parties["CustomerId"] = ("BillingContact", None)
        elif not isinstance(billing, dict):
            raise bad_request("BillingContact must be an object", "BillingContact")
        else:
            if "Company" in billing:
                parties["CustomerId"] = _party_id(billing, "Company", "BillingContact.")
            if "Id" in billing:
                parties["ContactId"] = ("BillingContact.Id", _id_at(billing["Id"], "BillingContact.Id"))
    for key, store_field in _EDITABLE_PARTIES.get(object_name, {}).items():
        if key in body:
            parties[store_field] = _party_id(body, key)
    lines = None
    if "LineItems" in body:
        items = body["LineItems"]
        if not isinstance(items, list):
            raise bad_request("LineItems must be a list", "LineItems")
        lines = tuple(_line_edit(item, f"LineItems[{index}]") for index, item in enumerate(items))
    return DocumentEdit(fields, parties, lines)
