"""Intacct's value formats: `mm/dd/yyyy` dates, `mm/dd/yyyy HH:MM:SS` timestamps (second precision, no zone),
ISO-8601 session stamps, decimals and booleans; and how a field's text compares in a query."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, date, datetime
from typing import Any

TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"
DATE_FORMAT = "%m/%d/%Y"


def format_timestamp(epoch_seconds: int) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch_seconds))


def epoch_seconds(moment: datetime) -> int:
    """Seconds since the epoch, truncated: Intacct stamps records to the second, so writes in one second tie."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def format_date(day: date) -> str:
    return day.strftime(DATE_FORMAT)


_DECIMALS: dict[float, str] = {}


def format_decimal(value: float) -> str:
    """Computed quantities and percentages: two decimals (REST examples show "35.00").

    The texts are shared between records (a few thousand distinct values across 100k tasks)."""
    text = _DECIMALS.get(value)
    if text is None:
        text = f"{value:.2f}"
        if len(_DECIMALS) < 200_000:
            _DECIMALS[value] = text
    return text


def format_session_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_date(text: str) -> date | None:
    """`mm/dd/yyyy` (one-digit month/day accepted, as the DOC-OBS example 2/22/2018 shows); None if not a date."""
    parts = text.strip().split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    month, day, year = (int(p) for p in parts)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_timestamp(text: str) -> int | None:
    """`mm/dd/yyyy HH:MM:SS` (or a bare date, meaning midnight) as epoch seconds; None if malformed."""
    text = text.strip()
    day_part, _, clock_part = text.partition(" ")
    day = parse_date(day_part)
    if day is None:
        return None
    hours = minutes = seconds = 0
    if clock_part:
        pieces = clock_part.strip().split(":")
        if not 2 <= len(pieces) <= 3 or not all(p.isdigit() for p in pieces):
            return None
        hours, minutes = int(pieces[0]), int(pieces[1])
        seconds = int(pieces[2]) if len(pieces) == 3 else 0
        if hours > 23 or minutes > 59 or seconds > 59:
            return None
    return calendar.timegm((day.year, day.month, day.day, hours, minutes, seconds, 0, 0, 0))


def parse_decimal(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def comparable(field_type: str, value: Any) -> Any:
    """The value a query compares for a field of this type: numbers, dates and stamps by value, text as text.

    Returns None for empty values (which only IS NULL matches)."""
    if value is None or value == "":
        return None
    if field_type == "TIMESTAMP":
        if isinstance(value, int):
            return value
        return parse_timestamp(str(value))
    if field_type == "DATE":
        parsed = parse_date(str(value))
        return parsed.toordinal() if parsed else None
    if field_type in ("INTEGER", "DECIMAL", "PERCENT", "CURRENCY"):
        return parse_decimal(str(value)) if not isinstance(value, int | float) else float(value)
    if field_type == "BOOLEAN":
        return str(value).lower()
    return str(value)


def wire_text(field_type: str, value: Any) -> str:
    """A stored value as the gateway prints it."""
    if value is None:
        return ""
    if field_type == "TIMESTAMP" and isinstance(value, int):
        return format_timestamp(value)
    return str(value)
