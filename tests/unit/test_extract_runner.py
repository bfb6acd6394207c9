"""The shared extract loop against an in-memory source: watermarks, boundaries, deletes, bad pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crosswalk.extract.errors import BadResponseError, ExtractError
from crosswalk.extract.retry import CallMeter
from crosswalk.extract.runner import extract_stream, key_scan_due
from crosswalk.extract.source import Record
from crosswalk.extract.streams import DeleteDetection, StampFormat, StreamSpec, parse_stamp
from crosswalk.staging import StagingStore

SPEC = StreamSpec(
    system="intacct",
    object="PROJECT",
    primary_key="RECORDNO",
    replication_key="WHENMODIFIED",
    stamp_format=StampFormat.INTACCT,
    page_size=3,
    deletes=(DeleteDetection.KEY_SCAN,),
)


class ListSource:
    """Serves records held in a dict, in ascending stamp order, `page_size` at a time (like a real API would)."""

    system = "intacct"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {r["RECORDNO"]: r for r in records}
        self.meter = CallMeter()
        self.fail_after_pages: int | None = None
        self.since_seen: list[str | None] = []

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        self.since_seen.append(since)
        rows = sorted(
            self.records.values(), key=lambda r: (parse_stamp(spec.stamp_format, r["WHENMODIFIED"]), r["RECORDNO"])
        )
        if since is not None:
            floor = parse_stamp(spec.stamp_format, since)
            rows = [r for r in rows if parse_stamp(spec.stamp_format, r["WHENMODIFIED"]) >= floor]
        for start in range(0, max(len(rows), 1), spec.page_size):
            if self.fail_after_pages is not None and start // spec.page_size >= self.fail_after_pages:
                raise ConnectionResetError("connection reset by peer")
            self.meter.calls += 1
            yield rows[start : start + spec.page_size]

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        return False

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        return None

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        self.meter.calls += 1
        yield [str(k) for k in self.records]


def project(recordno: int, minute: int, name: str | None = None) -> dict[str, Any]:
    return {"RECORDNO": recordno, "WHENMODIFIED": f"01/02/2026 10:{minute:02d}:00", "NAME": name or f"P{recordno}"}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StagingStore]:
    store = StagingStore(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.migrate()
    yield store
    store.dispose()


def test_first_run_reads_everything_then_only_from_the_watermark(sqlite_store: StagingStore) -> None:
    source = ListSource([project(i, i) for i in range(1, 8)])
    first = extract_stream(SPEC, source, sqlite_store, "run-1")
    assert (first.rows_read, first.counts.new, first.pages) == (7, 7, 3)
    assert first.watermark_before is None and first.watermark_after == "01/02/2026 10:07:00"

    second = extract_stream(SPEC, source, sqlite_store, "run-2", key_scan_every=timedelta(days=1))
    assert source.since_seen[-1] == "01/02/2026 10:07:00"
    assert (second.rows_read, second.counts.unchanged, second.counts.new) == (1, 1, 0)  # the boundary record only
    assert second.pages == 1


def test_records_sharing_the_boundary_stamp_are_not_lost(sqlite_store: StagingStore) -> None:
    source = ListSource([project(1, 5), project(2, 5)])
    extract_stream(SPEC, source, sqlite_store, "run-1")
    source.records[3] = project(3, 5)  # written later in the same second as the watermark
    result = extract_stream(SPEC, source, sqlite_store, "run-2")
    assert result.counts.new == 1 and result.counts.unchanged == 2


def test_a_run_killed_mid_stream_keeps_committed_pages_and_resumes(sqlite_store: StagingStore) -> None:
    source = ListSource([project(i, i) for i in range(1, 10)])
    source.fail_after_pages = 2
    with pytest.raises(ExtractError):
        extract_stream(SPEC, source, sqlite_store, "run-1")
    assert sqlite_store.get_watermark("intacct", "PROJECT") == "01/02/2026 10:06:00"
    source.fail_after_pages = None
    resumed = extract_stream(SPEC, source, sqlite_store, "run-2")
    assert resumed.counts.new == 3 and resumed.counts.unchanged == 1
    assert len(list(sqlite_store.iter_staged_keys("intacct", "PROJECT"))) == 9


def test_a_record_without_its_key_stops_the_stream_and_the_watermark_stays(sqlite_store: StagingStore) -> None:
    source = ListSource([project(i, i) for i in range(1, 7)])
    extract_stream(SPEC, source, sqlite_store, "run-1")
    before = sqlite_store.get_watermark("intacct", "PROJECT")
    source.records[7] = project(7, 8)
    source.records["broken"] = {"RECORDNO": None, "WHENMODIFIED": "01/02/2026 10:09:00"}
    with pytest.raises(BadResponseError, match=r"intacct PROJECT: page 1: record 3 has no RECORDNO"):
        extract_stream(SPEC, source, sqlite_store, "run-2")
    assert sqlite_store.get_watermark("intacct", "PROJECT") == before
    failed = sqlite_store.latest_extract_runs()[("intacct", "PROJECT")]
    assert failed["status"] == "failed" and "RECORDNO" in failed["error"]


def test_a_bad_stamp_is_quarantined_naming_record_and_field(sqlite_store: StagingStore) -> None:
    source = ListSource([project(2, 2)])
    page = [{"RECORDNO": 1, "WHENMODIFIED": "yesterday"}, project(2, 2)]
    source.read_pages = lambda spec, since: iter([page])  # type: ignore[method-assign]
    result = extract_stream(SPEC, source, sqlite_store, "run-1")
    assert result.quarantined == 1 and result.counts.new == 1 and result.rows_read == 2
    assert set(sqlite_store.iter_staged_keys("intacct", "PROJECT")) == {"2"}
    assert sqlite_store.get_watermark("intacct", "PROJECT") == "01/02/2026 10:02:00"
    (row,) = sqlite_store.quarantined("intacct", "PROJECT")
    assert (row["record_key"], row["stage"], row["run_id"]) == ("1", "extract", "run-1")
    assert row["rule"] == "unparseable_stamp"
    assert "intacct PROJECT record 1: WHENMODIFIED 'yesterday'" in row["reason"]
    assert row["payload"] == page[0] and row["resolved_at"] is None


def test_key_scan_flags_deleted_records_when_due(sqlite_store: StagingStore) -> None:
    source = ListSource([project(i, i) for i in range(1, 5)])
    extract_stream(SPEC, source, sqlite_store, "run-1")
    del source.records[2]
    quiet = extract_stream(SPEC, source, sqlite_store, "run-2", key_scan_every=timedelta(hours=1))
    assert not quiet.key_scan  # the first, complete read counts as a key scan
    result = extract_stream(SPEC, source, sqlite_store, "run-2", key_scan_every=timedelta(0))
    assert result.key_scan and result.counts.deleted == 1
    record = sqlite_store.staged_record("intacct", "PROJECT", "2")
    assert record is not None and record["deleted"] is True
    later = extract_stream(SPEC, source, sqlite_store, "run-3", key_scan_every=timedelta(hours=24))
    assert not later.key_scan


def test_key_scan_due() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert key_scan_due(None, timedelta(hours=1), now)
    assert not key_scan_due(now - timedelta(minutes=5), timedelta(hours=1), now)
    assert key_scan_due(now - timedelta(hours=2), timedelta(hours=1), now)
    assert key_scan_due(now, timedelta(0), now)


def test_stamp_formats_parse_to_utc() -> None:
    assert parse_stamp(StampFormat.INTACCT, "11/24/2026 13:20:05") == datetime(2026, 11, 24, 13, 20, 5, tzinfo=UTC)
    sf = parse_stamp(StampFormat.SALESFORCE, "2026-11-24T13:20:05.123+0000")
    assert sf == datetime(2026, 11, 24, 13, 20, 5, 123000, tzinfo=UTC)
    qbo = parse_stamp(StampFormat.ISO8601, "2026-11-24T05:20:05-08:00")
    assert qbo == datetime(2026, 11, 24, 13, 20, 5, tzinfo=UTC)
    assert parse_stamp(StampFormat.ISO8601, "2026-11-24T13:20:05.5Z").microsecond == 500000


def test_a_quarantined_record_gone_from_the_key_scan_is_released(sqlite_store: StagingStore) -> None:
    source = ListSource([project(i, i) for i in range(1, 4)])
    extract_stream(SPEC, source, sqlite_store, "run-1")
    broken = {"RECORDNO": 9, "WHENMODIFIED": "01/02/2026 25:99:00"}
    source.records[9] = broken
    pages = [[broken, project(3, 3)]]
    source.read_pages = lambda spec, since: iter(pages)  # type: ignore[method-assign]
    kept = extract_stream(SPEC, source, sqlite_store, "run-2", key_scan_every=timedelta(hours=24))
    assert kept.quarantined == 1 and not kept.key_scan
    assert sqlite_store.open_quarantine_keys("intacct", "PROJECT", "extract") == {"9"}

    del source.records[9]
    pages[0] = [project(3, 3)]
    scanned = extract_stream(SPEC, source, sqlite_store, "run-3", key_scan_every=timedelta(0))
    assert scanned.key_scan and scanned.quarantined == 0
    assert sqlite_store.open_quarantine_keys("intacct", "PROJECT", "extract") == set()
    (row,) = sqlite_store.quarantined("intacct", "PROJECT")
    assert row["record_key"] == "9" and row["resolved_at"] is not None
