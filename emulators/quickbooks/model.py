"""The in-memory QBO company: entity stores, validation and computed fields, writes, queries and change data capture.

Records are kept as plain dicts in their wire shape (what a read returns), keyed by Id per entity, so a read, a
query page or an admin listing serialises them as they are. The model raises QboError; the wire layer renders it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from emulators.quickbooks import errors
from emulators.quickbooks.amounts import USD
from emulators.quickbooks.amounts import money as _money
from emulators.quickbooks.catalog import KINDS, TRANSACTIONS, EntityKind
from emulators.quickbooks.payments import Receivables
from emulators.quickbooks.query import (
    Condition,
    QueryPlan,
    compile_where,
    cut_at,
    id_sort_key,
    leading_range,
    sort_records,
    stamp_key,
    stamp_readable,
)

CDC_MAX_OBJECTS = 1000
CDC_WINDOW = timedelta(days=30)
NON_TAXABLE = {"value": "NON"}
DEFAULT_TERM_ID = "3"
NUMERIC_KEYS = frozenset(
    {
        "Amount",
        "UnitPrice",
        "Qty",
        "PurchaseCost",
        "QtyOnHand",
        "DiscountPercent",
        "TaxInclusiveAmt",
        "ExchangeRate",
        "Deposit",
        "DueDays",
        "DiscountDays",
        "BillRate",
        "TotalTax",
        "DayOfMonthDue",
        "DueNextMonthDays",
        "DiscountDayOfMonth",
        "TotalAmt",  # written only on a Payment; python-quickbooks' use_decimal sends amounts as strings
    }
)
ITEM_TYPES = ("Service", "NonInventory", "Inventory", "Category", "Group")
BILLABLE_STATUSES = ("Billable", "NotBillable")
ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
}
ACCOUNT_TYPE_OF_SUBTYPE = {
    "Checking": "Bank",
    "Savings": "Bank",
    "AccountsReceivable": "Accounts Receivable",
    "AccountsPayable": "Accounts Payable",
    "Inventory": "Other Current Asset",
    "UndepositedFunds": "Other Current Asset",
    "SalesOfProductIncome": "Income",
    "ServiceFeeIncome": "Income",
    "SuppliesMaterialsCogs": "Cost of Goods Sold",
    "SuppliesMaterials": "Expense",
    "OfficeGeneralAdministrativeExpenses": "Expense",
}
NAME_FIELD_OF = {
    "Customer": "DisplayName",
    "Vendor": "DisplayName",
    "Item": "Name",
    "Account": "Name",
    "Term": "Name",
    "Class": "Name",
}
SYSTEM_KEYS = ("domain", "sparse", "Id", "SyncToken", "MetaData")
# entity -> (party entity, its ref, +1 owed by / -1 owed to the party, the amount field that rolls up)
ROLL_UP = {
    "Invoice": ("Customer", "CustomerRef", 1.0, "Balance"),
    "Bill": ("Vendor", "VendorRef", 1.0, "Balance"),
    "CreditMemo": ("Customer", "CustomerRef", -1.0, "Balance"),
    "Payment": ("Customer", "CustomerRef", -1.0, "UnappliedAmt"),
}
_QUERY_CACHE_SIZE = 16


def _clean(value: Any, key: str = "") -> Any:
    """Drop python-quickbooks' placeholders ("" and null), stringify ref values, read numeric strings as numbers."""
    if isinstance(value, dict):
        out = {}
        for inner_key, inner in value.items():
            cleaned = _clean(inner, inner_key)
            if cleaned is None:
                continue
            out[inner_key] = cleaned
        if key.endswith("Ref"):
            if out.get("value") in (None, ""):
                return None
            out["value"] = str(out["value"])
        elif not out and (key.endswith("Addr") or key.endswith("Ref")):
            return None
        return out
    if isinstance(value, list):
        return [_clean(item, key) for item in value if item is not None]
    if value is None or value == "":
        return None
    if key in NUMERIC_KEYS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise errors.invalid_property(f"Invalid number {value!r} for {key}") from None
    if key == "value" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


class QboCompany(Receivables):
    """One realm's data."""

    def __init__(self, realm_id: str, stamp: Callable[[], str], today: Callable[[], date]) -> None:
        self.realm_id = realm_id
        self.stamp = stamp  # the next strictly increasing MetaData stamp
        self.today = today
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in KINDS}
        self.tombstones: dict[str, dict[str, str]] = {name: {} for name in KINDS}
        self.next_id: dict[str, int] = dict.fromkeys(KINDS, 1)
        self.next_doc_number: dict[str, int] = {"Invoice": 1001, "PurchaseOrder": 1001}
        self.names: dict[str, dict[str, str]] = {"contact": {}, "Item": {}, "Account": {}, "Term": {}, "Class": {}}
        self.versions: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._selections: OrderedDict[tuple[str, int], list[dict[str, Any]]] = OrderedDict()
        self.company_info: dict[str, Any] = {}
        self.preferences: dict[str, Any] = {}
        self.applied: dict[str, dict[str, float]] = {}  # "Invoice:1003" -> {payment Id: amount it applies}
        self.payment_links: dict[str, dict[str, float]] = {}  # payment Id -> {"Invoice:1003": amount}

    # ---- indexes -----------------------------------------------------------------------------------------

    @staticmethod
    def _name_group(entity: str) -> str:
        return "contact" if entity in ("Customer", "Vendor") else entity

    def _claim_name(self, entity: str, record: dict[str, Any], previous: dict[str, Any] | None) -> None:
        field = NAME_FIELD_OF.get(entity)
        if field is None:
            return
        group = self.names[self._name_group(entity)]
        new_name = str(record.get(field, "")).lower()
        owner = f"{entity}:{record['Id']}"
        holder = group.get(new_name)
        if holder is not None and holder != owner:
            raise errors.duplicate_name(entity)
        if previous is not None:
            old_name = str(previous.get(field, "")).lower()
            if old_name != new_name and group.get(old_name) == owner:
                del group[old_name]
        group[new_name] = owner

    def _touch(self, entity: str) -> None:
        self.versions[entity] += 1

    def index_record(self, entity: str, record: dict[str, Any]) -> None:
        """Store a record built elsewhere (generation, seeding) and keep ids, names and doc numbers consistent."""
        record_id = record["Id"]
        self._claim_name(entity, record, self.records[entity].get(record_id))
        self.records[entity][record_id] = record
        if record_id.isdigit():
            self.next_id[entity] = max(self.next_id[entity], int(record_id) + 1)
        self._touch(entity)

    # ---- reads -------------------------------------------------------------------------------------------

    def kind(self, entity: str) -> EntityKind:
        return KINDS[entity]

    def read(self, entity: str, record_id: str) -> dict[str, Any]:
        record = self.records[entity].get(record_id)
        if record is None:
            raise errors.object_not_found(deleted=record_id in self.tombstones[entity])
        return record

    def selection(self, plan: QueryPlan) -> list[dict[str, Any]]:
        """Every row matching the plan's WHERE, in its order; cached until the entity next changes."""
        if plan.entity == "CompanyInfo":
            rows = [self.company_info]
        elif plan.entity == "Preferences":
            rows = [self.preferences]
        else:
            rows = list(self.records[plan.entity].values())
        kind = KINDS.get(plan.entity)
        conditions = list(plan.conditions)
        if kind is not None and kind.name_list and not any(c.path == ("Active",) for c in conditions):
            conditions.append(Condition(("Active",), "=", [True]))
        stamp_range, others = leading_range(conditions, plan.order)
        if stamp_range is not None:
            return cut_at(self.selection(QueryPlan(plan.entity, conditions=others, order=plan.order)), stamp_range)
        version = self.versions.get(plan.entity, 0)
        key = (QueryPlan(plan.entity, conditions=conditions, order=plan.order).selection_key(), version)
        cached = self._selections.get(key)
        if cached is not None:
            self._selections.move_to_end(key)
            return cached
        predicate = compile_where(conditions)
        if predicate is not None:
            rows = [row for row in rows if predicate(row)]
        rows = sort_records(rows, plan.order) if plan.order else sorted(rows, key=id_sort_key)
        self._selections[key] = rows
        while len(self._selections) > _QUERY_CACHE_SIZE:
            self._selections.popitem(last=False)
        return rows

    def changes(self, entities: list[str], since: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """CDC: per entity, objects changed at or after `since` and tombstones of deleted ones (≤ 1000 in all)."""
        out: list[tuple[str, list[dict[str, Any]]]] = []
        budget = CDC_MAX_OBJECTS
        for entity in entities:
            changed = [
                r
                for r in self.records[entity].values()
                if r["MetaData"]["LastUpdatedTime"] >= since or not stamp_readable(r["MetaData"]["LastUpdatedTime"])
            ]
            changed += [
                {"domain": "QBO", "status": "Deleted", "Id": record_id, "MetaData": {"LastUpdatedTime": stamp}}
                for record_id, stamp in self.tombstones[entity].items()
                if stamp >= since
            ]
            changed.sort(key=lambda r: (stamp_key(r["MetaData"]["LastUpdatedTime"]), id_sort_key(r)))
            changed = changed[:budget]
            budget -= len(changed)
            if changed:
                out.append((entity, changed))
        return out

    # ---- writes ------------------------------------------------------------------------------------------

    def _writable_fields(self, kind: EntityKind, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.malformed_request("failed to parse json object; a property")
        fields: dict[str, Any] = {}
        for key, value in body.items():
            if key not in kind.fields:
                raise errors.unrecognized_property(kind.name, key)
            if key in kind.read_only:
                continue
            cleaned = _clean(value, key)
            if cleaned is not None:
                fields[key] = cleaned
        return fields

    def create(self, entity: str, body: Any, strict: bool = True) -> dict[str, Any]:
        kind = KINDS[entity]
        if not kind.writable:
            raise errors.unsupported_operation("Create")
        fields = self._writable_fields(kind, body)
        stamp = self.stamp()
        record_id = str(self.next_id[entity])
        record: dict[str, Any] = {
            "domain": "QBO",
            "sparse": False,
            "Id": record_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            **fields,
        }
        self._complete(kind, record, None, strict)
        self._claim_name(entity, record, None)
        self.next_id[entity] += 1
        self.records[entity][record_id] = record
        self._after_write(entity, None, record)
        if entity in ("Invoice", "CreditMemo"):
            self.auto_apply_credits(record["CustomerRef"]["value"])
        return record

    def seed_record(self, entity: str, body: Any) -> dict[str, Any]:
        """Load one record as given (Id, SyncToken, MetaData kept when present); references are not checked."""
        kind = KINDS[entity]
        fields = self._writable_fields(kind, body)
        given_meta = body.get("MetaData") if isinstance(body.get("MetaData"), dict) else {}
        stamp = given_meta.get("LastUpdatedTime") or given_meta.get("CreateTime") or self.stamp()
        record: dict[str, Any] = {
            "domain": "QBO",
            "sparse": False,
            "Id": str(body.get("Id") or self.next_id[entity]),
            "SyncToken": str(body.get("SyncToken", "0")),
            "MetaData": {"CreateTime": given_meta.get("CreateTime", stamp), "LastUpdatedTime": stamp},
            **fields,
        }
        for computed in ("Balance", "CurrentBalance"):
            if computed in body and computed in kind.read_only | {"Balance"}:
                record[computed] = body[computed]
        self._complete(kind, record, None, strict=False)
        self.index_record(entity, record)
        if entity == "Payment":
            self.relink(record["Id"], record, stamp=record["MetaData"]["LastUpdatedTime"], roll_up=False)
        return record

    def _current_for_write(self, kind: EntityKind, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.malformed_request("failed to parse json object; a property")
        record_id = body.get("Id")
        if record_id in (None, ""):
            raise errors.required_param("Id")
        record = self.read(kind.name, str(record_id))
        token = body.get("SyncToken")
        if token in (None, ""):
            raise errors.required_param("SyncToken")
        if str(token) != record["SyncToken"]:
            raise errors.stale_object(kind.name)
        return record

    def update(self, entity: str, body: Any) -> dict[str, Any]:
        kind = KINDS[entity]
        if not kind.writable:
            raise errors.unsupported_operation("Update")
        current = self._current_for_write(kind, body)
        incoming = self._writable_fields(kind, body)
        business = {k: v for k, v in current.items() if k not in SYSTEM_KEYS and k not in kind.read_only}
        if body.get("sparse") in (True, "true"):
            required = NAME_FIELD_OF.get(entity)
            for key, value in body.items():
                if value == "" and key in business and key != required and key not in kind.read_only:
                    del business[key]  # a sparse update applies what it names, blanks included
            business.update(incoming)
        else:
            business = incoming
        record: dict[str, Any] = {
            "domain": "QBO",
            "sparse": False,
            "Id": current["Id"],
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": self.stamp()},
            **business,
        }
        for carried in ("Balance", "BalanceWithJobs", "CurrentBalance", "CurrentBalanceWithSubAccounts"):
            if carried in current and kind.name not in TRANSACTIONS:
                record[carried] = current[carried]
        self._complete(kind, record, current, strict=True)
        self._claim_name(entity, record, current)
        self.records[entity][record["Id"]] = record
        self._after_write(entity, current, record)
        return record

    def delete(self, entity: str, body: Any) -> dict[str, Any]:
        kind = KINDS[entity]
        if not kind.deletable:
            raise errors.business_validation(
                f"{entity} is a list entity and cannot be deleted. Make it inactive instead (Active = false)."
            )
        current = self._current_for_write(kind, body)
        self.check_unlinked(entity, current["Id"])
        del self.records[entity][current["Id"]]
        self.tombstones[entity][current["Id"]] = self.stamp()
        self._after_write(entity, current, None)
        return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def void(self, entity: str, body: Any) -> dict[str, Any]:
        if entity not in ("Invoice", "Payment"):
            raise errors.unsupported_operation("Void")
        kind = KINDS[entity]
        current = self._current_for_write(kind, body)
        if entity == "Payment":
            voided = self.void_payment(current)
            self.records[entity][voided["Id"]] = voided
            self._after_write(entity, current, voided)
            return voided
        self.detach_invoice(current["Id"])
        record = {
            **current,
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": self.stamp()},
        }
        lines = []
        for line in current.get("Line", []):
            line = {**line, "Amount": 0.0}
            detail = line.get("SalesItemLineDetail")
            if isinstance(detail, dict):
                line["SalesItemLineDetail"] = {**detail, "Qty": 0.0, "UnitPrice": 0.0}
            lines.append(line)
        record["Line"] = lines
        record["TotalAmt"] = 0.0
        record["Balance"] = 0.0
        record["HomeBalance"] = 0.0
        record["LinkedTxn"] = []  # voiding clears every link (Intuit, "Linked transactions with voided invoices")
        note = current.get("PrivateNote")
        record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        self.records[entity][record["Id"]] = record
        self._after_write(entity, current, record)
        return record

    def mark_sent(self, entity: str, record_id: str, send_to: str | None) -> dict[str, Any]:
        """`POST /invoice/{id}/send`: the invoice is emailed (EmailStatus EmailSent, DeliveryInfo set)."""
        current = self.read(entity, record_id)
        stamp = self.stamp()
        record = {
            **current,
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": stamp},
            "EmailStatus": "EmailSent",
            "DeliveryInfo": {"DeliveryType": "Email", "DeliveryTime": stamp},
        }
        if send_to:
            record["BillEmail"] = {"Address": send_to}
        self.records[entity][record_id] = record
        self._after_write(entity, current, record)
        return record

    def state(self) -> dict[str, Any]:
        """The data to snapshot (everything but the clock hooks)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("stamp", "today", "_selections")}

    def load_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._selections = OrderedDict()

    def _after_write(
        self, entity: str, before: dict[str, Any] | None, after: dict[str, Any] | None, leave: str | None = None
    ) -> None:
        self._touch(entity)
        if entity == "Payment":
            self.relink(str((after or before or {})["Id"]), after, leave=leave)
        rollup = ROLL_UP.get(entity)
        if rollup is None:
            return
        # Open balances roll up to the customer/vendor without touching its SyncToken or stamps: what invoices and
        # bills leave open, less the credit memos' remaining credit and the payments' unapplied money.
        party_entity, ref_key, owed, field = rollup
        for record, sign in ((before, -owed), (after, owed)):
            if record is None:
                continue
            party = self.records[party_entity].get(record.get(ref_key, {}).get("value", ""))
            if party is not None:
                balance = _money(party.get("Balance", 0.0) + sign * record.get(field, 0.0))
                party["Balance"] = balance
                if "BalanceWithJobs" in party:
                    party["BalanceWithJobs"] = balance
                self._touch(party_entity)

    # ---- validation and computed fields ------------------------------------------------------------------

    def _ref(self, target: str, ref: Any, field: str, strict: bool) -> dict[str, Any]:
        if not isinstance(ref, dict) or not ref.get("value"):
            raise errors.required_param(field)
        record = self.records[target].get(str(ref["value"]))
        if record is None:
            if strict:
                raise errors.invalid_reference(field)
            return ref
        if strict and record.get("Active") is False:
            raise errors.inactive_reference(field)
        name_field = NAME_FIELD_OF.get(target)
        if name_field and record.get(name_field):
            label = record.get("FullyQualifiedName", record[name_field]) if target == "Item" else record[name_field]
            return {"value": record["Id"], "name": label}
        return {"value": record["Id"]}

    def _optional_ref(self, record: dict[str, Any], target: str, field: str, strict: bool) -> None:
        if field in record:
            record[field] = self._ref(target, record[field], field, strict)

    def _complete(
        self, kind: EntityKind, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool
    ) -> None:
        getattr(self, f"_complete_{kind.name.lower()}")(record, previous, strict)

    def _complete_contact(self, record: dict[str, Any], strict: bool) -> None:
        if not record.get("DisplayName"):
            parts = [record.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
            derived = " ".join(str(p) for p in parts if p) or record.get("CompanyName")
            if not derived:
                raise errors.required_param(
                    "DisplayName",
                    "Required parameter DisplayName (or one of Title, GivenName, MiddleName, "
                    "FamilyName, Suffix) is missing in the request.",
                )
            record["DisplayName"] = derived
        record.setdefault("PrintOnCheckName", record["DisplayName"])
        record.setdefault("Active", True)
        record.setdefault("CurrencyRef", USD)
        record.setdefault("Balance", 0.0)

    def _complete_customer(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        self._complete_contact(record, strict)
        record["FullyQualifiedName"] = record["DisplayName"]
        record.setdefault("Taxable", False)
        record.setdefault("Job", False)
        record.setdefault("BillWithParent", False)
        record.setdefault("IsProject", False)
        record.setdefault("PreferredDeliveryMethod", "Print")
        record["BalanceWithJobs"] = record.get("Balance", 0.0)
        self._optional_ref(record, "Term", "SalesTermRef", strict)

    def _complete_vendor(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        self._complete_contact(record, strict)
        record.setdefault("Vendor1099", False)
        self._optional_ref(record, "Term", "TermRef", strict)
        self._optional_ref(record, "Account", "APAccountRef", strict)

    def _complete_item(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        if not record.get("Name"):
            raise errors.required_param("Name")
        item_type = record.get("Type")
        if not item_type:
            raise errors.required_param("Type")
        if item_type not in ITEM_TYPES or (item_type == "Group" and previous is None and strict):
            raise errors.invalid_enumeration(str(item_type), "Type")
        if item_type in ("Service", "Inventory") and "IncomeAccountRef" not in record:
            raise errors.required_param("IncomeAccountRef")
        if item_type == "Inventory":
            record["TrackQtyOnHand"] = True
            if "AssetAccountRef" not in record:
                raise errors.required_param(
                    "AssetAccountRef",
                    "Required parameter is missing in the request. An inventory assetaccount is "
                    "required if you are tracking inventory quantities for this product.",
                )
        elif previous is not None and previous.get("TrackQtyOnHand") and record.get("TrackQtyOnHand") is False:
            raise errors.business_validation("You can't change the type of an inventory item.")
        for field in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            self._optional_ref(record, "Account", field, strict)
        record["FullyQualifiedName"] = record["Name"]
        record.setdefault("Active", True)
        record.setdefault("Taxable", False)
        record.setdefault("UnitPrice", 0)
        record.setdefault("TrackQtyOnHand", False)
        record.setdefault("SubItem", False)

    def _complete_account(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        if not record.get("Name"):
            raise errors.required_param("Name")
        if any(ch in record["Name"] for ch in '":'):
            raise errors.invalid_property('Name cannot contain " or :')
        account_type = record.get("AccountType") or ACCOUNT_TYPE_OF_SUBTYPE.get(record.get("AccountSubType", ""))
        if not account_type:
            raise errors.required_param("AccountType")
        if account_type not in ACCOUNT_CLASSIFICATION:
            raise errors.invalid_enumeration(str(account_type), "AccountType")
        record["AccountType"] = account_type
        record["Classification"] = ACCOUNT_CLASSIFICATION[account_type]
        record["FullyQualifiedName"] = record["Name"]
        record.setdefault("Active", True)
        record.setdefault("SubAccount", False)
        record.setdefault("CurrencyRef", USD)
        record.setdefault("CurrentBalance", 0)
        record.setdefault("CurrentBalanceWithSubAccounts", record["CurrentBalance"])

    def _complete_taxcode(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        record.setdefault("Active", True)

    def _complete_term(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        if not record.get("Name"):
            raise errors.required_param("Name")
        record["Type"] = "DATE_DRIVEN" if "DayOfMonthDue" in record else "STANDARD"
        record.setdefault("Active", True)

    def _complete_class(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        if not record.get("Name"):
            raise errors.required_param("Name")
        record["FullyQualifiedName"] = record["Name"]
        record.setdefault("SubClass", False)
        record.setdefault("Active", True)

    def _lines(self, record: dict[str, Any], strict: bool, allowed: tuple[str, ...]) -> float:
        lines = record.get("Line")
        if not lines:
            raise errors.required_param("Line")
        total = 0.0
        out = []
        for number, line in enumerate((ln for ln in lines if ln.get("DetailType") != "SubTotalLineDetail"), 1):
            if not isinstance(line, dict):
                raise errors.malformed_request("Line")
            detail_type = line.get("DetailType")
            if not detail_type:
                raise errors.required_param("DetailType")
            if detail_type not in allowed:
                raise errors.invalid_enumeration(str(detail_type), "DetailType")
            line = {**line, "Id": str(number), "LineNum": number}
            detail = dict(line.get(detail_type) or {})
            if detail_type in ("DescriptionOnly", "DescriptionLineDetail"):
                out.append(line)
                continue
            amount = line.get("Amount")
            if not isinstance(amount, int | float):
                raise errors.required_param("Amount")
            line["Amount"] = _money(amount)
            if "ItemRef" in detail or detail_type in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
                detail["ItemRef"] = self._ref("Item", detail.get("ItemRef"), "ItemRef", strict)
            if "AccountRef" in detail or detail_type == "AccountBasedExpenseLineDetail":
                detail["AccountRef"] = self._ref("Account", detail.get("AccountRef"), "AccountRef", strict)
            if "CustomerRef" in detail:
                detail["CustomerRef"] = self._ref("Customer", detail["CustomerRef"], "CustomerRef", strict)
            if "ClassRef" in detail:
                detail["ClassRef"] = self._ref("Class", detail["ClassRef"], "ClassRef", strict)
            if detail_type in ("ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail"):
                status = detail.setdefault("BillableStatus", "NotBillable")
                if status not in BILLABLE_STATUSES:
                    raise errors.invalid_enumeration(str(status), "BillableStatus")
            if detail_type != "DiscountLineDetail":
                detail.setdefault("TaxCodeRef", NON_TAXABLE)
            line[detail_type] = detail
            total += -line["Amount"] if detail_type == "DiscountLineDetail" else line["Amount"]
            out.append(line)
        record["Line"] = out
        return _money(total)

    def _dates(self, record: dict[str, Any], term_ref: str) -> None:
        txn_date = record.setdefault("TxnDate", self.today().isoformat())
        if "DueDate" not in record:
            term = self.records["Term"].get(record.get(term_ref, {}).get("value", DEFAULT_TERM_ID), {})
            try:
                start = date.fromisoformat(str(txn_date))
            except ValueError:
                raise errors.invalid_property(f"Invalid date {txn_date!r} for TxnDate") from None
            record["DueDate"] = (start + timedelta(days=int(term.get("DueDays", 30)))).isoformat()

    def _doc_number(self, entity: str, record: dict[str, Any]) -> None:
        if "DocNumber" not in record:
            record["DocNumber"] = str(self.next_doc_number[entity])
            self.next_doc_number[entity] += 1

    def _sales_form_lines(self, record: dict[str, Any], strict: bool) -> float:
        """An invoice's or credit memo's lines, with QBO's appended subtotal line; returns the total."""
        total = self._lines(
            record, strict, ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionOnly", "GroupLineDetail")
        )
        subtotal = sum(ln["Amount"] for ln in record["Line"] if ln["DetailType"] == "SalesItemLineDetail")
        subtotal_line = {"Amount": _money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        record["Line"].append(subtotal_line)
        return total

    def _sales_doc_number(self, record: dict[str, Any]) -> None:
        self._doc_number("Invoice", record)  # invoices and credit memos number from one sales-form sequence (ours)

    def _check_statuses(self, record: dict[str, Any]) -> None:
        for status_field, allowed in (
            ("EmailStatus", ("NotSet", "NeedToSend", "EmailSent")),
            ("PrintStatus", ("NotSet", "NeedToPrint", "PrintComplete")),
        ):
            value = record.setdefault(status_field, "NotSet")
            if value not in allowed:
                raise errors.invalid_enumeration(str(value), status_field)

    def _complete_invoice(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        record["CustomerRef"] = self._ref("Customer", record.get("CustomerRef"), "CustomerRef", strict)
        total = self._sales_form_lines(record, strict)
        if "SalesTermRef" not in record:
            customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
            record["SalesTermRef"] = customer.get("SalesTermRef") or {"value": DEFAULT_TERM_ID, "name": "Net 30"}
        self._optional_ref(record, "Term", "SalesTermRef", strict)
        self._optional_ref(record, "Class", "ClassRef", strict)
        self._dates(record, "SalesTermRef")
        self._sales_doc_number(record)
        record.setdefault("CurrencyRef", USD)
        record["TxnTaxDetail"] = {"TotalTax": 0}
        self._check_statuses(record)
        # What payments and credits apply stays applied: the balance is the new total less it.
        applied = self.applied_to("Invoice", record["Id"]) if previous is not None else 0.0
        if strict and applied > total + 0.005:
            raise errors.business_validation(
                f"The invoice total ({total:.2f}) cannot be less than the payments and credits applied to it "
                f"({applied:.2f})."
            )
        record["LinkedTxn"] = self.invoice_links(record["Id"], record.get("LinkedTxn") or [])
        record["TotalAmt"] = total
        record["Balance"] = _money(total - applied)
        record["HomeBalance"] = record["Balance"]

    def _complete_vendor_document(self, record: dict[str, Any], strict: bool) -> float:
        record["VendorRef"] = self._ref("Vendor", record.get("VendorRef"), "VendorRef", strict)
        total = self._lines(
            record, strict, ("ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail", "DescriptionOnly")
        )
        record["APAccountRef"] = self._ref(
            "Account", record.get("APAccountRef") or {"value": "33"}, "APAccountRef", strict
        )
        record.setdefault("CurrencyRef", USD)
        record.setdefault("LinkedTxn", [])
        record["TotalAmt"] = total
        return total

    def _complete_bill(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        total = self._complete_vendor_document(record, strict)
        if "SalesTermRef" not in record:
            vendor = self.records["Vendor"].get(record["VendorRef"]["value"], {})
            record["SalesTermRef"] = vendor.get("TermRef") or {"value": DEFAULT_TERM_ID, "name": "Net 30"}
        self._optional_ref(record, "Term", "SalesTermRef", strict)
        self._dates(record, "SalesTermRef")
        record["Balance"] = total

    def _complete_purchaseorder(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        self._complete_vendor_document(record, strict)
        record.setdefault("TxnDate", self.today().isoformat())
        self._doc_number("PurchaseOrder", record)
        status = record.setdefault("POStatus", "Open")
        if status not in ("Open", "Closed"):
            raise errors.invalid_enumeration(str(status), "POStatus")
        record.setdefault("EmailStatus", "NotSet")
