"""What the extract loop needs from a system's client: pages of changed records, deleted keys, all keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from crosswalk.extract.retry import CallMeter
from crosswalk.extract.streams import StreamSpec

Record = Mapping[str, Any]


class StreamSource(Protocol):
    """A system's client seen by the extract loop. Implementations own paging, sessions and retries."""

    system: str
    meter: CallMeter  # reset by the loop before each stream; the client counts every API call and retry in it

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        """Pages of records whose stamp is >= `since` (all records when None), in ascending stamp order.

        The boundary stamp is included on purpose: stamps are not unique, so records sharing the watermark's
        stamp are re-read and de-duplicated by content hash in staging rather than lost.
        """
        ...

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        """Whether a record returned by read_pages is a deleted one (inline tombstones, inactive status)."""
        ...

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        """Pages of keys deleted since the watermark from a change feed; None when the feed cannot answer
        (no feed for this object, or `since` is beyond its window) and a key scan is needed instead."""
        ...

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        """Pages of every live key of the object (a key scan), in the largest pages the API allows."""
        ...
