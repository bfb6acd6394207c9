"""The ESP+ -> QuickBooks Online sync (SPEC B): company links, items, invoices, purchase orders, bills, status back,
as the engine's mapping (config/mappings/quickbooks.yaml) plus what is this sync's own.

ESP+'s records are presented to the engine in the mapping's terms (record sources): companies split by member type
with their QuickBooks link flattened, the items the document lines name, and each document's lines in QBO's line
form. ESP+'s integration settings decide what is sent (B3), whether vendor lines are billable (B4), how items are
named (B5) and which accounts and codes are used (B6, overridable in the mapping file); every name is resolved to
a QBO id before planning, and a name QBO does not have stops the plan before any write.

A run plans and loads twice: the send (QBO writes, then the link-backs to ESP+), then, once QBO's documents are read
again, the status back (B8: QBO's number, SyncToken, balance and any total difference on the ESP+ document).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosswalk.staging import StagingStore
from crosswalk.sync.engine import RecordSource, SyncEngine, SyncPlan
from crosswalk.sync.mapper import MappedRecord
from crosswalk.sync.mapping import EntityRule, StreamShape, SyncMapping, catalog_fields, load_mapping
from crosswalk.sync.matching import Review
from crosswalk.sync.plan import (
    Action,
    EntityData,
    EntityPlan,
    LinkState,
    OnDelete,
    PlanItem,
    PlanOptions,
    plan_matched_pair,
)
from crosswalk.sync.reconcile import ConflictPolicy, Translate

SYNC = "quickbooks"
ESP = "esp"
QUICKBOOKS = "quickbooks"
DOCUMENTS = {"invoice": "Invoice", "purchase_order": "PurchaseOrder", "bill": "Bill"}  # entity -> ESP+ send type
ESP_DOCUMENT_STREAMS = {"invoice": "orders", "purchase_order": "purchaseorders", "bill": "bills"}
ESP_WRITE_OBJECTS = {"invoices": "orders"}  # presented objects and the ESP+ resource a write goes to
# The key QBO finds a record by when a create's answer was lost (lookup before retry; names are unique in QBO).
NATURAL_KEYS = {"customer": ("DisplayName", "name"), "vendor": ("DisplayName", "name"), "item": ("Name", "name"),
                "invoice": ("DocNumber", "number"), "purchase_order": ("DocNumber", "number"),
                "bill": ("DocNumber", "number")}  # fmt: skip
VENDOR_MEMBER_TYPES = ("Supplier", "Decorator")
SHIPPING_SERVICE_TYPES = frozenset({"FRGT", "SHIP", "SHIPPING", "FREIGHT"})
FIELD_MAPPING_KEYS = (
    "IncomeAccount", "CostOfGoodsSoldAccount", "AccountsReceivableAccount", "AccountsPayableAccount", "ShippingItem",
    "DefaultTaxCode", "NonTaxableTaxCode", "Class",
)  # fmt: skip
_LEGAL_SUFFIXES = frozenset({"inc", "incorporated", "llc", "ltd", "limited", "co", "corp", "corporation", "company",
                             "plc", "gmbh", "llp", "lp", "sa", "srl", "bv", "pty"})  # fmt: skip


# (item, description, quantity, unit price or cost, taxable) of one priced part of an ESP+ line
_Priced = tuple[str | None, str | None, float, float, bool]


class QuickBooksSettingsError(Exception):
    """ESP+'s QuickBooks settings or the mapping's overrides cannot be used as they are; nothing is written."""


def mapping_fields(system: str, object_name: str) -> StreamShape:
    """Stream shapes for the mapping check, with the objects this sync presents (not streams of their own)."""
    presented = {(ESP, "items"): "Name", (ESP, "invoices"): "Id"}
    if (system, object_name) in presented:
        return StreamShape(presented[(system, object_name)], None)
    return catalog_fields(system, object_name)


def load_quickbooks_mapping(path: Path | str) -> SyncMapping:
    return load_mapping(Path(path), mapping_fields)


def streams_read() -> list[tuple[str, str]]:
    """Every (system, object) the plan reads; a run extracts these first, and so does a dry run."""
    esp = ["companies", "quickbooks_links", "orders", "purchaseorders", "bills", "quickbooks_settings"]
    qbo = ["Customer", "Vendor", "Item", "Account", "TaxCode", "Term", "Class", "Invoice", "PurchaseOrder", "Bill"]
    return [(ESP, name) for name in esp] + [(QUICKBOOKS, name) for name in qbo]


def status_streams() -> list[tuple[str, str]]:
    """What the status back reads again after the send (incrementally): the documents on both sides, and the
    parties and items they name (created or linked by the send)."""
    return [(ESP, "companies"), (ESP, "quickbooks_links"), (ESP, "orders"), (ESP, "purchaseorders"), (ESP, "bills"),
            (QUICKBOOKS, "Customer"), (QUICKBOOKS, "Vendor"), (QUICKBOOKS, "Item"),
            (QUICKBOOKS, "Invoice"), (QUICKBOOKS, "PurchaseOrder"), (QUICKBOOKS, "Bill")]  # fmt: skip


# ---- ESP+'s integration settings, resolved against QBO ---------------------------------------------------------


@dataclass(frozen=True)
class Integration:
    """ESP+'s QuickBooks settings as this run uses them, every QBO name resolved to its id."""

    sendable: Mapping[str, bool]  # Invoice / PurchaseOrder / Bill -> sending is on
    send_permissions: Mapping[str, tuple[str, frozenset[int]]]  # type -> (AccessLevel, user ids when Custom)
    visibility: tuple[str, frozenset[int]]  # (AccessLevel, user ids when Custom)
    billable: bool  # SetCustomerBillableOnBillsAndPOs
    item_name_source: str  # ProductNumber | ProductName
    income_account: str | None  # QBO Account ids ...
    expense_account: str | None
    payable_account: str | None
    shipping_item: str | None  # an item name
    tax_code: str | None  # QBO TaxCode ids
    non_taxable_code: str | None
    class_id: str | None
    notes: tuple[str, ...] = ()  # what the run reports about the settings (an override in force)

    def hold_reason(self, document_type: str, owner: Any) -> str | None:
        """Why a document of this type owned by `owner` is not sent (SPEC B3), or None."""
        if not self.sendable.get(document_type, False):
            return f"sending {document_type} documents is turned off in ESP+'s QuickBooks settings"
        level, users = self.visibility
        if level == "Custom" and _user(owner) not in users:
            return f"the QuickBooks integration is not visible to the document's owner (user {owner})"
        level, users = self.send_permissions.get(document_type, ("Everyone", frozenset()))
        if level == "Custom" and _user(owner) not in users:
            return f"the document's owner (user {owner}) may not send {document_type} documents"
        return None


def _user(owner: Any) -> int | None:
    try:
        return int(owner)
    except (TypeError, ValueError):
        return None


def staged_integration_settings(store: StagingStore) -> dict[str, Any]:
    for _key, payload, deleted, _digest in store.iter_staged_records(ESP, "quickbooks_settings"):
        if not deleted:
            return payload
    raise QuickBooksSettingsError(
        "ESP+'s QuickBooks settings are not staged (stream esp.quickbooks_settings): extract ESP+ first"
    )


def resolve_integration(
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any],
    store: StagingStore,
    *,
    allow_billable_with_invoices: bool,
) -> Integration:
    """ESP+'s settings with the mapping file's overrides, each QBO name checked against what QBO has."""
    if not settings.get("IsConnected", False):
        raise QuickBooksSettingsError("ESP+ says QuickBooks Online is not connected (settings IsConnected is false)")
    mappings = {**(settings.get("FieldMappings") or {})}
    mappings.update({key: value for key, value in overrides.items() if value is not None})
    sendable = {str(k): bool(v) for k, v in (settings.get("SendableDocuments") or {}).items()}
    billable = bool(settings.get("SetCustomerBillableOnBillsAndPOs"))
    notes: list[str] = []
    if billable and sendable.get("Invoice"):
        message = (
            "ESP+ sets customers billable on bills and purchase orders (SetCustomerBillableOnBillsAndPOs) while it "
            "also sends invoices: QuickBooks would bill those costs to the customer a second time"
        )
        if not allow_billable_with_invoices:
            raise QuickBooksSettingsError(
                f"{message}. Turn one of them off in ESP+'s QuickBooks settings, or set "
                "quickbooks.allow_billable_with_invoices: true in the Crosswalk settings to send both knowingly"
            )
        notes.append(f"{message}; sent anyway (quickbooks.allow_billable_with_invoices is true)")
    names = _QboNames(store)
    problems: list[str] = []

    def resolve(key: str, kind: str) -> str | None:
        name = mappings.get(key)
        if name in (None, ""):
            return None
        found = names.find(kind, str(name))
        if found is None:
            problems.append(f"{key} names {kind} {name!r}, which QuickBooks Online does not have")
        return found

    resolved = {
        "income_account": resolve("IncomeAccount", "Account"),
        "expense_account": resolve("CostOfGoodsSoldAccount", "Account"),
        "payable_account": resolve("AccountsPayableAccount", "Account"),
        "tax_code": resolve("DefaultTaxCode", "TaxCode"),
        "non_taxable_code": resolve("NonTaxableTaxCode", "TaxCode"),
        "class_id": resolve("Class", "Class"),
    }
    resolve("AccountsReceivableAccount", "Account")  # checked: QBO posts invoices to its one A/R account
    shipping = mappings.get("ShippingItem")
    if shipping and names.find("Item", str(shipping)) is None:
        problems.append(f"ShippingItem names item {shipping!r}, which QuickBooks Online does not have")
    for key in ("Department",):
        if mappings.get(key):
            problems.append(f"{key} {mappings[key]!r}: QuickBooks Online departments are not sent by Crosswalk")
    if problems:
        raise QuickBooksSettingsError("QuickBooks field mappings: " + "; ".join(problems))
    permissions = {
        str(p.get("DocumentType")): (str(p.get("AccessLevel") or "Everyone"), frozenset(_ids(p.get("UserIds"))))
        for p in settings.get("DocumentSendPermissions") or []
    }
    visibility = settings.get("Visibility") or {}
    visible_to = frozenset(_ids(a.get("EntityId") for a in visibility.get("Access") or []
                                if a.get("AccessLevel") == "User"))  # fmt: skip
    source = str(settings.get("ItemNameSource") or "ProductNumber")
    if source not in ("ProductNumber", "ProductName"):
        raise QuickBooksSettingsError(f"ItemNameSource must be ProductNumber or ProductName, got {source!r}")
    return Integration(
        sendable=sendable, send_permissions=permissions,
        visibility=(str(visibility.get("AccessLevel") or "Everyone"), visible_to), billable=billable,
        item_name_source=source, shipping_item=str(shipping) if shipping else None, notes=tuple(notes), **resolved,
    )  # fmt: skip


def _ids(values: Iterable[Any] | None) -> Iterator[int]:
    for value in values or ():
        user = _user(value)
        if user is not None:
            yield user


class _QboNames:
    """QBO's accounts, tax codes, classes and items by name (and by id: a tax code is often named by its id)."""

    def __init__(self, store: StagingStore) -> None:
        self.store = store
        self._tables: dict[str, dict[str, str]] = {}

    def find(self, kind: str, name: str) -> str | None:
        table = self._tables.get(kind)
        if table is None:
            table = {}
            for key, payload, deleted, _digest in self.store.iter_staged_records(QUICKBOOKS, kind):
                if deleted:
                    continue
                for label in (payload.get("FullyQualifiedName"), payload.get("Name"), key):
                    if label:
                        table.setdefault(str(label).casefold(), key)
            self._tables[kind] = table
        return table.get(name.casefold())


# ---- how ESP+ and QBO records are presented to the engine ------------------------------------------------------


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _primary(items: Any, key: str) -> Any:
    if not isinstance(items, list) or not items:
        return None
    chosen = next((i for i in items if isinstance(i, dict) and i.get("IsPrimary")), items[0])
    return chosen.get(key) if isinstance(chosen, dict) else None


def _company_view(payload: Mapping[str, Any], links: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A company in the mapping's terms; `links` are its QuickBooks links by member type."""
    address = _primary(payload.get("Addresses"), "City"), _primary(payload.get("Addresses"), "Country")
    vendor_link = next((links[t] for t in VENDOR_MEMBER_TYPES if t in links), None)
    member_types = [t for t, flag in (("Supplier", "IsSupplier"), ("Decorator", "IsDecorator")) if payload.get(flag)]
    return {
        "Id": payload.get("Id"),
        "Name": payload.get("Name"),
        "Email": _primary(payload.get("Emails"), "Address"),
        "Phone": _primary(payload.get("Phones"), "Number"),
        "City": address[0],
        "Country": address[1],
        "Currency": payload.get("Currency"),
        "QuickBooksCustomerId": links["Customer"]["QuickBooksId"] if "Customer" in links else None,
        "QuickBooksVendorId": vendor_link["QuickBooksId"] if vendor_link else None,
        "VendorMemberTypes": ",".join(member_types) or None,
    }


@dataclass
class QuickBooksSync:
    """The sync's state for one plan: ESP+'s settings resolved, and what the record sources learnt on the way."""

    store: StagingStore
    mapping: SyncMapping
    integration: Integration
    on_delete: OnDelete = OnDelete.FLAG
    held: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, ESP+ key) -> why it is not sent
    vendor_types: dict[str, list[str]] = field(default_factory=dict)  # company id -> its vendor member types
    item_types: dict[str, str] = field(default_factory=dict)  # item name -> the ESP+ line type naming it first
    _companies: dict[str, dict[str, Any]] | None = None
    _links: dict[str, dict[str, Mapping[str, Any]]] | None = None
    _owners: dict[str, str] | None = None

    # -- companies

    def links(self) -> dict[str, dict[str, Mapping[str, Any]]]:
        """Company id -> member type -> its QuickBooks link, from ESP+'s link list (a stream of its own: linking a
        company does not change the company)."""
        if self._links is None:
            self._links = {}
            for _key, payload, deleted, _digest in self.store.iter_staged_records(ESP, "quickbooks_links"):
                if deleted or not payload.get("IsLinked", True) or not payload.get("QuickBooksId"):
                    continue
                self._links.setdefault(str(payload.get("CompanyId")), {})[str(payload.get("MemberType"))] = payload
        return self._links

    def companies(self) -> dict[str, dict[str, Any]]:
        """Every staged ESP+ company, presented (documents read their party's currency from it)."""
        if self._companies is None:
            self._companies = {}
            for key, payload, deleted, _digest in self.store.iter_staged_records(ESP, "companies"):
                view = _company_view(payload, self.links().get(key, {}))
                view["_deleted"] = deleted
                self._companies[key] = view
        return self._companies

    def company_source(self, flags: tuple[str, ...]) -> RecordSource:
        def source(_store: StagingStore) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
            for key, payload, deleted, _digest in self.store.iter_staged_records(ESP, "companies"):
                if not any(payload.get(flag) for flag in flags):
                    continue
                view = _company_view(payload, self.links().get(key, {}))
                if view["VendorMemberTypes"]:
                    self.vendor_types[key] = view["VendorMemberTypes"].split(",")
                yield key, view, deleted

        return source

    # -- documents

    def item_name(self, line: Mapping[str, Any]) -> str | None:
        number, name = line.get("Number"), line.get("Name")
        if line.get("Type") == "service":
            if str(line.get("ServiceType") or "").upper() in SHIPPING_SERVICE_TYPES and self.integration.shipping_item:
                return self.integration.shipping_item
            return name or number
        first, second = (number, name) if self.integration.item_name_source == "ProductNumber" else (name, number)
        return first or second

    def _priced(self, line: Mapping[str, Any], selling: bool) -> Iterator[_Priced]:
        """(item, description, quantity, unit price or cost, taxable) of each priced part of an ESP+ line."""
        item, description = self.item_name(line), line.get("Description") or line.get("Name")
        price_key = "Price" if selling else "Cost"
        if line.get("Type") == "title":
            return
        variants = line.get("Variants")
        if isinstance(variants, list) and variants:
            for variant in variants:
                yield item, description, _number(variant.get("Quantity")), _number(variant.get(price_key)), bool(
                    variant.get("IsTaxable"))
        elif "Quantity" in line:
            yield item, description, _number(line.get("Quantity")), _number(line.get(price_key)), bool(
                line.get("IsTaxable"))
        charges = list(line.get("ServiceCharges") or [])
        for decoration in line.get("Decorations") or []:
            charges.extend(decoration.get("ServiceCharges") or [])
        for charge in charges:
            name = charge.get("Description") or charge.get("ServiceType")
            yield name, name, _number(charge.get("Quantity")), _number(charge.get(price_key)), bool(
                charge.get("IsTaxable"))

    def document_view(self, entity: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        selling = entity == "invoice"
        party = (payload.get("BillingContact") or {}).get("Company") or {} if selling else payload.get("Vendor") or {}
        party_id = party.get("Id")
        customer = (payload.get("Customer") or {}).get("Id")
        lines: list[dict[str, Any]] = []
        quantities: list[float] = []
        amounts: list[float] = []
        without_item = 0
        for line in payload.get("LineItems") or []:
            for item, description, quantity, price, taxable in self._priced(line, selling):
                amount = _money(quantity * price)
                quantities.append(quantity)
                amounts.append(amount)
                without_item += 0 if item else 1
                if selling:
                    detail: dict[str, Any] = {"ItemRef": {"value": item}, "Qty": quantity, "UnitPrice": price}
                    code = self.integration.tax_code if taxable else self.integration.non_taxable_code
                    if code:
                        detail["TaxCodeRef"] = {"value": code}
                    if self.integration.class_id:
                        detail["ClassRef"] = {"value": self.integration.class_id}
                    lines.append({"DetailType": "SalesItemLineDetail", "Amount": amount, "Description": description,
                                  "SalesItemLineDetail": detail})  # fmt: skip
                else:
                    detail = {"ItemRef": {"value": item}, "Qty": quantity, "UnitPrice": price,
                              "BillableStatus": "NotBillable"}  # fmt: skip
                    if self.integration.billable and customer:
                        detail.update(CustomerRef={"value": str(customer)}, BillableStatus="Billable")
                    lines.append({"DetailType": "ItemBasedExpenseLineDetail", "Amount": amount,
                                  "Description": description, "ItemBasedExpenseLineDetail": detail})  # fmt: skip
        party_view = self.companies().get(str(party_id)) if party_id is not None else None
        return {
            **{k: payload.get(k) for k in ("Id", "Number", "Date", "DueDate", "Description", "CurrencyCode",
                                          "TotalAmount", "TotalCost", "OwnerId", "ExternalId", "ExternalNumber",
                                          "ExternalSyncToken", "Balance", "SyncMessage")},
            "CustomerId": str(party_id) if selling and party_id is not None else None,
            "VendorId": str(party_id) if not selling and party_id is not None else None,
            "Lines": lines,
            "LinesTotal": _money(sum(amounts)),
            "LinesWithoutItem": without_item,
            "SmallestQuantity": min(quantities) if quantities else None,
            "LargestQuantity": max(quantities) if quantities else None,
            "LargestAmount": max(amounts) if amounts else None,
            "PartyCurrency": (party_view or {}).get("Currency") or payload.get("CurrencyCode"),
        }  # fmt: skip

    def document_source(self, entity: str) -> RecordSource:
        stream = ESP_DOCUMENT_STREAMS[entity]
        document_type = DOCUMENTS[entity]

        def source(_store: StagingStore) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
            for key, payload, deleted, _digest in self.store.iter_staged_records(ESP, stream):
                if entity == "invoice" and payload.get("Type") != "invoice":
                    continue  # sales orders and quotes are not sent
                view = self.document_view(entity, payload)
                why = self.integration.hold_reason(document_type, payload.get("OwnerId"))
                if why:
                    self.held[(entity, key)] = why
                yield key, view, deleted

        return source

    def item_source(self, _store: StagingStore) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
        """The items the lines of every staged document name, once each."""
        seen: set[str] = set()
        for entity, stream in ESP_DOCUMENT_STREAMS.items():
            for _key, payload, deleted, _digest in self.store.iter_staged_records(ESP, stream):
                if deleted or (entity == "invoice" and payload.get("Type") != "invoice"):
                    continue
                for line in payload.get("LineItems") or []:
                    for item, _description, _quantity, _price, _taxable in self._priced(line, entity == "invoice"):
                        if item and item not in seen:
                            seen.add(item)
                            self.item_types[item] = str(line.get("Type") or "product")
                            yield item, {"Name": item, "Type": line.get("Type")}, False

    def qbo_document_source(self, entity: str) -> RecordSource:
        """QBO documents with their lines cut to what Crosswalk writes, and the total difference to report."""
        qbo_object = self.mapping.entities[entity].objects[QUICKBOOKS]
        esp_stream = ESP_DOCUMENT_STREAMS[entity]
        total_field = "TotalCost" if entity == "purchase_order" else "TotalAmount"

        def source(_store: StagingStore) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
            esp_totals: dict[str, Any] = {}
            for _key, payload, deleted, _digest in self.store.iter_staged_records(ESP, esp_stream):
                if not deleted and payload.get("ExternalId"):
                    esp_totals[str(payload["ExternalId"])] = payload.get(total_field)
            for key, payload, deleted, _digest in self.store.iter_staged_records(QUICKBOOKS, qbo_object):
                view = dict(payload)
                view["Line"] = [self._written_line(line) for line in payload.get("Line") or []
                                if line.get("DetailType") != "SubTotalLineDetail"]  # fmt: skip
                view["TotalMessage"] = _total_message(payload.get("TotalAmt"), esp_totals.get(key))
                yield key, view, deleted

        return source

    def _written_line(self, line: Mapping[str, Any]) -> dict[str, Any]:
        return _written_line(line, self.integration)

    # -- the plan

    def create_values(self, entity: EntityRule, record: MappedRecord, target: str) -> dict[str, Any]:
        if target != QUICKBOOKS:
            return {}
        integration = self.integration
        if entity.name == "item":
            kind = self.item_types.get(record.key)
            values: dict[str, Any] = {"Type": "Service" if kind == "service" else "NonInventory"}
            if integration.income_account:
                values["IncomeAccountRef"] = {"value": integration.income_account}
            if integration.expense_account:
                values["ExpenseAccountRef"] = {"value": integration.expense_account}
            return values
        if entity.name in ("purchase_order", "bill") and integration.payable_account:
            return {"APAccountRef": {"value": integration.payable_account}}
        return {}

    def hold(self, entity: EntityRule, record: MappedRecord) -> str | None:
        if record.system != ESP:
            return None
        return self.held.get((entity.name, record.key))

    def extend(self, engine: SyncEngine, entity: EntityRule, data: EntityData, plan: EntityPlan,
               translate: Translate) -> None:  # fmt: skip
        if entity.name in ("customer", "vendor"):
            self._match_normalised(entity, data, plan, translate)
            self._refuse_taken_names(entity, data, plan)
        right_keys = {pair: outcome.right_key for pair, outcome in plan.pairs.items()}
        right_keys.update({f"link:{link.id}": link.right_key for link in data.links})
        for item in plan.items:
            if item.target == QUICKBOOKS:
                self._qbo_write(entity, data, item)
            elif item.target == ESP and item.action is Action.UPDATE:
                self._esp_write(entity, data, item, right_keys.get(item.pair))

    def _qbo_write(self, entity: EntityRule, data: EntityData, item: PlanItem) -> None:
        api_field, name = NATURAL_KEYS[entity.name]
        if item.action is Action.CREATE and item.identity is None and item.values.get(name):
            item.identity = (api_field, str(item.values[name]))  # looked up before a retried create
        if item.action is Action.UPDATE and item.target_key:
            record = data.right.get(item.target_key)
            token = record.checked.get("SyncToken") if record else None
            if token is None:
                item.action, item.reason = Action.REFUSED, "QuickBooks Online gave no SyncToken for the record"
                return
            item.fixed_values["SyncToken"] = str(token)

    def _esp_write(self, entity: EntityRule, data: EntityData, item: PlanItem, right_key: str | None) -> None:
        item.target_object = ESP_WRITE_OBJECTS.get(item.target_object or "", item.target_object)
        if entity.name in ("customer", "vendor"):
            created = item.reason == "link back to the record created"
            item.fixed_values["Source"] = "Created" if created else "Matched"
            if entity.name == "vendor":
                item.fixed_values["MemberTypes"] = self.vendor_types.get(item.target_key or "", ["Supplier"])
            record = data.left.get(item.target_key or "")
            if record is not None and record.values.get("name"):
                item.fixed_values["QuickBooksDisplayName"] = str(record.values["name"])
        elif entity.name in DOCUMENTS and not item.link_from_result and right_key:
            item.fixed_values.setdefault("ExternalId", right_key)  # ESP+ records every send with its QBO id

    def _match_normalised(self, entity: EntityRule, data: EntityData, plan: EntityPlan, translate: Translate) -> None:
        """A company without an exact match is matched on its normalised name (case, spaces, punctuation, legal
        suffixes) when its e-mail or phone agrees with the one QBO record of that name; several: review."""
        creates = [i for i in plan.items if i.action is Action.CREATE and i.target == QUICKBOOKS]
        if not creates:
            return
        taken = {link.right_key for link in data.links} | {o.right_key for o in plan.pairs.values()}
        taken |= {key for review in plan.reviews for key in (review.candidates if review.system == ESP else ())}
        by_name: dict[str, list[MappedRecord]] = {}
        for key, record in data.right.items():
            if key not in taken and record.values.get("name"):
                by_name.setdefault(normalised_name(str(record.values["name"])), []).append(record)
        for create in creates:
            source = data.left.get(create.source_key or "")
            if source is None or not source.values.get("name"):
                continue
            candidates = by_name.get(normalised_name(str(source.values["name"])), [])
            agreeing = [c for c in candidates if _contacts_agree(source, c)]
            if not agreeing:
                continue
            self._drop_pair(plan, create.pair)
            if len(agreeing) > 1:
                plan.reviews.append(Review(ESP, source.key, tuple(c.key for c in agreeing),
                                           "normalised name matches several QuickBooks records with the same e-mail "
                                           "or phone"))  # fmt: skip
                plan.counts["review"] += 1
                continue
            target = agreeing[0]
            by_name[normalised_name(str(target.values["name"]))].remove(target)
            pair = f"new:{entity.name}:{source.key}:{target.key}"
            plan_matched_pair(plan, self.mapping, entity, translate, _options(self), pair,
                              LinkState(None, source.key, target.key), source, target,
                              "normalised name with e-mail or phone")  # fmt: skip
            plan.counts["matched"] += 1
            for item in plan.items:
                if item.pair == pair and item.target == ESP:
                    item.reason = "normalised name with e-mail or phone"

    def _refuse_taken_names(self, entity: EntityRule, data: EntityData, plan: EntityPlan) -> None:
        """QBO names are unique across customers, vendors and employees (error 6240): a create whose name another
        QBO record (or a create earlier in this plan) has goes to review with that record, never a guess."""
        owners = self._name_owners()
        for item in [i for i in plan.items if i.action is Action.CREATE and i.target == QUICKBOOKS]:
            name = str(item.values.get("name") or "").casefold().strip()
            if not name:
                continue
            owner = owners.get(name)
            if owner is not None:
                self._drop_pair(plan, item.pair)
                plan.reviews.append(Review(ESP, item.source_key or "", (owner,),
                                           f"the name {item.values['name']!r} is taken by QuickBooks {owner} (names "
                                           "are unique across customers, vendors and employees)"))  # fmt: skip
                plan.counts["review"] += 1
                continue
            owners[name] = f"{entity.objects[QUICKBOOKS]} to be created for ESP+ company {item.source_key}"

    def _name_owners(self) -> dict[str, str]:
        if self._owners is None:
            owners: dict[str, str] = {}
            for kind in ("Customer", "Vendor", "Employee"):
                for key, payload, _deleted, _digest in self.store.iter_staged_records(QUICKBOOKS, kind):
                    name = str(payload.get("DisplayName") or "").casefold().strip()
                    if name:
                        owners.setdefault(name, f"{kind} {key}")
            self._owners = owners
        return self._owners

    @staticmethod
    def _drop_pair(plan: EntityPlan, pair: str) -> None:
        plan.items[:] = [item for item in plan.items if item.pair != pair]
        plan.pairs.pop(pair, None)


def _options(sync: QuickBooksSync) -> PlanOptions:
    return PlanOptions(
        policy=ConflictPolicy.LEFT_WINS,  # every field flows one way: ESP+ to QBO, or QBO's status back
        on_delete=sync.on_delete,
        create_left=False,  # Crosswalk never creates ESP+ companies or documents
        create_right=True,
        create_values_of=sync.create_values,
        hold=sync.hold,
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _written_line(line: Mapping[str, Any], integration: Integration) -> dict[str, Any]:
    """A QBO line with only what Crosswalk writes, so it compares with ESP+'s line (QBO adds ids, names, defaults)."""
    detail_type = line.get("DetailType")
    out: dict[str, Any] = {"DetailType": detail_type, "Amount": line.get("Amount"),
                           "Description": line.get("Description")}  # fmt: skip
    detail = line.get(detail_type) if isinstance(detail_type, str) else None
    if not isinstance(detail, dict):
        return out
    kept: dict[str, Any] = {}
    for key in ("ItemRef", "TaxCodeRef", "ClassRef", "CustomerRef"):
        if isinstance(detail.get(key), dict) and detail[key].get("value") is not None:
            kept[key] = {"value": str(detail[key]["value"])}
    for key in ("Qty", "UnitPrice", "BillableStatus"):
        if detail.get(key) is not None:
            kept[key] = detail[key]
    if detail_type == "ItemBasedExpenseLineDetail" or not (integration.tax_code or integration.non_taxable_code):
        kept.pop("TaxCodeRef", None)  # QBO fills in a default Crosswalk does not send
    if not integration.class_id:
        kept.pop("ClassRef", None)
    out[detail_type] = kept
    return out


def _total_message(qbo_total: Any, esp_total: Any) -> str | None:
    """What the ESP+ document shows when QBO's computed total (tax included) is not ESP+'s (B2)."""
    if qbo_total is None or esp_total is None:
        return None
    if abs(_number(qbo_total) - _number(esp_total)) < 0.005:
        return None
    return f"QuickBooks Online total {_number(qbo_total):.2f} differs from ESP+ total {_number(esp_total):.2f}"


def normalised_name(name: str) -> str:
    """Case, accents, punctuation, spaces and legal suffixes (Inc., LLC, Ltd) set aside: 'ACME, Inc.' -> 'acme'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold().replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))[-10:]


def _contacts_agree(esp: MappedRecord, qbo: MappedRecord) -> bool:
    email_a, email_b = (str(r.values.get("email") or "").casefold().strip() for r in (esp, qbo))
    phone_a, phone_b = _digits(esp.values.get("phone")), _digits(qbo.values.get("phone"))
    return bool(email_a and email_a == email_b) or bool(len(phone_a) >= 7 and phone_a == phone_b)


def quickbooks_engine(
    store: StagingStore,
    mapping_path: Path | str,
    *,
    on_delete: str = "flag",
    allow_billable_with_invoices: bool = False,
) -> tuple[SyncEngine, QuickBooksSync]:
    """The engine for one plan of this sync, with ESP+'s staged settings resolved against QBO's staged names."""
    mapping = load_quickbooks_mapping(mapping_path)
    integration = resolve_integration(
        staged_integration_settings(store), mapping.field_mappings, store,
        allow_billable_with_invoices=allow_billable_with_invoices,
    )  # fmt: skip
    sync = QuickBooksSync(store, mapping, integration, on_delete=OnDelete(on_delete))
    sources: dict[tuple[str, str], RecordSource] = {
        ("customer", ESP): sync.company_source(("IsCustomer",)),
        ("vendor", ESP): sync.company_source(("IsSupplier", "IsDecorator")),
        ("item", ESP): sync.item_source,
    }
    for entity in DOCUMENTS:
        sources[(entity, ESP)] = sync.document_source(entity)
        sources[(entity, QUICKBOOKS)] = sync.qbo_document_source(entity)
    engine = SyncEngine(store, mapping, _options(sync), extend_plan=sync.extend, record_sources=sources)
    return engine, sync


def status_plan(engine: SyncEngine) -> SyncPlan:
    """The status back's plan: only the writes to ESP+ (QBO's state onto its documents, links back). Writes to QBO
    it finds (a document edited since the send) wait for the next run's send, and so do their pairs' bases."""
    return engine.plan_writes_to(ESP)
