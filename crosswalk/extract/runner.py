"""The extract loop shared by every stream: read pages from the watermark, stage them, advance the watermark
past what is committed, then detect deletes. A record that cannot be placed (its stamp does not parse) is kept
aside in `quarantine` with the reason, and the rest of its page is staged. Knows nothing about any vendor API or
about Dagster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crosswalk.extract.errors import BadResponseError, CredentialsError, ExtractError
from crosswalk.extract.prefetch import prefetched
from crosswalk.extract.source import Record, StreamSource
from crosswalk.extract.streams import DeleteDetection, StreamSpec, parse_stamp
from crosswalk.heap import long_lived_objects_frozen
from crosswalk.staging.store import RawRecord, StagingStore, WriteCounts

PREVIEW_ROWS = 5
EXTRACT_STAGE = "extract"  # the quarantine stage of records the extract kept aside
UNPARSEABLE_STAMP = "unparseable_stamp"  # quarantine rule: the modification stamp is not of the stream's format


@dataclass
class StreamResult:
    spec: StreamSpec
    run_id: str | None
    started_at: datetime
    finished_at: datetime | None = None
    rows_read: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    pages: int = 0
    api_calls: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    watermark_before: str | None = None
    watermark_after: str | None = None
    key_scan: bool = False
    quarantined: int = 0  # records read but kept aside in `quarantine` (not staged) by this run
    preview: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def as_row(self) -> dict[str, Any]:
        """The extract_runs row for this result."""
        return {
            "run_id": self.run_id,
            "system": self.spec.system,
            "object": self.spec.object,
            "status": "failed" if self.error else "succeeded",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rows_read": self.rows_read,
            "rows_new": self.counts.new,
            "rows_changed": self.counts.changed,
            "rows_unchanged": self.counts.unchanged,
            "rows_deleted": self.counts.deleted,
            "pages": self.pages,
            "api_calls": self.api_calls,
            "retries": self.retries,
            "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after,
            "error": self.error,
        }


class Watermark:
    """The largest stamp committed so far, compared as an instant but kept in the API's own text."""

    def __init__(self, spec: StreamSpec, text: str | None) -> None:
        self.spec = spec
        self.text = text
        self.instant = parse_stamp(spec.stamp_format, text) if text else None

    def offer(self, text: str, instant: datetime | None = None) -> None:
        """Consider a stamp; `instant` is its parsed value when the caller already has it."""
        if instant is None:
            instant = parse_stamp(self.spec.stamp_format, text)
        if self.instant is None or instant > self.instant:
            self.text, self.instant = text, instant


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record read but not staged: the rule it broke, the field, and why, with the record as read."""

    key: str
    rule: str
    field: str
    reason: str
    payload: Record

    def as_entry(self) -> dict[str, Any]:
        """The record's row for StagingStore.quarantine."""
        return {"record_key": self.key, "rule": self.rule, "reason": self.reason, "payload": self.payload}


@dataclass
class PageRecords:
    staged: list[RawRecord]
    quarantined: list[QuarantinedRecord]


def to_raw_records(spec: StreamSpec, source: StreamSource, page: Iterable[Record], page_number: int) -> PageRecords:
    """Raw records of one page, and those kept aside. A record without its key stops the stream (BadResponseError
    naming the page): nothing could name it later. A record whose stamp does not parse is quarantined: it cannot be
    placed against the watermark, but the rest of the page can."""
    out: list[RawRecord] = []
    kept_aside: list[QuarantinedRecord] = []
    for position, record in enumerate(page, 1):
        if not isinstance(record, dict):
            raise BadResponseError(
                spec.system, spec.object, page_number, f"record {position} is {type(record).__name__}, not an object"
            )
        key = spec.key_of(record)
        if key is None:
            raise BadResponseError(
                spec.system,
                spec.object,
                page_number,
                f"record {position} has no {' + '.join(spec.key_fields)} (its key)",
            )
        stamp = spec.stamp_of(record)
        try:
            instant = parse_stamp(spec.stamp_format, stamp) if stamp else None
        except ValueError:
            stamp_field = spec.replication_key or ""
            kept_aside.append(
                QuarantinedRecord(
                    key=key,
                    rule=UNPARSEABLE_STAMP,
                    field=stamp_field,
                    reason=(
                        f"{spec.system} {spec.object} record {key}: {stamp_field} {stamp!r} is not a stamp of "
                        f"the {spec.stamp_format.value} form, so the record cannot be placed against the watermark"
                    ),
                    payload=record,
                )
            )
            continue
        out.append(
            RawRecord(
                key=key,
                payload=record,
                replication_stamp=stamp,
                replicated_at=instant,
                deleted=source.is_deleted(spec, record),
            )
        )
    return PageRecords(out, kept_aside)


def key_scan_due(last_scan: datetime | None, every: timedelta | None, now: datetime) -> bool:
    """A key scan runs when none has run yet, when the interval is zero/None-configured as 'every run', or when due."""
    if every is None or every <= timedelta(0):
        return True
    return last_scan is None or now - last_scan >= every


def extract_stream(
    spec: StreamSpec,
    source: StreamSource,
    store: StagingStore,
    run_id: str | None,
    *,
    key_scan_every: timedelta | None = timedelta(hours=24),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    log: Callable[[str], None] = lambda _message: None,
) -> StreamResult:
    """Extract one stream into staging. Raises ExtractError (with the partial result attached) on failure, or
    CredentialsError unwrapped when the system refused the credentials (a person must fix the configuration)."""
    result = StreamResult(spec=spec, run_id=run_id, started_at=now())
    source.meter.reset()
    before = store.get_watermark(spec.system, spec.object)
    result.watermark_before = before
    watermark = Watermark(spec, before)
    started = time.monotonic()
    try:
        # Records this stream kept aside earlier: read again with a stamp that parses, they are staged and released.
        quarantined_keys = store.open_quarantine_keys(spec.system, spec.object, EXTRACT_STAGE)
        with long_lived_objects_frozen():
            for page in prefetched(source.read_pages(spec, before)):
                result.pages += 1
                split = to_raw_records(spec, source, page, result.pages)
                records = split.staged
                # Both quarantine writes commit before the page's watermark: a crash between them leaves a record
                # still before the watermark (read again next run), never past it and in neither table.
                if split.quarantined:
                    entries = [q.as_entry() for q in split.quarantined]
                    store.quarantine(spec.system, spec.object, EXTRACT_STAGE, entries, run_id)
                    quarantined_keys.update(q.key for q in split.quarantined)
                    result.quarantined += len(split.quarantined)
                released = quarantined_keys.intersection(r.key for r in records) if quarantined_keys else set()
                if released:
                    store.resolve_quarantine(spec.system, spec.object, EXTRACT_STAGE, released)
                    quarantined_keys -= released
                for record in records:
                    if record.replication_stamp:
                        watermark.offer(record.replication_stamp, record.replicated_at)
                # Pages come in ascending stamp order, so everything up to this page's largest stamp is committed: the
                # watermark is stored in the page's own transaction.
                moved = watermark.text if watermark.text != before and watermark.text is not None else None
                result.counts.add(store.stage_raw_records(spec.system, spec.object, records, run_id, watermark=moved))
                result.rows_read += len(records) + len(split.quarantined)
                if len(result.preview) < PREVIEW_ROWS:
                    result.preview.extend(_preview_row(spec, r) for r in records[: PREVIEW_ROWS - len(result.preview)])
                if result.pages % 50 == 0:
                    elapsed = time.monotonic() - started
                    log(f"{spec.name}: {result.rows_read} rows in {result.pages} pages, {elapsed:.1f}s")
        if before is not None:
            _detect_deletes(spec, source, store, run_id, before, result, key_scan_every, now, quarantined_keys)
        elif DeleteDetection.KEY_SCAN in spec.deletes:
            # A complete first read has seen every live key: it counts as a key scan.
            store.mark_key_scan(spec.system, spec.object, result.started_at)
    except ExtractError as exc:
        if isinstance(exc, BadResponseError):
            # A malformed answer may hide records before it: the stream starts again from where this run found it.
            store.set_watermark(spec.system, spec.object, before, run_id)
        _finish(result, source, store, now, error=str(exc))
        exc.result = result  # type: ignore[attr-defined]
        raise
    except CredentialsError as exc:
        # Not a fault of this stream and not retryable: callers must see the refusal as such, not a generic failure.
        _finish(result, source, store, now, error=f"{type(exc).__name__}: {exc}")
        exc.result = result  # type: ignore[attr-defined]
        raise
    except Exception as exc:
        _finish(result, source, store, now, error=f"{type(exc).__name__}: {exc}")
        raise ExtractError(spec.system, spec.object, f"{type(exc).__name__}: {exc}") from exc
    result.watermark_after = watermark.text
    _finish(result, source, store, now, error=None)
    return result


def _detect_deletes(
    spec: StreamSpec,
    source: StreamSource,
    store: StagingStore,
    run_id: str | None,
    since: str,
    result: StreamResult,
    key_scan_every: timedelta | None,
    now: Callable[[], datetime],
    quarantined_keys: set[str],
) -> None:
    feed = source.read_deleted_keys(spec, since) if DeleteDetection.CHANGE_FEED in spec.deletes else None
    if feed is not None:
        for keys in feed:
            result.counts.deleted += store.mark_deleted(spec.system, spec.object, keys, run_id)
            # A record kept aside and deleted since has nothing left to fix.
            store.resolve_quarantine(spec.system, spec.object, EXTRACT_STAGE, quarantined_keys.intersection(keys))
        return
    if DeleteDetection.KEY_SCAN not in spec.deletes:
        return
    current = now()
    if not key_scan_due(store.last_key_scan(spec.system, spec.object), key_scan_every, current):
        return
    live: set[str] = set()
    for keys in source.read_all_keys(spec):
        live.update(keys)
    gone = [key for key in store.iter_staged_keys(spec.system, spec.object) if key not in live]
    result.counts.deleted += store.mark_deleted(spec.system, spec.object, gone, run_id)
    store.resolve_quarantine(spec.system, spec.object, EXTRACT_STAGE, quarantined_keys - live)
    store.mark_key_scan(spec.system, spec.object, current)
    result.key_scan = True


def _finish(
    result: StreamResult, source: StreamSource, store: StagingStore, now: Callable[[], datetime], error: str | None
) -> None:
    result.finished_at = now()
    result.api_calls = source.meter.calls
    result.retries = source.meter.retries
    result.retry_reasons = dict(source.meter.retry_reasons)
    result.error = error
    if error is not None:
        result.watermark_after = store.get_watermark(result.spec.system, result.spec.object)
    store.record_extract_run(result.as_row())


def _preview_row(spec: StreamSpec, record: RawRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"key": record.key, "stamp": record.replication_stamp, "deleted": record.deleted}
    for name, value in list(record.payload.items())[:6]:
        if name not in row and not isinstance(value, dict | list):
            row[name] = value
    return row
