"""ESP+ wire JSON -> store fields: what a write (or an admin seed) may set, validated with ASI-style 400 errors.

ESP+ keeps lists of emails, phones, addresses and websites; this emulator keeps the primary (or first) of each and
renders it back as a one-element list (a documented simplification).
"""

from __future__ import annotations

from typing import Any

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
    for key in ("ExternalId", "ExternalNumber", "ExternalSyncToken", "ExternalSentBy"):
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
