"""Salesforce value formats: datetimes stored as epoch milliseconds, written `2024-01-02T03:04:05.000+0000`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NULL_MS = -(2**63)  # the null marker inside array('q') datetime columns

_DATETIME_INPUT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def datetime_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def ms_to_wire(ms: int) -> str:
    """REST JSON datetime: UTC, milliseconds, `+0000` without a colon."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def ms_to_bulk(ms: int) -> str:
    """Bulk API 2.0 CSV datetime: UTC with a `Z`."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> int | None:
    """Epoch ms of an ISO-8601 datetime as Salesforce accepts it (Z, +hh:mm, +hhmm, optional fraction), else None."""
    match = _DATETIME_INPUT.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None
    ms = datetime_to_ms(moment) + (int((fraction or "0").ljust(3, "0")[:3]))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return ms


def parse_date(text: str) -> str | None:
    """A `YYYY-MM-DD` date (a datetime's date part is accepted too, as the REST API does)."""
    text = text.strip()
    candidate = text[:10]
    if not _DATE_INPUT.match(candidate) or (len(text) > 10 and text[10] not in "T "):
        return None
    try:
        date.fromisoformat(candidate)
    except ValueError:
        return None
    return candidate
