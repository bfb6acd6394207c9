"""Canonical field values: one form per meaning, so values from two systems compare equal when they mean the same.

`01/02/2026` (Intacct) and `2026-01-02` (Salesforce) are both the date `2026-01-02`; `50`, `50.0` and `"50.00"` are
the decimal `50`; an empty string and a missing value are both None. Canonical values are plain JSON types (text,
bool, int, None), so they hash and store as they are: they are the base of three-way reconcile.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    TEXT = "text"
    DATE = "date"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LINES = "lines"  # a list of objects (a document's lines), compared whole; canonical form is its JSON text


class BadValue(ValueError):
    """A value that cannot be read as its field's type; the message says what was found."""


_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)", re.ASCII)
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


def canonical(field_type: FieldType, value: Any) -> str | int | bool | None:
    """The canonical form of a raw API value; raises BadValue when it is not a value of that type."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if field_type is FieldType.TEXT:
        return value if isinstance(value, str) else str(value)
    if field_type is FieldType.DATE:
        return _canonical_date(value)
    if field_type is FieldType.DECIMAL:
        return _canonical_decimal(value)
    if field_type is FieldType.INTEGER:
        number = Decimal(_canonical_decimal(value))
        if number != number.to_integral_value():
            raise BadValue(f"{value!r} is not a whole number")
        return int(number)
    if field_type is FieldType.BOOLEAN:
        return _canonical_boolean(value)
    if field_type is FieldType.LINES:
        return _canonical_lines(value)
    raise AssertionError(field_type)


def _canonical_lines(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadValue(f"{value[:40]!r} is not a list of lines") from None
    if not isinstance(value, list) or not all(isinstance(line, dict) for line in value):
        raise BadValue(f"{type(value).__name__} is not a list of lines (objects)")
    return json.dumps([_canonical_json(line) for line in value], sort_keys=True, separators=(",", ":"))


def _canonical_json(value: Any) -> Any:
    """Numbers in one form (250 and 250.0 are 250; 1.10 is 1.1) and no empty values, so equal lines dump equal."""
    if isinstance(value, dict):
        return {k: _canonical_json(v) for k, v in value.items() if v is not None and v != "" and v != {}}
    if isinstance(value, list):
        return [_canonical_json(v) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadValue(f"{value!r} is not a finite number")
        number = Decimal(repr(value)).normalize()
        return int(number) if number == number.to_integral_value() else float(number)
    return value


def lines_of(value: str | int | bool | None) -> list[dict[str, Any]]:
    """The lines a canonical LINES value holds."""
    return json.loads(value) if isinstance(value, str) else []


def _canonical_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    # Intacct writes mm/dd/yyyy, Salesforce and QBO yyyy-mm-dd; a datetime's date part counts (2026-01-02T10:00:00Z).
    match = _US_DATE.match(text)
    try:
        if match:
            month, day, year = (int(part) for part in match.groups())
            return date(year, month, day).isoformat()
        match = _ISO_DATE.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return date(year, month, day).isoformat()
    except ValueError as exc:
        raise BadValue(f"{value!r} is not a valid date ({exc})") from None
    raise BadValue(f"{value!r} is not a date (mm/dd/yyyy or yyyy-mm-dd)")


def _canonical_decimal(value: Any) -> str:
    if isinstance(value, bool):
        raise BadValue(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip().replace(",", "")) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise BadValue(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise BadValue(f"{value!r} is not a finite number")
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _canonical_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadValue(f"{value!r} is not true or false")


class WireStyle(StrEnum):
    """How a system writes values on the wire."""

    INTACCT = "intacct"  # XML text: dates mm/dd/yyyy, booleans true/false, numbers as text
    JSON = "json"  # Salesforce, QBO, ESP+: ISO dates, JSON numbers and booleans


def to_wire(field_type: FieldType, value: str | int | bool | None, style: WireStyle) -> Any:
    """A canonical value in the form a target system takes in a write."""
    if value is None:
        return None
    if field_type is FieldType.DATE:
        if style is WireStyle.INTACCT:
            day = date.fromisoformat(str(value))
            return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"
        return value
    if field_type is FieldType.DECIMAL:
        if style is WireStyle.INTACCT:
            return str(value)
        number = Decimal(str(value))
        return int(number) if number == number.to_integral_value() else float(number)
    if field_type is FieldType.BOOLEAN and style is WireStyle.INTACCT:
        return "true" if value else "false"
    if field_type is FieldType.LINES:
        return lines_of(value)
    return value


def truncate(text: str | None, length: int) -> str | None:
    """Text cut to a target's field length (in characters, as the APIs count)."""
    if text is None or len(text) <= length:
        return text
    return text[:length]
