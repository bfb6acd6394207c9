"""A stream is one object of one system: its key, its modification stamp, the fields it reads, its page size
and how deletes are seen. Each system declares its streams beside its client (crosswalk/clients/); the extract
loop (runner.py) is the same for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any


class DeleteDetection(StrEnum):
    INLINE = "inline"  # deleted rows come back in the incremental read itself (Salesforce queryAll IsDeleted)
    CHANGE_FEED = "change_feed"  # a feed of deleted keys since the watermark (QBO CDC, ESP+ deletions)
    KEY_SCAN = "key_scan"  # read every key and compare with staging (periodic)
    INACTIVE = "inactive"  # the record stays but a status field says it is gone (QBO Active=false, ESP+ Inactive)


class StampFormat(StrEnum):
    INTACCT = "intacct"  # 11/24/2026 13:20:05 (company time zone; the gateway reports GMT for API users)
    SALESFORCE = "salesforce"  # 2026-11-24T13:20:05.000+0000
    ISO8601 = "iso8601"  # 2026-11-24T05:20:05-08:00 (QBO), 2026-11-24T13:20:05.123Z (ESP+)


# The exact shapes the APIs write. Every stamp of every record is parsed, and strptime costs several microseconds a
# call: text of these shapes is converted directly (datetime checks the ranges, as strptime does), and any other
# text still goes through strptime, so what is accepted or refused does not change.
_INTACCT_STAMP = re.compile(r"(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)", re.ASCII)
_SALESFORCE_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})([+-])(\d\d)([0-5]\d)", re.ASCII)


def _parse_intacct(text: str) -> datetime:
    match = _INTACCT_STAMP.fullmatch(text)
    if match is None:
        return datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
    month, day, year, hour, minute, second = match.groups()
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)


def _parse_salesforce(text: str) -> datetime:
    match = _SALESFORCE_STAMP.fullmatch(text)
    if match is None:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    year, month, day, hour, minute, second, millis, sign, offset_hours, offset_minutes = match.groups()
    instant = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), int(millis) * 1000, tzinfo=UTC
    )
    if offset_hours == "00" and offset_minutes == "00":
        return instant
    offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    return instant.replace(tzinfo=timezone(-offset if sign == "-" else offset)).astimezone(UTC)


def parse_stamp(fmt: StampFormat, text: str) -> datetime:
    """The instant a modification stamp names, as an aware UTC datetime."""
    if fmt is StampFormat.INTACCT:
        return _parse_intacct(text)
    if fmt is StampFormat.SALESFORCE:
        return _parse_salesforce(text)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def dotted_get(record: Mapping[str, Any], path: str) -> Any:
    """record["MetaData"]["LastUpdatedTime"] for path "MetaData.LastUpdatedTime"; None when any part is missing."""
    if "." not in path:
        return record.get(path)  # the common case, on every record of every page
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict | Mapping):  # dict first: the ABC check alone is slow
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class StreamSpec:
    system: str
    object: str  # the API's own object name
    primary_key: str | tuple[str, ...]  # payload field(s) (dotted paths) holding the record's key
    replication_key: str | None  # payload field (dotted path) holding the modification stamp
    stamp_format: StampFormat
    page_size: int  # the largest page the API allows for this object
    fields: tuple[str, ...] = ("*",)  # fields read; ("*",) = every field the API returns
    deletes: tuple[DeleteDetection, ...] = ()
    inactive_field: str | None = None  # for DeleteDetection.INACTIVE: the field...
    inactive_values: tuple[Any, ...] = ()  # ...and the values that mean "gone"
    key_page_size: int | None = None  # page size of a key-only scan, when larger than page_size

    @property
    def name(self) -> str:
        return f"{self.system}.{self.object}"

    @property
    def asset_name(self) -> str:
        """Dagster asset name within the system prefix (valid identifier, lower case)."""
        return self.object.lower().replace("-", "_")

    @property
    def key_fields(self) -> tuple[str, ...]:
        return (self.primary_key,) if isinstance(self.primary_key, str) else self.primary_key

    def key_of(self, record: Mapping[str, Any]) -> str | None:
        """The record's key as text (parts of a composite key joined by ':'); None when any part is missing."""
        parts = []
        for path in self.key_fields:
            value = dotted_get(record, path)
            if value is None or value == "":
                return None
            parts.append(str(value))
        return ":".join(parts)

    def stamp_of(self, record: Mapping[str, Any]) -> str | None:
        if self.replication_key is None:
            return None
        value = dotted_get(record, self.replication_key)
        return str(value) if value not in (None, "") else None

    def is_inactive(self, record: Mapping[str, Any]) -> bool:
        if DeleteDetection.INACTIVE not in self.deletes or self.inactive_field is None:
            return False
        return dotted_get(record, self.inactive_field) in self.inactive_values
