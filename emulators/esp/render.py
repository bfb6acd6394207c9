"""Store records -> ESP+ wire JSON (PascalCase, ASI's date format), for full records and for search rows.

Field names and nesting follow the ESP+ web app's TypeScript models (research note §2); fields marked "ours" in
docs/emulators/esp.md (Version on rows, DueDate, the QuickBooks send details and SyncMessage, POs and bills) fill
gaps.
"""

from __future__ import annotations

from typing import Any

from emulators.esp.dates import format_ms
from emulators.esp.model import (
    TENANT_ID,
    EspStore,
    Line,
    company_member_types,
)

_CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "GBP": "£", "EUR": "€"}


def _money(value: float) -> float:
    return round(value, 2)


# ---- parties -----------------------------------------------------------------------------------------------------


def _owner(store: EspStore, user_id: int | None) -> dict[str, Any] | None:
    user = store.records["User"].get(user_id) if user_id is not None else None
    if user is None:
        return None
    return {"Id": user["Id"], "Name": user["Name"], "IsActive": user["IsActive"], "PersonId": user["Id"]}


def _address(record: dict[str, Any]) -> dict[str, Any] | None:
    if not any(record.get(k) for k in ("Line1", "City", "State", "PostalCode", "Country")):
        return None
    return {
        "Id": record["Id"] * 10 + 1,
        "Name": None,
        "Line1": record.get("Line1"),
        "Line2": record.get("Line2"),
        "City": record.get("City"),
        "County": None,
        "State": record.get("State"),
        "PostalCode": record.get("PostalCode"),
        "Country": record.get("Country"),
        "Type": "GNRL",
        "IsPrimary": True,
    }


def _emails(record: dict[str, Any]) -> list[dict[str, Any]]:
    email = record.get("Email")
    return [{"Id": record["Id"] * 10 + 2, "Address": email, "IsPrimary": True, "Type": "Work"}] if email else []


def _phones(record: dict[str, Any]) -> list[dict[str, Any]]:
    phone = record.get("Phone")
    if not phone:
        return []
    return [{"Id": record["Id"] * 10 + 3, "Type": "Office", "Number": phone, "Extension": None, "IsPrimary": True}]


def _websites(record: dict[str, Any]) -> list[dict[str, Any]]:
    url = record.get("Website")
    return [{"Id": record["Id"] * 10 + 4, "Type": "Corporate", "Url": url, "IsPrimary": True}] if url else []


def _shareable(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "TenantId": TENANT_ID,
        "OwnerId": record.get("OwnerId"),
        "Owner": _owner(store, record.get("OwnerId")),
        "AccessLevel": "Everyone",
        "Access": [{"AccessLevel": "Everyone", "AccessType": "ReadWrite", "EntityId": 0}],
        "IsVisible": True,
        "IsEditable": True,
    }


def render_link(store: EspStore, link: dict[str, Any]) -> dict[str, Any]:
    company = store.records["Company"].get(link["CompanyId"])
    return {
        "CompanyId": link["CompanyId"],
        "CompanyName": company["Name"] if company else None,
        "MemberType": link["MemberType"],
        "IsLinked": True,
        "QuickBooksId": link["QuickBooksId"],
        "QuickBooksDisplayName": link["QuickBooksDisplayName"],
        "QuickBooksEntity": link["QuickBooksEntity"],
        "Source": link["Source"],
        "LinkedBy": link["LinkedBy"],
        "LinkedDate": format_ms(link["LinkedDate"]),
        "UpdateDate": format_ms(link["UpdateDate"]),
        "Version": link["Version"],
    }


def render_unlinked(company: dict[str, Any], member_type: str) -> dict[str, Any]:
    return {
        "CompanyId": company["Id"],
        "CompanyName": company["Name"],
        "MemberType": member_type,
        "IsLinked": False,
        "QuickBooksId": None,
        "QuickBooksDisplayName": None,
        "QuickBooksEntity": None,
        "Source": None,
        "LinkedBy": None,
        "LinkedDate": None,
        "UpdateDate": None,
        "Version": None,
    }


def render_company(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    address = _address(record)
    return {
        "Id": record["Id"],
        "Name": record["Name"],
        "Code": record.get("Code"),
        "IsCompany": True,
        "IsPerson": False,
        "IsCustomer": record["IsCustomer"],
        "IsSupplier": record["IsSupplier"],
        "IsDecorator": record["IsDecorator"],
        "IsProspect": record["IsProspect"],
        "IsAsiMember": bool(record.get("IsAsiMember")),
        "AsiNumber": record.get("AsiNumber"),
        "IsActive": record["IsActive"],
        "Currency": record.get("Currency") or "USD",
        "Emails": _emails(record),
        "Phones": _phones(record),
        "Addresses": [address] if address else [],
        "Websites": _websites(record),
        "Tags": list(record.get("Tags") or ()),
        **_shareable(store, record),
        "ExternalId": record.get("ExternalId"),
        "ExternalRecordId": record.get("ExternalRecordId"),
        "QuickBooksLinks": [render_link(store, link) for link in store.company_links(record["Id"])],
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
        "LastActivityDate": format_ms(record.get("LastActivityDate")),
    }


def render_company_row(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    address = _address(record)
    emails = _emails(record)
    return {
        "Id": record["Id"],
        "Name": record["Name"],
        "Types": company_member_types(record),
        "AsiNumber": [record["AsiNumber"]] if record.get("AsiNumber") else [],
        "PrimaryAddress": address,
        "Addresses": [address] if address else [],
        "PrimaryPhone": record.get("Phone"),
        "PrimaryEmail": record.get("Email"),
        "Emails": [e["Address"] for e in emails],
        "PrimaryWebsite": record.get("Website"),
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
        "LastActivityDate": format_ms(record.get("LastActivityDate")),
        "IsActive": record["IsActive"],
        "Tags": list(record.get("Tags") or ()),
        "ExternalRecordId": record.get("ExternalRecordId"),
        "Owner": _owner(store, record.get("OwnerId")),
        "AcknowledgementContact": None,
        "Code": record.get("Code"),
        "Version": record["Version"],
    }


def _contact_company(store: EspStore, record: dict[str, Any]) -> dict[str, Any] | None:
    company = store.records["Company"].get(record.get("CompanyId")) if record.get("CompanyId") else None
    if company is None:
        return None
    return {"Id": company["Id"], "Name": company["Name"], "IsCompany": True, "IsPerson": False}


def render_contact(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    company = _contact_company(store, record)
    links = []
    if company is not None:
        links.append(
            {
                "Id": record["Id"] * 10 + 5,
                "Title": record.get("Title"),
                "Comment": None,
                "Type": {"Id": 1, "Code": "EMPL", "ForwardTitle": "Employee", "ReverseTitle": "Employer"},
                "To": company,
                "From": {"Id": record["Id"], "Name": record["Name"], "IsCompany": False, "IsPerson": True},
                "Reverse": False,
            }
        )
    return {
        "Id": record["Id"],
        "Name": record["Name"],
        "GivenName": record.get("GivenName"),
        "FamilyName": record.get("FamilyName"),
        "Title": record.get("Title"),
        "IsCompany": False,
        "IsPerson": True,
        "IsUser": False,
        "IsSalesPerson": False,
        "IsProspect": False,
        "IsActive": record["IsActive"],
        "Emails": _emails(record),
        "Phones": _phones(record),
        "Addresses": [],
        "Websites": [],
        "Tags": [],
        **_shareable(store, record),
        "Links": links,
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
    }


def render_contact_row(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": record["Id"],
        "Name": record["Name"],
        "GivenName": record.get("GivenName"),
        "FamilyName": record.get("FamilyName"),
        "Title": record.get("Title"),
        "PrimaryEmail": record.get("Email"),
        "PrimaryPhone": record.get("Phone"),
        "Company": _contact_company(store, record),
        "IsActive": record["IsActive"],
        "Owner": _owner(store, record.get("OwnerId")),
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
        "Version": record["Version"],
    }


def render_user(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": record["Id"],
        "Name": record["Name"],
        "GivenName": record.get("GivenName"),
        "FamilyName": record.get("FamilyName"),
        "Email": record.get("Email"),
        "UserName": record.get("UserName"),
        "TenantId": TENANT_ID,
        "IsAdmin": bool(record.get("IsAdmin")),
        "IsActive": record["IsActive"],
        "Teams": [],
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
    }


# ---- documents ---------------------------------------------------------------------------------------------------


def _vendor(store: EspStore, company_id: int | None) -> dict[str, Any] | None:
    if company_id is None:
        return None
    company = store.records["Company"].get(company_id)
    if company is None:
        return {
            "Id": company_id,
            "ExternalId": None,
            "Name": None,
            "AsiNumber": None,
            "IsSupplier": None,
            "IsDecorator": None,
            "IsAsiMember": None,
            "PrimaryPhone": None,
        }
    return {
        "Id": company["Id"],
        "ExternalId": company.get("ExternalId"),
        "Name": company["Name"],
        "AsiNumber": company.get("AsiNumber"),
        "IsSupplier": company["IsSupplier"],
        "IsDecorator": company["IsDecorator"],
        "IsAsiMember": bool(company.get("IsAsiMember")),
        "PrimaryPhone": company.get("Phone"),
    }


def _company_view(store: EspStore, company_id: int | None) -> dict[str, Any] | None:
    if company_id is None:
        return None
    company = store.records["Company"].get(company_id)
    return {"Id": company_id, "Name": company["Name"] if company else None, "IsCompany": True}


def _order_contact(store: EspStore, record: dict[str, Any]) -> dict[str, Any] | None:
    company = _company_view(store, record.get("CustomerId"))
    contact = store.records["Contact"].get(record.get("ContactId")) if record.get("ContactId") else None
    if company is None and contact is None:
        return None
    return {
        "Id": contact["Id"] if contact else None,
        "Name": contact["Name"] if contact else None,
        "CompanyName": company["Name"] if company else None,
        "EmailAddress": contact.get("Email") if contact else None,
        "Address": None,
        "Company": company,
        "Party": {"Id": contact["Id"], "Name": contact["Name"], "IsCompany": False} if contact else None,
        "UserId": None,
    }


def _send_state(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "IsSentToQuickbooks": bool(record.get("IsSentToQuickbooks")),
        "IsSentToSmartbooks": False,
        "IsSentToProfitMaker": False,
        "ExternalId": record.get("ExternalId"),
        "SyncMessage": record.get("SyncMessage"),
        "ExternalNumber": record.get("ExternalNumber"),
        "ExternalSyncToken": record.get("ExternalSyncToken"),
        "Balance": record.get("Balance"),
        "ExternalSentBy": record.get("ExternalSentBy"),
        "ExternalSentDate": format_ms(record.get("ExternalSentDate")),
    }


def render_send_state(object_name: str, record: dict[str, Any], document_type: str | None) -> dict[str, Any]:
    return {
        "IsSent": bool(record.get("IsSentToQuickbooks")),
        "DocumentType": document_type,
        "DocumentId": record["Id"],
        "ExternalId": record.get("ExternalId"),
        "SyncMessage": record.get("SyncMessage"),
        "ExternalNumber": record.get("ExternalNumber"),
        "ExternalSyncToken": record.get("ExternalSyncToken"),
        "Balance": record.get("Balance"),
        "SentBy": record.get("ExternalSentBy"),
        "SentDate": format_ms(record.get("ExternalSentDate")),
        "Version": record["Version"],
    }


def render_order_line(store: EspStore, line: Line, sequence: int, currency: str) -> dict[str, Any]:
    amount = _money(line.Quantity * line.Price)
    cost = _money(line.Quantity * line.Cost)
    common = {
        "Id": line.Id,
        "Type": line.Type,
        "Sequence": sequence,
        "Number": line.Number,
        "Name": line.Name,
        "Description": line.Description,
        "Status": "Open",
        "CurrencyCode": currency,
        "CurrencySymbol": _CURRENCY_SYMBOLS.get(currency, "$"),
        "Supplier": _vendor(store, line.SupplierId),
        "TaxRates": [],
        "Totals": {
            "Units": line.Quantity,
            "Amount": amount,
            "Cost": cost,
            "Margin": _money(amount - cost),
            "TaxableAmount": amount if line.IsTaxable else 0,
            "SalesTax": 0,
        },
    }
    if line.Type == "service":
        return {
            **common,
            "ServiceType": "GSCH",
            "Quantity": line.Quantity,
            "Price": line.Price,
            "Cost": line.Cost,
            "IsTaxable": line.IsTaxable,
        }
    return {
        **common,
        "ProductId": line.ProductId,
        "Variants": [
            {
                "Id": line.Id + 50,
                "SKU": line.Number,
                "Quantity": line.Quantity,
                "Price": line.Price,
                "Cost": line.Cost,
                "IsTaxable": line.IsTaxable,
                "CurrencyCode": currency,
            }
        ],
        "ServiceCharges": [],
        "Decorations": [],
    }


def _totals(lines: tuple[Line, ...]) -> tuple[float, float]:
    amount = sum(line.Quantity * line.Price for line in lines)
    cost = sum(line.Quantity * line.Cost for line in lines)
    return _money(amount), _money(cost)


def render_order(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    currency = record.get("CurrencyCode") or "USD"
    total, cost = _totals(record["Lines"])
    contact = _order_contact(store, record)
    return {
        "Id": record["Id"],
        "Type": record["Type"],
        "Number": record["Number"],
        "Description": record.get("Description"),
        "Date": format_ms(record.get("Date")),
        "DueDate": format_ms(record.get("DueDate")),
        "Status": record.get("Status") or "Open",
        "POReference": record.get("POReference"),
        "ProjectId": None,
        "BillingContact": contact,
        "ShippingContact": contact,
        "Salespersons": [{"Id": owner["Id"], "Name": owner["Name"]}]
        if (owner := _owner(store, record.get("OwnerId")))
        else [],
        "OwnerId": record.get("OwnerId"),
        "TenantId": TENANT_ID,
        "CurrencyCode": currency,
        "CurrencySymbol": _CURRENCY_SYMBOLS.get(currency, "$"),
        "CurrencyRate": 1,
        "LineItems": [render_order_line(store, line, seq, currency) for seq, line in enumerate(record["Lines"])],
        "References": [],
        "Subtotal": total,
        "TotalAmount": total,
        "TotalCost": cost,
        "TotalMargin": _money(total - cost),
        "TotalSalesTaxAmount": 0,
        "AmountDue": total,
        "AmountPaid": 0,
        **_send_state(record),
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "CreatedBy": store.user_name(record.get("CreatedBy")),
        "UpdateDate": format_ms(record["UpdateDate"]),
        "UpdatedBy": store.user_name(record.get("UpdatedBy")),
        "IsVisible": True,
        "IsEditable": True,
    }


def render_order_row(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    total, _ = _totals(record["Lines"])
    contact = _order_contact(store, record)
    suppliers: list[str] = []
    for line in record["Lines"]:
        vendor = _vendor(store, line.SupplierId)
        if vendor and vendor["Name"] and vendor["Name"] not in suppliers:
            suppliers.append(vendor["Name"])
    owner = _owner(store, record.get("OwnerId"))
    return {
        "Id": record["Id"],
        "Type": record["Type"],
        "Number": record["Number"],
        "Description": record.get("Description"),
        "Supplier": ", ".join(suppliers),
        "Product": record["Lines"][0].Name if record["Lines"] else None,
        "Customer": contact["CompanyName"] if contact else None,
        "BillingContact": contact,
        "ShippingContact": contact,
        "Date": format_ms(record.get("Date")),
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
        "InHandsDate": None,
        "Status": record.get("Status") or "Open",
        "StatusColor": "#2e7d32",
        "Total": total,
        "AmountDue": total,
        "Salespersons": [{"Id": owner["Id"], "Name": owner["Name"]}] if owner else [],
        "LineItems": [
            {
                "Id": line.Id,
                "ProductId": line.ProductId,
                "Number": line.Number,
                "Name": line.Name,
                "Quantity": line.Quantity,
                "IsTaxable": line.IsTaxable,
                "Supplier": (_vendor(store, line.SupplierId) or {}).get("Name"),
                "IsProduct": line.Type == "product",
            }
            for line in record["Lines"]
        ],
        "CurrencyCode": record.get("CurrencyCode") or "USD",
        **_send_state(record),
        "References": [],
        "POReference": record.get("POReference"),
        "ProjectId": None,
        "OwnerId": record.get("OwnerId"),
        "TenantId": TENANT_ID,
        "IsEditable": True,
        "Version": record["Version"],
    }


def _cost_line(line: Line, sequence: int) -> dict[str, Any]:
    return {
        "Id": line.Id,
        "Sequence": sequence,
        "Type": line.Type,
        "Number": line.Number,
        "Name": line.Name,
        "Description": line.Description,
        "ProductId": line.ProductId,
        "Quantity": line.Quantity,
        "Cost": line.Cost,
        "TotalCost": _money(line.Quantity * line.Cost),
    }


def render_purchase_order(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    _, cost = _totals(record["Lines"])
    order = store.records["Order"].get(record.get("OrderId")) if record.get("OrderId") else None
    vendor = _vendor(store, record.get("VendorId"))
    return {
        "Id": record["Id"],
        "Number": record["Number"],
        "OrderId": record.get("OrderId"),
        "OrderNumber": order["Number"] if order else None,
        "Vendor": vendor,
        "IsDecoratorPO": bool(vendor and vendor["IsDecorator"] and not vendor["IsSupplier"]),
        "Customer": _company_view(store, record.get("CustomerId")),
        "Date": format_ms(record.get("Date")),
        "Status": record.get("Status") or "Open",
        "CurrencyCode": record.get("CurrencyCode") or "USD",
        "LineItems": [_cost_line(line, seq) for seq, line in enumerate(record["Lines"])],
        "TotalCost": cost,
        "OwnerId": record.get("OwnerId"),
        "TenantId": TENANT_ID,
        **_send_state(record),
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
    }


def render_bill(store: EspStore, record: dict[str, Any]) -> dict[str, Any]:
    _, cost = _totals(record["Lines"])
    purchase_order = (
        store.records["PurchaseOrder"].get(record.get("PurchaseOrderId")) if record.get("PurchaseOrderId") else None
    )
    return {
        "Id": record["Id"],
        "Number": record["Number"],
        "PurchaseOrderId": record.get("PurchaseOrderId"),
        "PurchaseOrderNumber": purchase_order["Number"] if purchase_order else None,
        "Vendor": _vendor(store, record.get("VendorId")),
        "Customer": _company_view(store, record.get("CustomerId")),
        "Date": format_ms(record.get("Date")),
        "DueDate": format_ms(record.get("DueDate")),
        "Status": record.get("Status") or "Open",
        "CurrencyCode": record.get("CurrencyCode") or "USD",
        "LineItems": [
            {**_cost_line(line, seq), "Amount": _money(line.Quantity * line.Cost)}
            for seq, line in enumerate(record["Lines"])
        ],
        "TotalAmount": cost,
        "OwnerId": record.get("OwnerId"),
        "TenantId": TENANT_ID,
        **_send_state(record),
        "Version": record["Version"],
        "CreateDate": format_ms(record["CreateDate"]),
        "UpdateDate": format_ms(record["UpdateDate"]),
    }


def render_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings,
        "ConnectedDate": format_ms(settings["ConnectedDate"]),
        "UpdateDate": format_ms(settings["UpdateDate"]),
    }


def render_deletion(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "DeletedDate": format_ms(entry["DeletedDate"])}


FULL_RENDERERS = {
    "Company": render_company,
    "Contact": render_contact,
    "User": render_user,
    "Order": render_order,
    "PurchaseOrder": render_purchase_order,
    "Bill": render_bill,
}
ROW_RENDERERS = {
    "Company": render_company_row,
    "Contact": render_contact_row,
    "User": render_user,
    "Order": render_order_row,
    "PurchaseOrder": render_purchase_order,
    "Bill": render_bill,
}
