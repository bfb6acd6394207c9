"""The ESP+ side of the shared generated world: companies, contacts, users, documents, sends and QuickBooks links.

Ids are computed from world indexes (customers and vendors interleave in the company id range), so any process can
name an ESP+ record without this one. Records referencing a company that exists only on the QuickBooks side keep
that company's computed id (ESP+ shows such references with a null Name).
"""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.esp.dates import ms_from_date, ms_from_datetime
from emulators.esp.model import ID_BASES, INTEGRATION_USER_NAME, LINK_OBJECT, EspStore, Line, integration_user
from emulators.world import HISTORY_START, Presence, World, quickbooks_id

TIE_GROUP_EVERY = 25  # every 25th seeded record starts a run of three records sharing one UpdateDate
TIE_GROUP_SIZE = 3
ASI_PRODUCT_ID_BASE = 7_000_000


def customer_company_id(index: int) -> int:
    return ID_BASES["Company"] + 2 * index + 1


def vendor_company_id(index: int) -> int:
    return ID_BASES["Company"] + 2 * index + 2


def contact_id(index: int) -> int:
    return ID_BASES["Contact"] + index + 1


def user_id(index: int) -> int:
    return ID_BASES["User"] + index + 1


def document_id(kind: str, index: int) -> int:
    """Sales orders and invoices share the Order ids (interleaved); POs and bills have their own."""
    if kind == "sales_order":
        return ID_BASES["Order"] + 2 * index + 1
    if kind == "invoice":
        return ID_BASES["Order"] + 2 * index + 2
    return ID_BASES["PurchaseOrder" if kind == "purchase_order" else "Bill"] + index + 1


def _right_name(name: str, presence: Presence) -> str:
    return f"{name} (edited)" if presence is Presence.DRIFTED else name


def apply_update_ties(records: list[dict[str, Any]]) -> None:
    """Give runs of seeded records one shared UpdateDate (the latest of the run), as a bulk import would."""
    for start in range(0, len(records), TIE_GROUP_EVERY):
        group = records[start : start + TIE_GROUP_SIZE]
        stamp = max(r["UpdateDate"] for r in group)
        for record in group:
            record["UpdateDate"] = stamp
            if "LastActivityDate" in record:
                record["LastActivityDate"] = stamp


def _stamped(record_id: int, created: datetime, modified: datetime, owner: int) -> dict[str, Any]:
    # World stamps are whole seconds; ESP+ stamps carry milliseconds, so each record gets a fixed millisecond
    # within the world's second (deterministic from its id, and never moving it to another second).
    millis = record_id * 7919 % 1000
    created_ms = ms_from_datetime(created) // 1000 * 1000 + millis
    modified_ms = max(ms_from_datetime(modified) // 1000 * 1000 + millis, created_ms)
    return {
        "Version": 2 if modified_ms > created_ms else 1,
        "CreateDate": created_ms,
        "UpdateDate": modified_ms,
        "CreatedBy": owner,
        "UpdatedBy": owner,
    }


def generate_esp_world(store: EspStore, world: World) -> dict[str, int]:
    counts = world.counts
    view = copy.copy(world)
    # Documents look their products up again and again; memoising keeps scale 100000 within seconds.
    view.product = functools.cache(world.product)  # type: ignore[method-assign]
    n_users = max(counts["users"], 1)

    users = [integration_user()]
    for i in range(counts["users"]):
        person = view.employee(i)
        created = ms_from_datetime(HISTORY_START + timedelta(days=i))
        users.append(
            {
                "Id": user_id(i),
                "Name": f"{person.first_name} {person.last_name}",
                "GivenName": person.first_name,
                "FamilyName": person.last_name,
                "Email": person.email,
                "UserName": person.email,
                "IsAdmin": i == 0,
                "IsActive": True,
                "Version": 1,
                "CreateDate": created,
                "UpdateDate": created,
            }
        )
    user_names = {u["Id"]: u["Name"] for u in users}

    customers: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for i in range(counts["customers"]):
        c = view.customer(i)
        if not c.presence.on_left:
            continue
        owner = user_id(i % n_users)
        customers.append(
            {
                "Id": customer_company_id(i),
                "Name": c.name,
                "Code": c.number,
                "IsCustomer": True,
                "IsSupplier": False,
                "IsDecorator": False,
                "IsProspect": False,
                "IsActive": c.active,
                "Currency": "USD",  # the tenant bills every customer, wherever it is, in its own currency
                "Email": c.email,
                "Phone": c.phone,
                "City": c.city,
                "State": c.state or None,
                "Country": c.country,
                "OwnerId": owner,
                **_stamped(customer_company_id(i), c.stamps.created_at, c.stamps.modified_at, owner),
            }
        )
        customers[-1]["LastActivityDate"] = customers[-1]["UpdateDate"]
        if c.presence.linked:
            links.append(_link(customers[-1], "Customer", quickbooks_id(i), c.right_name, i))
    apply_update_ties(customers)

    vendors: list[dict[str, Any]] = []
    vendor_ids: list[int | None] = []
    for i in range(counts["vendors"]):
        v = view.vendor(i)
        if not v.presence.on_left:
            vendor_ids.append(None)
            continue
        owner = user_id(i % n_users)
        asi_member = i % 3 == 0
        vendors.append(
            {
                "Id": vendor_company_id(i),
                "Name": v.name,
                "Code": v.number,
                "IsCustomer": False,
                "IsSupplier": not v.is_decorator,
                "IsDecorator": v.is_decorator,
                "IsProspect": False,
                "IsAsiMember": asi_member,
                "AsiNumber": str(30000 + i) if asi_member else None,
                "IsActive": v.active,
                "Currency": "USD",
                "Email": v.email,
                "OwnerId": owner,
                **_stamped(vendor_company_id(i), v.stamps.created_at, v.stamps.modified_at, owner),
            }
        )
        vendors[-1]["LastActivityDate"] = vendors[-1]["UpdateDate"]
        vendor_ids.append(vendors[-1]["Id"])
        if v.presence.linked:
            member_type = "Decorator" if v.is_decorator else "Supplier"
            links.append(_link(vendors[-1], member_type, quickbooks_id(i), _right_name(v.name, v.presence), i))
    apply_update_ties(vendors)

    contacts: list[dict[str, Any]] = []
    for i in range(counts["contacts"]):
        p = view.contact(i)
        owner = user_id(i % n_users)
        contacts.append(
            {
                "Id": contact_id(i),
                "Name": f"{p.first_name} {p.last_name}",
                "GivenName": p.first_name,
                "FamilyName": p.last_name,
                "Title": p.title,
                "Email": p.email,
                "CompanyId": customer_company_id(p.customer_index) if counts["customers"] else None,
                "IsActive": True,
                "OwnerId": owner,
                **_stamped(contact_id(i), p.stamps.created_at, p.stamps.modified_at, owner),
            }
        )
    apply_update_ties(contacts)

    n_vendors, n_contacts = counts["vendors"], counts["contacts"]
    documents: dict[str, list[dict[str, Any]]] = {"Order": [], "PurchaseOrder": [], "Bill": []}
    for kind, object_name in (
        ("sales_order", "Order"),
        ("invoice", "Order"),
        ("purchase_order", "PurchaseOrder"),
        ("bill", "Bill"),
    ):
        batch: list[dict[str, Any]] = []
        for i in range(counts[kind + "s"]):
            d = view.document(kind, i)
            if not d.presence.on_left:
                continue
            record_id = document_id(kind, i)
            lines = []
            for sequence, line in enumerate(d.lines):
                product = view.product(line.product_index)
                if d.vendor_index is not None:
                    supplier = vendor_company_id(d.vendor_index)
                else:
                    supplier = vendor_ids[line.product_index % n_vendors] if n_vendors else None
                lines.append(
                    Line(
                        record_id * 100 + sequence + 1,
                        "product",
                        product.number,
                        product.name,
                        line.description,
                        ASI_PRODUCT_ID_BASE + line.product_index + 1,
                        line.quantity,
                        line.unit_price,
                        line.unit_cost,
                        True,
                        supplier,
                    )
                )
            owner = user_id(d.owner_user_index)
            record: dict[str, Any] = {
                "Id": record_id,
                "Number": d.number,
                "Date": ms_from_date(d.txn_date),
                "Status": "Open",
                "CurrencyCode": "USD",
                "CustomerId": customer_company_id(d.customer_index),
                "OwnerId": owner,
                "Lines": tuple(lines),
                **_stamped(record_id, d.stamps.created_at, d.stamps.modified_at, owner),
            }
            if object_name == "Order":
                record["Type"] = "order" if kind == "sales_order" else "invoice"
                record["ContactId"] = contact_id(d.customer_index) if d.customer_index < n_contacts else None
                if kind == "invoice":
                    record["DueDate"] = ms_from_date(d.due_date)
            else:
                record["VendorId"] = vendor_company_id(d.vendor_index) if d.vendor_index is not None else None
                if kind == "bill":
                    record["DueDate"] = ms_from_date(d.due_date)
            if d.presence.linked:
                record.update(
                    IsSentToQuickbooks=True,
                    ExternalId=quickbooks_id(i),
                    ExternalNumber=d.number,
                    Balance=d.total if kind == "invoice" else None,
                    ExternalSentBy=user_names.get(owner),
                )
            batch.append(record)
        apply_update_ties(batch)
        for record in batch:
            if record.get("IsSentToQuickbooks"):
                record["ExternalSentDate"] = record["UpdateDate"]
        documents[object_name].extend(batch)

    latest = 0
    for object_name, rows in (
        ("User", users),
        ("Company", customers),
        ("Company", vendors),
        ("Contact", contacts),
        *documents.items(),
    ):
        table = store.records[object_name]
        for row in rows:
            table[row["Id"]] = row
            latest = max(latest, row["UpdateDate"])
        if rows:
            store.claim_id(object_name, max(row["Id"] for row in rows))
        store.changed(object_name)
    for link in links:
        key = (link["CompanyId"], link["MemberType"])
        store.links[key] = link
        store.link_owner_by_quickbooks_id[(link["QuickBooksEntity"], link["QuickBooksId"])] = key
    store.changed(LINK_OBJECT)
    if latest:
        store.clock.observe(datetime.fromtimestamp(latest / 1000, UTC))
    return {
        "Company": len(customers) + len(vendors),
        "Contact": len(contacts),
        "User": len(users),
        "Order": len(documents["Order"]),
        "PurchaseOrder": len(documents["PurchaseOrder"]),
        "Bill": len(documents["Bill"]),
        LINK_OBJECT: len(links),
    }


def _link(company: dict[str, Any], member_type: str, qbo_id: str, display_name: str, index: int) -> dict[str, Any]:
    return {
        "CompanyId": company["Id"],
        "MemberType": member_type,
        "QuickBooksId": qbo_id,
        "QuickBooksDisplayName": display_name,
        "QuickBooksEntity": "Customer" if member_type == "Customer" else "Vendor",
        "Source": "Manual" if index % 4 == 0 else "Matched",
        "LinkedBy": INTEGRATION_USER_NAME,
        "LinkedDate": company["CreateDate"],
        "UpdateDate": company["CreateDate"],
        "Version": 1,
    }
