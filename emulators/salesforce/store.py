"""The in-memory org: one columnar table per sObject, writes with Salesforce's validation, SOQL execution.

Columns rather than a dict per record keep a million task rows compact: datetimes are epoch milliseconds in
`array('q')`, other values sit in plain lists shared across rows where they repeat. A SystemModstamp index (rows in
stamp order) lets the incremental-extract query `WHERE SystemModstamp > X ORDER BY SystemModstamp` start at X
instead of sorting the table, and query cursors keep the matched row numbers, so every page costs O(page).
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.core.clock import EmulatorClock
from emulators.core.faults import FaultInjector
from emulators.salesforce.catalogue import (
    NUMBER_TYPES,
    OBJECTS,
    OBJECTS_BY_LOWER,
    OBJECTS_BY_PREFIX,
    OPPORTUNITY_STAGES,
    TEXT_TYPES,
    FieldSpec,
    ObjectSpec,
)
from emulators.salesforce.errors import (
    RecordError,
    SalesforceApiError,
    invalid_field,
    invalid_type,
    malformed_query,
    not_found,
)
from emulators.salesforce.formats import NULL_MS, datetime_to_ms, ms_to_wire, parse_date, parse_datetime
from emulators.salesforce.soql import BoolOp, Comparison, Literal, Query
from emulators.world import salesforce_id, salesforce_id_checksum

_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
INTEGRATION_USER_NUMBER = 0  # the API user every live write is made by (User ids of the world start at 1)
MAX_CURSORS = 50


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when it is not shaped like an id."""
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return None
    body = value[:15]
    return body + salesforce_id_checksum(body)


def record_url(version: str, object_name: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{object_name}/{record_id}"


class Table:
    """One sObject's rows, column by column; a row number never changes once given."""

    def __init__(self, spec: ObjectSpec) -> None:
        self.spec = spec
        self.columns: dict[str, Any] = {
            f.name: array("q") if f.type == "datetime" else [] for f in spec.fields
        }
        self.size = 0
        self.row_of_id: dict[str, int] = {}
        self.unique: dict[str, dict[str, int]] = {f.name: {} for f in spec.fields if f.unique}
        self.gone: set[int] = set()  # hard-deleted rows: invisible even to queryAll
        self.next_number = 1
        self.order_rows = array("q")  # rows in SystemModstamp order (stale entries skipped on read)
        self.order_stamps = array("q")
        self.order_dirty = False
        self.has_deleted_flag = "IsDeleted" in self.columns

    # ---- reading ----------------------------------------------------------------------------------------------

    def getter(self, spec: FieldSpec) -> Callable[[int], Any]:
        column = self.columns[spec.name]
        if spec.type == "datetime":
            return lambda row: None if column[row] == NULL_MS else column[row]
        return column.__getitem__

    def is_deleted(self, row: int) -> bool:
        return self.has_deleted_flag and self.columns["IsDeleted"][row]

    def visible(self, row: int, include_deleted: bool) -> bool:
        if row in self.gone:
            return False
        return include_deleted or not self.is_deleted(row)

    def live_row(self, record_id: str) -> int | None:
        row = self.row_of_id.get(record_id)
        if row is None or row in self.gone:
            return None
        return row

    # ---- the SystemModstamp index ----------------------------------------------------------------------------

    def _note_stamp(self, row: int, stamp: int) -> None:
        if self.order_stamps and stamp < self.order_stamps[-1]:
            self.order_dirty = True
        self.order_rows.append(row)
        self.order_stamps.append(stamp)

    def _rebuild_order(self) -> None:
        stamps = self.columns["SystemModstamp"]
        rows = sorted(range(self.size), key=stamps.__getitem__)
        self.order_rows = array("q", rows)
        self.order_stamps = array("q", (stamps[r] for r in rows))
        self.order_dirty = False

    def rows_by_modstamp(self, lower: int | None, inclusive: bool) -> Iterator[int]:
        if self.order_dirty or len(self.order_rows) < self.size:
            self._rebuild_order()
        stamps = self.columns["SystemModstamp"]
        start = 0
        if lower is not None:
            find = bisect.bisect_left if inclusive else bisect.bisect_right
            start = find(self.order_stamps, lower)
        order_rows, order_stamps, size = self.order_rows, self.order_stamps, self.size
        for index in range(start, len(order_rows)):
            row = order_rows[index]
            if row < size and stamps[row] == order_stamps[index]:
                yield row

    # ---- writing ----------------------------------------------------------------------------------------------

    def append(self, values: dict[str, Any]) -> int:
        row = self.size
        for spec in self.spec.fields:
            value = values.get(spec.name)
            if spec.type == "datetime":
                self.columns[spec.name].append(NULL_MS if value is None else value)
            else:
                self.columns[spec.name].append(value)
        self.size += 1
        self.row_of_id[values["Id"]] = row
        for name, index in self.unique.items():
            if values.get(name) is not None:
                index[values[name]] = row
        self._note_stamp(row, values["SystemModstamp"])
        return row

    def pop_last(self) -> None:
        row = self.size - 1
        record_id = self.columns["Id"][row]
        for name, index in self.unique.items():
            value = self.columns[name][row]
            if value is not None and index.get(value) == row:
                del index[value]
        for column in self.columns.values():
            column.pop()
        self.row_of_id.pop(record_id, None)
        self.size -= 1

    def set(self, row: int, values: dict[str, Any]) -> dict[str, Any]:
        """Write values into a row; returns the previous values (for rollback)."""
        previous: dict[str, Any] = {}
        for name, value in values.items():
            column = self.columns[name]
            old = column[row]
            previous[name] = None if (old == NULL_MS and isinstance(column, array)) else old
            if name in self.unique:
                index = self.unique[name]
                if old is not None and index.get(old) == row:
                    del index[old]
                if value is not None and not self.is_deleted(row):
                    index[value] = row
            column[row] = NULL_MS if (value is None and isinstance(column, array)) else value
        if "IsDeleted" in values:
            deleted = bool(values["IsDeleted"])
            for name, index in self.unique.items():
                value = self.columns[name][row]
                if value is None:
                    continue
                if deleted and index.get(value) == row:
                    del index[value]
                elif not deleted:
                    index[value] = row
        if "SystemModstamp" in values and values["SystemModstamp"] is not None:
            self._note_stamp(row, values["SystemModstamp"])
        return previous

    def bulk_load(self, columns: dict[str, list[Any]], count: int) -> None:
        """Append `count` seeded rows given column-wise (missing columns are null or the field default)."""
        start = self.size
        for spec in self.spec.fields:
            values = columns.get(spec.name)
            if values is None:
                fill = spec.default if spec.default is not None else (False if spec.type == "boolean" else None)
                values = [fill] * count
            if spec.type == "datetime":
                self.columns[spec.name].extend(NULL_MS if v is None else v for v in values)
            else:
                self.columns[spec.name].extend(values)
        self.size += count
        ids = self.columns["Id"]
        self.row_of_id.update(zip(ids[start:], range(start, self.size), strict=True))
        deleted = self.columns["IsDeleted"] if self.has_deleted_flag else None
        for name, index in self.unique.items():
            column = self.columns[name]
            for row in range(start, self.size):
                value = column[row]
                if value is not None and not (deleted and deleted[row]):
                    index[value] = row
        self.order_dirty = True


@dataclass
class SelectItem:
    key: str  # the response key (catalogue spelling)
    spec: FieldSpec | None = None  # a plain field
    reference: FieldSpec | None = None  # a parent relationship: the lookup field
    parent: Table | None = None
    parent_fields: list[FieldSpec] = field(default_factory=list)


@dataclass
class Cursor:
    table: Table
    rows: array
    select: list[SelectItem]
    include_deleted: bool


@dataclass
class Undo:
    table: Table
    kind: str  # insert | set
    row: int
    previous: dict[str, Any] = field(default_factory=dict)


def wire_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "datetime":
        return ms_to_wire(value)
    if spec.type == "int":
        return int(value)
    if spec.type in ("double", "currency", "percent"):
        return float(value)
    return value


class SalesforceOrg:
    """Every table of one org, the API user, and the DML and query operations the REST and Bulk layers call."""

    def __init__(self, clock: EmulatorClock, faults: FaultInjector) -> None:
        self.clock = clock
        self.faults = faults
        self.tables: dict[str, Table] = {name: Table(spec) for name, spec in OBJECTS.items()}
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.cursor_number = 0
        self.journal: list[Undo] | None = None
        self.user_id = salesforce_id("005", INTEGRATION_USER_NUMBER)
        self.add_integration_user()

    def add_integration_user(self) -> None:
        stamp = datetime_to_ms(datetime(2024, 1, 1, tzinfo=UTC))
        self.tables["User"].append({
            "Id": self.user_id, "Username": "integration@crosswalk-sandbox.example", "FirstName": "Crosswalk",
            "LastName": "Integration", "Name": "Crosswalk Integration",
            "Email": "integration@crosswalk-sandbox.example",
            "Alias": "cwint", "IsActive": True, "TimeZoneSidKey": "America/Los_Angeles", "LocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US", "EmailEncodingKey": "UTF-8", "CreatedDate": stamp,
            "CreatedById": self.user_id, "LastModifiedDate": stamp, "LastModifiedById": self.user_id,
            "SystemModstamp": stamp,
        })

    # ---- lookups ------------------------------------------------------------------------------------------------

    def table(self, object_name: str) -> Table:
        spec = OBJECTS_BY_LOWER.get(object_name.lower())
        if spec is None:
            raise not_found()
        return self.tables[spec.name]

    def query_table(self, object_name: str) -> Table:
        spec = OBJECTS_BY_LOWER.get(object_name.lower())
        if spec is None:
            raise invalid_type(object_name)
        return self.tables[spec.name]

    def new_id(self, table: Table) -> str:
        number = table.next_number
        table.next_number += 1
        return salesforce_id(table.spec.key_prefix, number)

    def now_ms(self) -> int:
        return datetime_to_ms(self.clock.tick())

    def full_record(self, table: Table, row: int, version: str, fields: Iterable[FieldSpec] | None = None) -> dict:
        record: dict[str, Any] = {
            "attributes": {"type": table.spec.name,
                           "url": record_url(version, table.spec.name, table.columns["Id"][row])}
        }
        for spec in fields if fields is not None else table.spec.fields:
            record[spec.name] = wire_value(spec, table.getter(spec)(row))
        return record

    # ---- transactions (allOrNone) ---------------------------------------------------------------------------

    def begin(self) -> None:
        self.journal = []

    def commit(self) -> None:
        self.journal = None

    def rollback(self) -> None:
        journal, self.journal = self.journal or [], None
        for undo in reversed(journal):
            if undo.kind == "insert":
                undo.table.pop_last()
            else:
                undo.table.set(undo.row, undo.previous)

    def _record(self, undo: Undo) -> None:
        if self.journal is not None:
            self.journal.append(undo)

    # ---- value validation -------------------------------------------------------------------------------------

    def _type_error(self, spec: FieldSpec, raw: Any, csv_mode: bool) -> RecordError:
        if csv_mode:
            return RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{spec.label}: value not of required type: {raw}",
                               [spec.name])
        return RecordError(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {spec.type} from VALUE_STRING value {raw} or request may be missing a "
            "required field",
            [spec.name],
        )

    def _reference(self, spec: FieldSpec, raw: str) -> str:
        canonical = normalize_id(raw)
        if canonical is None:
            raise RecordError("MALFORMED_ID", f"{spec.label}: id value of incorrect type: {raw}", [spec.name])
        target = self.tables[spec.reference_to or ""]
        if canonical[:3] != target.spec.key_prefix:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", f"{spec.label}: id value of incorrect type: {raw}",
                              [spec.name])
        row = target.live_row(canonical)
        if row is None or target.is_deleted(row):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name])
        return canonical

    def _foreign_key(self, spec: FieldSpec, ext_field: str, ext_value: Any) -> str:
        target = self.tables[spec.reference_to or ""]
        ext = target.spec.field(ext_field)
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise RecordError("INVALID_FIELD", f"Field name provided, {ext_field} is not an External ID or indexed "
                              f"field for {target.spec.name}", [spec.name])
        if ext.name == "Id":
            return self._reference(spec, str(ext_value))
        row = target.unique[ext.name].get(str(ext_value))
        if row is None:
            raise RecordError("INVALID_FIELD", f"Foreign key external ID: {ext_value} not found for field "
                              f"{ext.name} in entity {target.spec.name}", [spec.name])
        return target.columns["Id"][row]

    def value(self, spec: FieldSpec, raw: Any, csv_mode: bool = False) -> Any:
        """The stored form of a value sent for a field, or a RecordError naming the field."""
        if raw is None:
            return False if spec.type == "boolean" else None
        kind = spec.type
        if kind in TEXT_TYPES:
            if isinstance(raw, (dict, list)):
                raise self._type_error(spec, raw, csv_mode)
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
            text = raw if isinstance(raw, str) else str(raw)
            if text == "":
                return None  # Salesforce stores an empty text value as null
            if kind == "reference":
                return self._reference(spec, text)
            if kind == "id":
                return normalize_id(text)
            if spec.length and len(text) > spec.length:
                raise RecordError("STRING_TOO_LONG", f"{spec.label}: data value too large: {text[:40]} (max length="
                                  f"{spec.length})", [spec.name])
            if kind == "picklist" and spec.restricted and text not in spec.picklist:
                raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  f"{spec.label}: bad value for restricted picklist field: {text}", [spec.name])
            return text
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
                return raw.lower() in ("true", "1", "yes")
            raise self._type_error(spec, raw, csv_mode)
        if kind in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise self._type_error(spec, raw, csv_mode)
            if isinstance(raw, str):
                if raw.strip() == "":
                    return None
                try:
                    raw = float(raw)
                except ValueError:
                    raise self._type_error(spec, raw, csv_mode) from None
            if not isinstance(raw, (int, float)):
                raise self._type_error(spec, raw, csv_mode)
            if kind == "int":
                return int(raw)
            return round(float(raw), spec.scale) if spec.scale else float(raw)
        if kind == "date":
            parsed = parse_date(raw) if isinstance(raw, str) else None
            if parsed is None:
                raise self._type_error(spec, raw, csv_mode)
            return parsed
        if kind == "datetime":
            parsed_ms = parse_datetime(raw) if isinstance(raw, str) else None
            if parsed_ms is None:
                raise self._type_error(spec, raw, csv_mode)
            return parsed_ms
        return raw

    def coerce(self, table: Table, body: dict[str, Any], creating: bool, csv_mode: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            if "." in key:  # a Bulk CSV relationship column, e.g. ia_crm__Project__r.ia_crm__Project_ID__c
                relationship, _, ext_field = key.partition(".")
                reference = table.spec.relationships.get(relationship.lower())
                if reference is None:
                    raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {table.spec.name}")
                values[reference.name] = None if raw is None else self._foreign_key(reference, ext_field, raw)
                continue
            spec = table.spec.field(key)
            if spec is None:
                reference = table.spec.relationships.get(key.lower())
                if reference is not None and isinstance(raw, dict):
                    ext_fields = [k for k in raw if k != "attributes"]
                    if len(ext_fields) != 1:
                        raise RecordError("INVALID_FIELD", f"A relationship reference for {key} must name exactly "
                                          "one external ID field", [reference.name])
                    values[reference.name] = self._foreign_key(reference, ext_fields[0], raw[ext_fields[0]])
                    continue
                raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {table.spec.name}")
            allowed = spec.createable if creating else spec.updateable
            if not allowed:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security settings of this field "
                    "and verify that it is read/write for your profile or permission set.",
                    [spec.name],
                )
            values[spec.name] = self.value(spec, raw, csv_mode)
        return values

    def _derive(self, table: Table, values: dict[str, Any], row: int | None, explicit: set[str]) -> None:
        name = table.spec.name
        if name == "Opportunity" and "StageName" in values:
            probability, forecast, closed, won = OPPORTUNITY_STAGES.get(values["StageName"], (None, None, False, False))
            values["IsClosed"], values["IsWon"] = closed, won
            if "ForecastCategoryName" not in explicit:
                values["ForecastCategoryName"] = forecast
            if "Probability" not in explicit and probability is not None:
                values["Probability"] = float(probability)
        elif name == "User" and ({"FirstName", "LastName"} & values.keys()):
            first = values.get("FirstName", table.columns["FirstName"][row] if row is not None else None)
            last = values.get("LastName", table.columns["LastName"][row] if row is not None else None)
            values["Name"] = " ".join(part for part in (first, last) if part)
        elif name == "Contract" and ({"StartDate", "ContractTerm"} & values.keys()):
            start = values.get("StartDate", table.columns["StartDate"][row] if row is not None else None)
            term = values.get("ContractTerm", table.columns["ContractTerm"][row] if row is not None else None)
            values["EndDate"] = contract_end_date(start, term)

    def _check_unique(self, table: Table, values: dict[str, Any], row: int | None) -> None:
        for name, index in table.unique.items():
            value = values.get(name)
            if value is None:
                continue
            existing = index.get(value)
            if existing is not None and existing != row:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {name} duplicates value on record with id: "
                    f"{table.columns['Id'][existing]}",
                    [],
                )

    def _draw_fault(self, table: Table) -> None:
        fault = self.faults.draw_record_error(table.spec.name)
        if fault is None:
            return
        code, message = "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"
        if fault.message:
            head, sep, tail = fault.message.partition(":")
            if sep and re.fullmatch(r"[A-Z_]+", head.strip()):
                code, message = head.strip(), tail.strip()
            else:
                message = fault.message
        raise RecordError(code, message, [])

    # ---- DML ---------------------------------------------------------------------------------------------------

    def insert(self, object_name: str, body: dict[str, Any], csv_mode: bool = False) -> str:
        table = self.table(object_name)
        if any(k.lower() == "id" for k in body):
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id. Please check "
                              "the security settings of this field and verify that it is read/write for your profile "
                              "or permission set.", ["Id"])
        values = self.coerce(table, body, creating=True, csv_mode=csv_mode)
        explicit = set(values)
        for spec in table.spec.fields:
            if spec.name not in values and spec.default is not None:
                values[spec.name] = spec.default
            elif spec.name not in values and spec.type == "boolean" and spec.createable:
                values[spec.name] = False
        missing = [s.name for s in table.spec.fields if s.required and values.get(s.name) is None]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._derive(table, values, None, explicit)
        self._check_unique(table, values, None)
        self._draw_fault(table)
        stamp = self.now_ms()
        record_id = self.new_id(table)
        values.update({"Id": record_id, "CreatedDate": stamp, "CreatedById": self.user_id, "LastModifiedDate": stamp,
                       "LastModifiedById": self.user_id, "SystemModstamp": stamp})
        if "OwnerId" in table.columns and values.get("OwnerId") is None:
            values["OwnerId"] = self.user_id
        if "IsDeleted" in table.columns:
            values["IsDeleted"] = False
        if table.spec.name == "Contract":
            values["ContractNumber"] = f"{table.next_number - 1:08d}"
        row = table.append(values)
        self._record(Undo(table, "insert", row))
        return record_id

    def locate(self, table: Table, record_id: str, allow_deleted: bool = False) -> int:
        canonical = normalize_id(record_id)
        row = table.live_row(canonical) if canonical else None
        if row is None:
            if canonical is None or canonical[:3] != table.spec.key_prefix:
                raise RecordError("MALFORMED_ID", f"{table.spec.label} ID: id value of incorrect type: {record_id}",
                                  ["Id"], http_status=400 if canonical is None else 404)
            raise RecordError("NOT_FOUND", "The requested resource does not exist", [], http_status=404)
        if table.is_deleted(row) and not allow_deleted:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [], http_status=404)
        return row

    def update(self, object_name: str, record_id: str, body: dict[str, Any], csv_mode: bool = False) -> str:
        table = self.table(object_name)
        row = self.locate(table, record_id)
        values = self.coerce(table, body, creating=False, csv_mode=csv_mode)
        required_nulls = [n for n, v in values.items() if v is None and table.spec.by_lower[n.lower()].required]
        if required_nulls:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(required_nulls)}]",
                              required_nulls)
        self._derive(table, values, row, set(values))
        self._check_unique(table, values, row)
        self._draw_fault(table)
        stamp = self.now_ms()
        values.update({"LastModifiedDate": stamp, "LastModifiedById": self.user_id, "SystemModstamp": stamp})
        self._record(Undo(table, "set", row, table.set(row, values)))
        return table.columns["Id"][row]

    def find_by_external_id(self, table: Table, field_name: str, value: str) -> list[int]:
        spec = table.spec.field(field_name)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise SalesforceApiError(404, "NOT_FOUND",
                                     f"Provided external ID field does not exist or is not accessible: {field_name}")
        if spec.name == "Id":
            canonical = normalize_id(value)
            row = table.live_row(canonical) if canonical else None
            return [] if row is None or table.is_deleted(row) else [row]
        row = table.unique[spec.name].get(value) if spec.unique else None
        if spec.unique:
            return [] if row is None else [row]
        column = table.columns[spec.name]
        return [r for r in range(table.size) if column[r] == value and table.visible(r, False)]

    def upsert(self, object_name: str, field_name: str, value: str, body: dict[str, Any],
               csv_mode: bool = False) -> tuple[str, bool]:
        """Returns (id, created)."""
        table = self.table(object_name)
        spec = table.spec.field(field_name)
        if any(k == "Id" for k in body) and (spec is None or spec.name != "Id"):
            raise RecordError("INVALID_FIELD", "The Id field should not be specified in the sobject data.", [])
        rows = self.find_by_external_id(table, field_name, value)
        if len(rows) > 1:
            raise SalesforceApiError(300, "MULTIPLE_CHOICES", "more than one record found for external id field")
        assert spec is not None
        if rows:
            clean = {k: v for k, v in body.items() if k.lower() != spec.name.lower()}
            return self.update(table.spec.name, table.columns["Id"][rows[0]], clean, csv_mode), False
        if spec.name == "Id":
            raise RecordError("NOT_FOUND", "The requested resource does not exist", [], http_status=404)
        merged = {k: v for k, v in body.items() if k.lower() != spec.name.lower()}
        merged[spec.name] = value
        return self.insert(table.spec.name, merged, csv_mode), True

    def delete(self, object_name: str, record_id: str, hard: bool = False) -> str:
        table = self.table(object_name)
        if not table.spec.deletable:
            raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
        row = self.locate(table, record_id, allow_deleted=hard)
        self._draw_fault(table)
        stamp = self.now_ms()
        previous = table.set(row, {"IsDeleted": True, "SystemModstamp": stamp})
        self._record(Undo(table, "set", row, previous))
        if hard:
            table.gone.add(row)
        return table.columns["Id"][row]

    # ---- SOQL ----------------------------------------------------------------------------------------------------

    def _field_getter(self, table: Table, path: str) -> tuple[FieldSpec, Callable[[int], Any]]:
        if "." not in path:
            spec = table.spec.field(path)
            if spec is None:
                raise invalid_field(
                    f"No such column '{path}' on entity '{table.spec.name}'. If you are attempting to use a custom "
                    "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                    "describe call for the appropriate names."
                )
            return spec, table.getter(spec)
        relationship, _, rest = path.partition(".")
        reference = table.spec.relationships.get(relationship.lower())
        if reference is None or "." in rest:
            raise invalid_field(f"Didn't understand relationship '{relationship}' in field path. If you are "
                                "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                                "relationship name. Please reference your WSDL or the describe call for the "
                                "appropriate names.")
        parent = self.tables[reference.reference_to or ""]
        spec, parent_get = self._field_getter(parent, rest)
        references = table.columns[reference.name]
        row_of_id = parent.row_of_id

        def through_parent(row: int) -> Any:
            parent_row = row_of_id.get(references[row]) if references[row] is not None else None
            return None if parent_row is None else parent_get(parent_row)

        return spec, through_parent

    def compile_condition(self, table: Table, node: Any) -> Callable[[int], bool]:
        if isinstance(node, BoolOp):
            parts = [self.compile_condition(table, item) for item in node.items]
            if node.op == "and":
                return lambda row: all(part(row) for part in parts)
            if node.op == "or":
                return lambda row: any(part(row) for part in parts)
            inner = parts[0]
            return lambda row: not inner(row)
        assert isinstance(node, Comparison)
        spec, get = self._field_getter(table, node.field)
        if node.op in ("in", "not_in"):
            literals = node.value if isinstance(node.value, tuple) else (node.value,)
            members = {self._operand(spec, literal, "=") for literal in literals}
            members.discard(None)
            folded = spec.type in TEXT_TYPES and spec.type not in ("id", "reference")
            if folded:
                members = {m.lower() for m in members}

            def member(row: int) -> bool:
                value = get(row)
                if value is None:
                    return False
                return (value.lower() if folded else value) in members

            if node.op == "in":
                return member
            return lambda row: not member(row)
        assert isinstance(node.value, Literal)
        if node.op == "like":
            if spec.type not in TEXT_TYPES or node.value.kind != "string":
                raise invalid_field(f"invalid operator on field: {spec.name}")
            pattern = re.compile(_like_regex(node.value.value), re.IGNORECASE | re.DOTALL)
            return lambda row: (v := get(row)) is not None and pattern.fullmatch(v) is not None
        if node.value.kind == "date_literal":
            low, high = self._date_range(spec, node.value.value)
            ranges = {
                "=": lambda v: low <= v < high, "!=": lambda v: not (low <= v < high), "<": lambda v: v < low,
                "<=": lambda v: v < high, ">": lambda v: v >= high, ">=": lambda v: v >= low,
            }
            test = ranges[node.op]
            if node.op == "!=":
                return lambda row: (v := get(row)) is None or test(v)
            return lambda row: (v := get(row)) is not None and test(v)
        operand = self._operand(spec, node.value, node.op)
        folded = spec.type in TEXT_TYPES and spec.type not in ("id", "reference") and operand is not None
        if folded:
            operand = operand.lower()

        def value_of(row: int) -> Any:
            value = get(row)
            return value.lower() if folded and value is not None else value

        op = node.op
        if operand is None:
            if op == "=":
                return lambda row: get(row) is None
            if op == "!=":
                return lambda row: get(row) is not None
            return lambda row: False
        if op == "=":
            return lambda row: value_of(row) == operand
        if op == "!=":
            return lambda row: value_of(row) != operand
        compare = {"<": lambda v: v < operand, "<=": lambda v: v <= operand, ">": lambda v: v > operand,
                   ">=": lambda v: v >= operand}[op]
        return lambda row: (v := value_of(row)) is not None and compare(v)

    def _operand(self, spec: FieldSpec, literal: Literal, op: str) -> Any:
        if literal.kind == "null":
            return None
        kind = spec.type
        if kind == "datetime":
            if literal.kind != "datetime":
                raise invalid_field(f"value of filter criterion for field '{spec.name}' must be of type dateTime and "
                                    "should not be enclosed in quotes")
            return literal.value
        if kind == "date":
            if literal.kind != "date":
                raise invalid_field(f"value of filter criterion for field '{spec.name}' must be of type date and "
                                    "should not be enclosed in quotes")
            return literal.value
        if kind == "boolean":
            if literal.kind != "boolean":
                raise invalid_field(f"value of filter criterion for field '{spec.name}' must be of type boolean and "
                                    "should not be enclosed in quotes")
            return literal.value
        if kind in NUMBER_TYPES:
            if literal.kind != "number":
                raise invalid_field(f"value of filter criterion for field '{spec.name}' must be of type {kind} and "
                                    "should not be enclosed in quotes")
            return literal.value
        if literal.kind != "string":
            raise malformed_query(f"invalid value for field {spec.name}: {literal.value}")
        if kind in ("id", "reference"):
            return normalize_id(literal.value) or literal.value
        return literal.value

    def _date_range(self, spec: FieldSpec, literal: tuple[str, int]) -> tuple[Any, Any]:
        name, amount = literal
        today = self.clock.now().date()
        start, days = {
            "TODAY": (today, 1), "YESTERDAY": (today - timedelta(days=1), 1),
            "TOMORROW": (today + timedelta(days=1), 1),
            "LAST_N_DAYS": (today - timedelta(days=amount), amount + 1),
            "NEXT_N_DAYS": (today + timedelta(days=1), amount), "N_DAYS_AGO": (today - timedelta(days=amount), 1),
        }[name]
        end = start + timedelta(days=days)
        if spec.type == "date":
            return start.isoformat(), end.isoformat()
        if spec.type == "datetime":
            as_ms = [datetime_to_ms(datetime(d.year, d.month, d.day, tzinfo=UTC)) for d in (start, end)]
            return as_ms[0], as_ms[1]
        raise invalid_field(f"value of filter criterion for field '{spec.name}' must be of type {spec.type}")

    def plan_select(self, table: Table, names: list[str]) -> list[SelectItem]:
        items: list[SelectItem] = []
        by_key: dict[str, SelectItem] = {}
        seen: set[str] = set()
        for name in names:
            if name.lower() in seen:
                raise malformed_query(f"duplicate field selected: {name}")
            seen.add(name.lower())
            if "." not in name:
                spec, _ = self._field_getter(table, name)
                item = SelectItem(key=spec.name, spec=spec)
                items.append(item)
                continue
            self._field_getter(table, name)  # validates the path
            relationship, _, rest = name.partition(".")
            reference = table.spec.relationships[relationship.lower()]
            parent = self.tables[reference.reference_to or ""]
            parent_spec = parent.spec.field(rest)
            assert reference.relationship_name is not None and parent_spec is not None
            item = by_key.get(reference.relationship_name)
            if item is None:
                item = SelectItem(key=reference.relationship_name, reference=reference, parent=parent)
                by_key[reference.relationship_name] = item
                items.append(item)
            item.parent_fields.append(parent_spec)
        return items

    def materialize(self, table: Table, row: int, select: list[SelectItem], version: str) -> dict[str, Any]:
        columns = table.columns
        record: dict[str, Any] = {
            "attributes": {"type": table.spec.name, "url": record_url(version, table.spec.name, columns["Id"][row])}
        }
        for item in select:
            if item.spec is not None:
                value = columns[item.spec.name][row]
                if item.spec.type == "datetime":
                    record[item.key] = None if value == NULL_MS else ms_to_wire(value)
                else:
                    record[item.key] = wire_value(item.spec, value)
                continue
            assert item.reference is not None and item.parent is not None
            parent_id = columns[item.reference.name][row]
            parent_row = item.parent.row_of_id.get(parent_id) if parent_id is not None else None
            if parent_row is None:
                record[item.key] = None
            else:
                record[item.key] = self.full_record(item.parent, parent_row, version, item.parent_fields)
        return record

    def execute(self, query: Query, include_deleted: bool) -> tuple[Table, array, list[SelectItem]]:
        """The matched rows of a query in result order, and the select plan to render them."""
        table = self.query_table(query.object_name)
        select = [] if query.count else self.plan_select(table, query.fields)
        predicate = self.compile_condition(table, query.where) if query.where is not None else None
        order = query.order_by
        if len(order) == 1 and order[0].field.lower() == "systemmodstamp":
            lower, inclusive = _modstamp_lower_bound(query.where)
            candidates: Iterable[int] = table.rows_by_modstamp(lower, inclusive)
        else:
            candidates = range(table.size)
        gone, deleted = table.gone, table.columns.get("IsDeleted")
        rows = array("q")
        for row in candidates:
            if gone and row in gone:
                continue
            if not include_deleted and deleted is not None and deleted[row]:
                continue
            if predicate is None or predicate(row):
                rows.append(row)
        if len(order) == 1 and order[0].field.lower() == "systemmodstamp":
            if order[0].descending:
                rows.reverse()
        elif order:
            ordered = list(rows)
            for item in reversed(order):
                spec, get = self._field_getter(table, item.field)
                folded = spec.type in TEXT_TYPES
                null_flag = (2 if item.descending else 0) if not item.nulls_last else (0 if item.descending else 2)

                def sort_key(row: int, get: Callable[[int], Any] = get, folded: bool = folded,
                             null_flag: int = null_flag) -> tuple[int, Any]:
                    value = get(row)
                    if value is None:
                        return (null_flag, None)
                    return (1, value.lower() if folded else value)

                ordered.sort(key=sort_key, reverse=item.descending)
            rows = array("q", ordered)
        start = query.offset or 0
        if start or query.limit is not None:
            end = start + query.limit if query.limit is not None else len(rows)
            rows = rows[start:end]
        return table, rows, select

    def open_cursor(self, table: Table, rows: array, select: list[SelectItem], include_deleted: bool) -> str:
        self.cursor_number += 1
        locator = salesforce_id("01g", self.cursor_number)
        self.cursors[locator] = Cursor(table, rows, select, include_deleted)
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return locator


def contract_end_date(start: str | None, term: int | None) -> str | None:
    if not start or not term:
        return None
    begin = datetime.fromisoformat(start)
    month_index = begin.month - 1 + int(term)
    year, month = begin.year + month_index // 12, month_index % 12 + 1
    day = min(begin.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31,
                          31, 30, 31, 30, 31][month - 1])
    return (datetime(year, month, day) - timedelta(days=1)).date().isoformat()


def _like_regex(pattern: str) -> str:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return "".join(out)


def _modstamp_lower_bound(where: Any) -> tuple[int | None, bool]:
    """The tightest `SystemModstamp > / >= literal` among the top-level AND terms of a WHERE clause."""
    terms = where.items if isinstance(where, BoolOp) and where.op == "and" else (where,) if where is not None else ()
    best: tuple[int | None, bool] = (None, True)
    for term in terms:
        if (isinstance(term, Comparison) and term.field.lower() == "systemmodstamp" and term.op in (">", ">=")
                and isinstance(term.value, Literal) and term.value.kind == "datetime"):
            value, inclusive = term.value.value, term.op == ">="
            if best[0] is None or value > best[0] or (value == best[0] and not inclusive):
                best = (value, inclusive)
    return best


def object_for_id(record_id: str) -> ObjectSpec | None:
    return OBJECTS_BY_PREFIX.get(record_id[:3])
