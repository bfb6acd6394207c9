"""The in-memory ESP+ tenant: companies, contacts, users, order documents, POs, bills, QuickBooks links and settings.

Records are flat dicts keyed by ASI field names; timestamps are epoch milliseconds and line items are tuples, so a
100k-record tenant stays compact. The wire layer (render.py) expands them into ASI's nested JSON. Every rule
violation is raised as an EspError, which the wire layer turns into ASI's `{"Error": ...}` reply.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from emulators.core.clock import EmulatorClock
from emulators.esp.dates import ms_from_datetime
from emulators.esp.errors import EspError, bad_request, not_found

if TYPE_CHECKING:
    from emulators.esp.parse import DocumentEdit, LineEdit

RECORD_OBJECTS = ("Company", "Contact", "User", "Order", "PurchaseOrder", "Bill")
LINK_OBJECT = "QuickBooksLink"
SETTINGS_OBJECT = "QuickBooksSettings"
DELETION_OBJECT = "Deletion"
ALL_OBJECTS = (*RECORD_OBJECTS, LINK_OBJECT, SETTINGS_OBJECT, DELETION_OBJECT)

# Ids are integers as in ESP+; each object numbers from its own base. Seeded ids are computed from the world index
# (see generator.py) and live creates continue above the highest id in use.
ID_BASES = {
    "Company": 500_000_000,
    "Contact": 600_000_000,
    "User": 178_000,
    "Order": 700_000_000,
    "PurchaseOrder": 800_000_000,
    "Bill": 900_000_000,
}
TENANT_ID = 500_123
TENANT_ASI_NUMBER = "830001"
INTEGRATION_USER_ID = ID_BASES["User"]  # the user a client-credentials token acts as
INTEGRATION_USER_NAME = "API Integration"

# Member types in the three spellings ESP+ uses: filter term, display type, company flag.
MEMBER_TYPES: dict[str, tuple[str, str]] = {
    "customer": ("Customer", "IsCustomer"),
    "supplier": ("Supplier", "IsSupplier"),
    "decorator": ("Decorator", "IsDecorator"),
    "prospect": ("Prospect", "IsProspect"),
}
LINKABLE_MEMBER_TYPES = ("Customer", "Supplier", "Decorator")
QUICKBOOKS_ENTITY_BY_MEMBER_TYPE = {"Customer": "Customer", "Supplier": "Vendor", "Decorator": "Vendor"}
SEND_DOCUMENT_TYPES = ("Invoice", "PurchaseOrder", "Bill")
SEND_FIELDS = (
    "IsSentToQuickbooks",
    "ExternalId",
    "SyncMessage",
    "ExternalNumber",
    "ExternalSyncToken",
    "Balance",
    "ExternalSentBy",
    "ExternalSentDate",
)

# A send's optional details: absent from a send, each keeps its value while ExternalId stays the same [ours].
SEND_DETAILS = ("ExternalNumber", "ExternalSyncToken", "Balance", "SyncMessage")
SYNC_MESSAGE_MAX = 2000  # characters [ours]
DOCUMENT_ENTITIES = {"Order": "Order", "PurchaseOrder": "Purchase order", "Bill": "Bill"}
# The values GET /types/lookups lists: what a document edit may set its Status and CurrencyCode to.
ORDER_STATUS_LABELS = ("Open", "Closed")
CURRENCY_CODES = ("USD", "CAD", "GBP")
# Lines added through the API get ids from here, in steps of 100: a product line's variant id is its id + 50, so
# it never names another line [ours].
LINE_ID_BASE = 1_000_000_000_000
LINE_ID_STEP = 100


class Line(NamedTuple):
    """One priced line of an order, PO or bill (product or service)."""

    Id: int
    Type: str  # product | service
    Number: str | None  # product number, e.g. P-000017
    Name: str
    Description: str | None
    ProductId: int | None
    Quantity: float
    Price: float
    Cost: float
    IsTaxable: bool
    SupplierId: int | None


def member_type_name(raw: str) -> str:
    """'customer' / 'Customer' / 'CUSTOMER' -> 'Customer' for the three linkable member types, else 400."""
    entry = MEMBER_TYPES.get(str(raw).lower())
    if entry is None or entry[0] not in LINKABLE_MEMBER_TYPES:
        raise bad_request(f"memberType must be one of {', '.join(LINKABLE_MEMBER_TYPES)}", "memberType")
    return entry[0]


def company_member_types(company: dict[str, Any]) -> list[str]:
    return [display for display, flag in MEMBER_TYPES.values() if company.get(flag)]


def default_settings(now_ms: int) -> dict[str, Any]:
    return {
        "Provider": "QuickBooksOnline",
        "IsConnected": True,
        "RealmId": "9341453050298851",
        "CompanyName": "Sandbox Company_US_1",
        "ConnectedBy": INTEGRATION_USER_NAME,
        "ConnectedDate": now_ms,
        "Visibility": {"AccessLevel": "Everyone", "Access": []},
        "SendableDocuments": {"Invoice": True, "Bill": True, "PurchaseOrder": True},
        "DocumentSendPermissions": [
            {"DocumentType": kind, "AccessLevel": "Everyone", "UserIds": []} for kind in SEND_DOCUMENT_TYPES
        ],
        "SetCustomerBillableOnBillsAndPOs": False,
        "ItemNameSource": "ProductNumber",
        "FieldMappings": {
            "AccountsReceivableAccount": "Accounts Receivable (A/R)",
            "IncomeAccount": "Sales of Product Income",
            "AccountsPayableAccount": "Accounts Payable (A/P)",
            "CostOfGoodsSoldAccount": "Cost of Goods Sold",
            "ShippingItem": None,  # QBO sandbox companies have no shipping item until one is made
            "DefaultTaxCode": "TAX",
            "NonTaxableTaxCode": "NON",
            "Terms": {"Net 30": "Net 30", "Net 15": "Net 15", "Due on receipt": "Due on receipt"},
            "Class": None,
            "Department": None,
        },
        "Providers": [{"Provider": "ASICS_Smartbooks", "IsConnected": False}],
        "Version": 1,
        "UpdateDate": now_ms,
        "UpdatedBy": INTEGRATION_USER_NAME,
    }


def integration_user() -> dict[str, Any]:
    """The tenant's API user: the identity a client-credentials token acts as (an administrator)."""
    created = ms_from_datetime(datetime(2025, 1, 1, tzinfo=UTC))
    return {
        "Id": INTEGRATION_USER_ID,
        "Name": INTEGRATION_USER_NAME,
        "GivenName": "API",
        "FamilyName": "Integration",
        "Email": "integration@esp-sandbox.example",
        "UserName": "integration@esp-sandbox.example",
        "IsAdmin": True,
        "IsActive": True,
        "Version": 1,
        "CreateDate": created,
        "UpdateDate": created,
    }


class EspStore:
    """One ESP+ tenant's data and the business rules the API enforces on it."""

    def __init__(self, clock: EmulatorClock) -> None:
        self.clock = clock
        self.records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in RECORD_OBJECTS}
        self.next_ids: dict[str, int] = {name: base + 1 for name, base in ID_BASES.items()}
        # Bumped on every change to an object; search result caches are keyed by it.
        self.generations: Counter[str] = Counter()
        self.links: dict[tuple[int, str], dict[str, Any]] = {}
        self.link_owner_by_quickbooks_id: dict[tuple[str, str], tuple[int, str]] = {}
        self.deletions: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = default_settings(ms_from_datetime(clock.now()))
        self.insert("User", integration_user())

    _STATE_FIELDS = (
        "records",
        "next_ids",
        "generations",
        "links",
        "link_owner_by_quickbooks_id",
        "deletions",
        "settings",
    )

    def export_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._STATE_FIELDS}

    def import_state(self, state: dict[str, Any]) -> None:
        for name in self._STATE_FIELDS:
            setattr(self, name, state[name])
        for name in self.generations:
            self.generations[name] += 1  # invalidates search caches built before the restore

    # ---- stamps and ids ----------------------------------------------------------------------------------------

    def tick(self) -> int:
        return ms_from_datetime(self.clock.tick())

    def allocate_id(self, object_name: str) -> int:
        new_id = self.next_ids[object_name]
        self.next_ids[object_name] = new_id + 1
        return new_id

    def claim_id(self, object_name: str, record_id: int) -> None:
        if record_id >= self.next_ids[object_name]:
            self.next_ids[object_name] = record_id + 1

    def changed(self, object_name: str) -> None:
        self.generations[object_name] += 1

    # ---- plain record access -----------------------------------------------------------------------------------

    def get(self, object_name: str, record_id: int, entity: str | None = None) -> dict[str, Any]:
        record = self.records[object_name].get(record_id)
        if record is None:
            raise not_found(entity or object_name)
        return record

    def insert(self, object_name: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a record whose system fields (Id, Version, stamps) are already set."""
        self.records[object_name][record["Id"]] = record
        self.claim_id(object_name, record["Id"])
        self.changed(object_name)
        return record

    def user_name(self, user_id: int | None) -> str | None:
        user = self.records["User"].get(user_id) if user_id is not None else None
        return user["Name"] if user else None

    # ---- companies ---------------------------------------------------------------------------------------------

    def create_company(self, fields: dict[str, Any], user_id: int) -> dict[str, Any]:
        if not str(fields.get("Name") or "").strip():
            raise bad_request("Name is required", "Name")
        if not any(fields.get(flag) for _, flag in MEMBER_TYPES.values()):
            fields["IsCustomer"] = True  # ESP's legacy default for a new company
        now = self.tick()
        record = {
            "IsCustomer": False,
            "IsSupplier": False,
            "IsDecorator": False,
            "IsProspect": False,
            "IsActive": True,
            "OwnerId": user_id,
            **fields,
            "Id": self.allocate_id("Company"),
            "Version": 1,
            "CreateDate": now,
            "UpdateDate": now,
            "LastActivityDate": now,
            "CreatedBy": user_id,
            "UpdatedBy": user_id,
        }
        return self.insert("Company", record)

    def update_company(self, company_id: int, fields: dict[str, Any], version: Any, user_id: int) -> dict[str, Any]:
        record = self.get("Company", company_id, "Company")
        self.check_version(record, version, "company")
        if "Name" in fields and not str(fields.get("Name") or "").strip():
            raise bad_request("Name is required", "Name")
        record.update(fields)
        self.touch("Company", record, user_id)
        record["LastActivityDate"] = record["UpdateDate"]
        return record

    def check_version(self, record: dict[str, Any], version: Any, entity: str) -> None:
        if version is None:
            raise bad_request("Version is required", "Version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise bad_request("Version must be an integer", "Version")
        if version != record["Version"]:
            raise EspError(
                409,
                f"The {entity} was changed by someone else (version {record['Version']}, you sent {version}). "
                "Reload it and try again.",
            )

    def touch(self, object_name: str, record: dict[str, Any], user_id: int | None) -> None:
        record["Version"] += 1
        record["UpdateDate"] = self.tick()
        if user_id is not None:
            record["UpdatedBy"] = user_id
        self.changed(object_name)

    def delete(self, object_name: str, record_id: int, entity: str) -> None:
        self.get(object_name, record_id, entity)
        del self.records[object_name][record_id]
        self.changed(object_name)
        self.record_deletion(object_name, record_id)
        if object_name == "Company":
            for member_type in LINKABLE_MEMBER_TYPES:
                if (record_id, member_type) in self.links:
                    self.remove_link(record_id, member_type)

    def record_deletion(self, entity_type: str, record_id: int, member_type: str | None = None) -> None:
        entry: dict[str, Any] = {"EntityType": entity_type, "Id": record_id, "DeletedDate": self.tick()}
        if member_type is not None:
            entry["MemberType"] = member_type
        self.deletions.append(entry)
        self.changed(DELETION_OBJECT)

    # ---- document edits --------------------------------------------------------------------------------------

    def update_document(
        self, object_name: str, document_id: int, edit: DocumentEdit, version: Any, user_id: int
    ) -> dict[str, Any]:
        """Apply a PUT's edit: every change is checked before any is applied, so a refused edit changes nothing.
        Values the edit leaves as they are pass unchecked (a document read and written back unchanged is accepted)."""
        entity = DOCUMENT_ENTITIES[object_name]
        record = self.get(object_name, document_id, entity)
        self.check_version(record, version, entity.lower())
        changes: dict[str, Any] = {}
        for key, value in edit.fields.items():
            if value != record.get(key):
                check_document_value(key, value)
                changes[key] = value
        for key, (field, party_id) in edit.parties.items():
            if party_id != record.get(key):
                required = key == "VendorId" or (key == "CustomerId" and object_name == "Order")
                self.check_party(key, field, party_id, required)
                changes[key] = party_id
        if edit.lines is not None:
            supplier = changes.get("VendorId", record.get("VendorId")) if object_name != "Order" else None
            changes["Lines"] = self.edited_lines(record, edit.lines, supplier, entity)
        record.update(changes)
        self.touch(object_name, record, user_id)
        return record

    def check_party(self, key: str, field: str, party_id: int | None, required: bool) -> None:
        """A party a document edit names: it exists (422 as ASI documents) and has the member type its role needs."""
        if party_id is None:
            if required:
                raise bad_request(f"{field} is required", field)
            return
        if key == "ContactId":
            if party_id not in self.records["Contact"]:
                raise EspError(422, "Contact not found", [{"Field": field, "Message": "Contact not found"}])
            return
        company = self.records["Company"].get(party_id)
        if company is None:
            raise EspError(422, "Company not found", [{"Field": field, "Message": "Company not found"}])
        if key == "CustomerId" and not company["IsCustomer"]:
            raise bad_request(f"Company {party_id} is not a Customer", field)
        if key in ("VendorId", "SupplierId") and not (company["IsSupplier"] or company["IsDecorator"]):
            raise bad_request(f"Company {party_id} is not a Supplier or Decorator", field)

    def edited_lines(
        self, record: dict[str, Any], edits: tuple[LineEdit, ...], default_supplier: int | None, entity: str
    ) -> tuple[Line, ...]:
        """The document's lines after an edit: listed lines changed by Id, lines without Id added, the rest dropped."""
        existing = {line.Id: line for line in record["Lines"]}
        kept: set[int] = set()
        lines: list[Line | None] = []
        added: list[tuple[int, LineEdit, int | None]] = []
        for edit in edits:
            if edit.line_id is not None:
                line = existing.get(edit.line_id)
                if line is None:
                    raise bad_request(f"Line item {edit.line_id} is not on this {entity.lower()}", f"{edit.field}.Id")
                if edit.line_id in kept:
                    raise bad_request(f"Line item {edit.line_id} is listed twice", f"{edit.field}.Id")
                kept.add(edit.line_id)
                lines.append(line._replace(**edit.changes))
                continue
            supplier = default_supplier
            if "SupplierId" in edit.changes:
                field, supplier = edit.changes["SupplierId"]
                self.check_party("SupplierId", field, supplier, required=False)
            added.append((len(lines), edit, supplier))
            lines.append(None)
        for position, edit, supplier in added:  # ids only once the whole edit is known to be valid
            values = edit.changes
            lines[position] = Line(
                Id=self.allocate_line_id(),
                Type=values["Type"],
                Number=values.get("Number"),
                Name=values["Name"],
                Description=values.get("Description"),
                ProductId=values.get("ProductId"),
                Quantity=values.get("Quantity", 1),
                Price=values.get("Price", 0),
                Cost=values.get("Cost", 0),
                IsTaxable=values["IsTaxable"],
                SupplierId=supplier,
            )
        return tuple(line for line in lines if line is not None)

    def allocate_line_id(self) -> int:
        line_id = self.next_ids.get("LineItem", LINE_ID_BASE)
        self.next_ids["LineItem"] = line_id + LINE_ID_STEP
        return line_id

    # ---- QuickBooks links (B7) ---------------------------------------------------------------------------------

    def set_link(self, company_id: int, member_type: str, fields: dict[str, Any], user_id: int | None) -> dict:
        company = self.get("Company", company_id, "Company")
        flag = MEMBER_TYPES[member_type.lower()][1]
        if not company.get(flag):
            raise bad_request(f"Company {company_id} is not a {member_type}", "memberType")
        quickbooks_id = fields.get("QuickBooksId")
        if not isinstance(quickbooks_id, str) or not quickbooks_id.strip():
            raise bad_request("QuickBooksId is required", "QuickBooksId")
        entity = QUICKBOOKS_ENTITY_BY_MEMBER_TYPE[member_type]
        if fields.get("QuickBooksEntity") not in (None, entity):
            raise bad_request(f"A {member_type} links to a QuickBooks {entity}", "QuickBooksEntity")
        source = fields.get("Source") or "Manual"
        if source not in ("Manual", "Matched", "Created"):
            raise bad_request("Source must be Manual, Matched or Created", "Source")
        owner = self.link_owner_by_quickbooks_id.get((entity, quickbooks_id))
        # One company may link several member types (a supplier that also decorates) to one QuickBooks vendor.
        if owner is not None and owner[0] != company_id:
            raise EspError(
                409, f"QuickBooks {entity} {quickbooks_id} is already linked to company {owner[0]} as {owner[1]}"
            )
        key = (company_id, member_type)
        existing = self.links.get(key)
        if existing is not None and fields.get("Version") is not None:
            self.check_version(existing, fields["Version"], "link")
        now = self.tick()
        linked_by = fields.get("LinkedBy") or self.user_name(user_id)
        if existing is not None and existing["QuickBooksId"] == quickbooks_id:
            existing.update(
                QuickBooksDisplayName=fields.get("QuickBooksDisplayName", existing["QuickBooksDisplayName"]),
                Source=source,
                UpdateDate=now,
                Version=existing["Version"] + 1,
            )
            link = existing
        else:
            link = {
                "CompanyId": company_id,
                "MemberType": member_type,
                "QuickBooksId": quickbooks_id,
                "QuickBooksDisplayName": fields.get("QuickBooksDisplayName"),
                "QuickBooksEntity": entity,
                "Source": source,
                "LinkedBy": linked_by,
                "LinkedDate": now,
                "UpdateDate": now,
                "Version": existing["Version"] + 1 if existing else 1,
            }
            self.links[key] = link
            if existing is not None:
                self.release_quickbooks_id(entity, existing["QuickBooksId"], company_id)
            self.link_owner_by_quickbooks_id.setdefault((entity, quickbooks_id), key)
        self.changed(LINK_OBJECT)
        return link

    def remove_link(self, company_id: int, member_type: str) -> None:
        link = self.links.pop((company_id, member_type), None)
        if link is None:
            raise not_found("Link")
        self.release_quickbooks_id(link["QuickBooksEntity"], link["QuickBooksId"], company_id)
        self.changed(LINK_OBJECT)
        self.record_deletion(LINK_OBJECT, company_id, member_type)

    def release_quickbooks_id(self, entity: str, quickbooks_id: str, company_id: int) -> None:
        """A link of `company_id` no longer names this QuickBooks id: another of its links may still hold it."""
        for member_type in LINKABLE_MEMBER_TYPES:
            other = self.links.get((company_id, member_type))
            if other is not None and (other["QuickBooksEntity"], other["QuickBooksId"]) == (entity, quickbooks_id):
                self.link_owner_by_quickbooks_id[(entity, quickbooks_id)] = (company_id, member_type)
                return
        self.link_owner_by_quickbooks_id.pop((entity, quickbooks_id), None)

    def company_links(self, company_id: int) -> list[dict[str, Any]]:
        return [link for member_type in LINKABLE_MEMBER_TYPES if (link := self.links.get((company_id, member_type)))]

    # ---- sends to QuickBooks (B8) ------------------------------------------------------------------------------

    def document_type(self, object_name: str, record: dict[str, Any]) -> str | None:
        """Which QuickBooks send type a document is (None: this document cannot be sent)."""
        if object_name == "Order":
            return "Invoice" if record["Type"] == "invoice" else None
        return object_name

    def check_may_send(self, document_type: str, user_id: int, owner_id: int | None = None) -> None:
        """A send by `user_id`; an administrator (the tenant's API user) sends for the document's owner, whose
        permission then counts [ours: how ESP+ attributes an integration's sends is not public]."""
        settings = self.settings
        if not settings["IsConnected"]:
            raise bad_request("QuickBooks Online is not connected")
        self.check_integration_visible(user_id)
        if not settings["SendableDocuments"].get(document_type):
            raise EspError(403, f"Sending {document_type} documents to QuickBooks Online is turned off")
        caller = self.records["User"].get(user_id) or {}
        sender = owner_id if caller.get("IsAdmin") and owner_id is not None else user_id
        for permission in settings["DocumentSendPermissions"]:
            if (
                permission["DocumentType"] == document_type
                and permission["AccessLevel"] == "Custom"
                and sender not in permission.get("UserIds", [])
            ):
                raise EspError(403, f"User {sender} may not send {document_type} documents to QuickBooks Online")

    def check_integration_visible(self, user_id: int) -> None:
        visibility = self.settings["Visibility"]
        if visibility["AccessLevel"] != "Custom":
            return
        for access in visibility.get("Access", []):
            if access.get("AccessLevel") == "User" and access.get("EntityId") == user_id:
                return
        raise EspError(403, "The QuickBooks Online integration is not visible to this user")

    def record_send(self, object_name: str, document_id: int, body: dict[str, Any], user_id: int) -> dict:
        entity = DOCUMENT_ENTITIES[object_name]
        record = self.get(object_name, document_id, entity)
        document_type = self.document_type(object_name, record)
        if document_type is None:
            raise bad_request("Only invoices, purchase orders and bills can be sent to QuickBooks Online")
        if body.get("DocumentType") not in (None, document_type):
            raise bad_request(f"DocumentType must be {document_type} for this document", "DocumentType")
        if body.get("DocumentId") not in (None, document_id):
            raise bad_request("DocumentId does not match the document in the URL", "DocumentId")
        external_id = body.get("ExternalId")
        if not isinstance(external_id, str) or not external_id.strip():
            raise bad_request("ExternalId is required", "ExternalId")
        details = {key: body[key] for key in SEND_DETAILS if key in body}
        check_send_details(details)
        self.check_may_send(document_type, user_id, record.get("OwnerId"))
        if body.get("Version") is not None:
            self.check_version(record, body["Version"], entity.lower())
        if external_id != record.get("ExternalId"):
            # Another QuickBooks transaction: the details of the last one do not carry over.
            record.update(dict.fromkeys(SEND_DETAILS))
        record.update(
            IsSentToQuickbooks=True,
            ExternalId=external_id,
            ExternalSentBy=body.get("SentBy") or self.user_name(user_id),
            **details,
        )
        self.touch(object_name, record, user_id)
        record["ExternalSentDate"] = record["UpdateDate"]
        return record

    # ---- integration settings (B3-B6) --------------------------------------------------------------------------

    def update_settings(self, changes: dict[str, Any], user_id: int) -> dict[str, Any]:
        user = self.records["User"].get(user_id)
        if not user or not user.get("IsAdmin"):
            raise EspError(403, "Only an administrator may change the QuickBooks Online integration settings")
        self.check_version(self.settings, changes.get("Version"), "integration settings")
        merged = {**self.settings}
        for key, value in changes.items():
            if key in ("Version", "UpdateDate", "UpdatedBy", "Provider", "ConnectedDate"):
                continue
            if key not in merged:
                raise bad_request(f"Unknown setting {key}", key)
            if isinstance(merged[key], dict) and isinstance(value, dict) and key != "Visibility":
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        validate_settings(merged)
        merged["Version"] = self.settings["Version"] + 1
        merged["UpdateDate"] = self.tick()
        merged["UpdatedBy"] = self.user_name(user_id)
        self.settings = merged
        self.changed(SETTINGS_OBJECT)
        return merged


def check_document_value(key: str, value: Any) -> None:
    """A document field's new value against the tenant's lookups (the PUT parser has checked its type)."""
    if key == "Status" and value not in ORDER_STATUS_LABELS:
        raise bad_request(f"Status must be one of {', '.join(ORDER_STATUS_LABELS)}", key)
    if key == "CurrencyCode" and value not in CURRENCY_CODES:
        raise bad_request(f"CurrencyCode must be one of {', '.join(CURRENCY_CODES)}", key)
    if key == "Date" and value is None:
        raise bad_request("Date is required", key)


def check_send_details(details: dict[str, Any]) -> None:
    for key in ("ExternalNumber", "ExternalSyncToken", "SyncMessage"):
        value = details.get(key)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{key} must be a string or null", key)
    if len(details.get("SyncMessage") or "") > SYNC_MESSAGE_MAX:
        raise bad_request(f"SyncMessage must be at most {SYNC_MESSAGE_MAX} characters", "SyncMessage")
    balance = details.get("Balance")
    if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int | float)):
        raise bad_request("Balance must be a number", "Balance")


def validate_settings(settings: dict[str, Any]) -> None:
    if settings["ItemNameSource"] not in ("ProductNumber", "ProductName"):
        raise bad_request("ItemNameSource must be ProductNumber or ProductName", "ItemNameSource")
    if not isinstance(settings["SetCustomerBillableOnBillsAndPOs"], bool):
        raise bad_request("SetCustomerBillableOnBillsAndPOs must be true or false", "SetCustomerBillableOnBillsAndPOs")
    if not isinstance(settings["IsConnected"], bool):
        raise bad_request("IsConnected must be true or false", "IsConnected")
    visibility = settings["Visibility"]
    if not isinstance(visibility, dict) or visibility.get("AccessLevel") not in ("Everyone", "Custom"):
        raise bad_request("Visibility.AccessLevel must be Everyone or Custom", "Visibility.AccessLevel")
    sendable = settings["SendableDocuments"]
    if set(sendable) - set(SEND_DOCUMENT_TYPES) or not all(isinstance(v, bool) for v in sendable.values()):
        raise bad_request("SendableDocuments takes Invoice, Bill and PurchaseOrder, each true or false")
    permissions = settings["DocumentSendPermissions"]
    if not isinstance(permissions, list):
        raise bad_request("DocumentSendPermissions must be a list", "DocumentSendPermissions")
    for index, permission in enumerate(permissions):
        field = f"DocumentSendPermissions[{index}]"
        if not isinstance(permission, dict) or permission.get("DocumentType") not in SEND_DOCUMENT_TYPES:
            raise bad_request("DocumentType must be Invoice, PurchaseOrder or Bill", f"{field}.DocumentType")
        if permission.get("AccessLevel") not in ("Everyone", "Custom"):
            raise bad_request("AccessLevel must be Everyone or Custom", f"{field}.AccessLevel")
        if not all(isinstance(u, int) for u in permission.get("UserIds", [])):
            raise bad_request("UserIds must be user ids", f"{field}.UserIds")
