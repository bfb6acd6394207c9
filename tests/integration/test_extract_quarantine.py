"""A record whose modification stamp cannot be parsed, seeded through the QBO emulator's admin API and read by the real
python-quickbooks client over HTTPS: the extract keeps it aside in `quarantine` with the reason, stages every other
record, and keeps the watermark on the stamps it could read, on a full read and on incremental runs alike (SQLite and
PostgreSQL). Once the record's stamp is fixed, the next run stages it and resolves its quarantine row."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import Any

import pytest

from crosswalk.staging import StagingStore
from tests.integration.extract_support import Harness, HarnessFactory

SYSTEM = "quickbooks"
OBJECT = "Customer"
BAD_ID = "990001"
BAD_STAMP = "13/45/2026"

warnings.filterwarnings("ignore", category=DeprecationWarning, module="quickbooks")


@pytest.fixture
def quickbooks(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


def seed_customer(harness: Harness, stamp: str) -> None:
    body = {"records": {OBJECT: [{"Id": BAD_ID, "DisplayName": "Stamp Test", "MetaData": {"LastUpdatedTime": stamp}}]}}
    reply = harness.emulator.admin("POST", "seed", json=body)
    assert reply.status_code == 200, reply.text


def valid_keys_and_latest_stamp(harness: Harness) -> tuple[set[str], str]:
    """Every Customer Id but the bad one, and the largest stamp among them (what the watermark must be)."""
    records = [r for r in harness.admin_records(OBJECT) if r["Id"] != BAD_ID]
    latest = max(records, key=lambda r: datetime.fromisoformat(r["MetaData"]["LastUpdatedTime"]))
    return {str(r["Id"]) for r in records}, latest["MetaData"]["LastUpdatedTime"]


def open_rows(store: StagingStore) -> list[dict[str, Any]]:
    return [row for row in store.quarantined(SYSTEM, OBJECT) if row["resolved_at"] is None]


def assert_quarantined_once(store: StagingStore, run_id: str) -> None:
    rows = open_rows(store)
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["system"], row["object"], row["record_key"]) == (SYSTEM, OBJECT, BAD_ID)
    assert (row["stage"], row["rule"], row["run_id"]) == ("extract", "unparseable_stamp", run_id)
    assert "MetaData.LastUpdatedTime" in row["reason"] and BAD_STAMP in row["reason"]
    assert row["payload"]["DisplayName"] == "Stamp Test"
    assert row["payload"]["MetaData"]["LastUpdatedTime"] == BAD_STAMP


def test_a_full_read_quarantines_the_record_and_stages_the_rest(quickbooks: Harness) -> None:
    seed_customer(quickbooks, BAD_STAMP)
    result = quickbooks.run(OBJECT, quickbooks.source(), "first")

    valid, latest = valid_keys_and_latest_stamp(quickbooks)
    assert result.error is None and result.quarantined == 1
    assert quickbooks.staged_keys(OBJECT, include_deleted=True) == valid
    assert quickbooks.store.get_watermark(SYSTEM, OBJECT) == latest == result.watermark_after
    assert_quarantined_once(quickbooks.store, "first")


def test_an_incremental_run_quarantines_it_too_and_a_fixed_stamp_stages_it(quickbooks: Harness) -> None:
    source = quickbooks.source()
    first = quickbooks.run(OBJECT, source, "first")
    assert first.quarantined == 0 and quickbooks.store.quarantined(SYSTEM, OBJECT) == []
    watermark = quickbooks.store.get_watermark(SYSTEM, OBJECT)
    assert watermark is not None

    seed_customer(quickbooks, BAD_STAMP)
    second = quickbooks.run(OBJECT, source, "second")
    assert second.error is None and second.quarantined == 1
    assert BAD_ID not in quickbooks.staged_keys(OBJECT, include_deleted=True)
    assert quickbooks.store.get_watermark(SYSTEM, OBJECT) == watermark
    assert_quarantined_once(quickbooks.store, "second")

    # Read again while still broken: the same open row, now naming the later run, not a second one.
    third = quickbooks.run(OBJECT, source, "third")
    assert third.quarantined == 1 and third.counts.new == third.counts.changed == 0
    assert_quarantined_once(quickbooks.store, "third")

    fixed = (datetime.fromisoformat(watermark) + timedelta(minutes=1)).isoformat()
    seed_customer(quickbooks, fixed)
    fourth = quickbooks.run(OBJECT, source, "fourth")
    assert fourth.quarantined == 0 and fourth.counts.new == 1
    staged = quickbooks.store.staged_record(SYSTEM, OBJECT, BAD_ID)
    assert staged is not None and staged["replication_stamp"] == fixed
    assert quickbooks.store.get_watermark(SYSTEM, OBJECT) == fixed
    assert open_rows(quickbooks.store) == []
    (resolved,) = quickbooks.store.quarantined(SYSTEM, OBJECT)
    assert resolved["record_key"] == BAD_ID and resolved["resolved_at"] is not None


def test_pages_after_the_first_lose_nothing_around_the_quarantined_record(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"customers": 3200})
    seed_customer(harness, BAD_STAMP)
    result = harness.run(OBJECT, harness.source(), "first")

    valid, latest = valid_keys_and_latest_stamp(harness)
    assert len(valid) > 2 * harness.spec(OBJECT).page_size
    assert result.pages >= 3 and result.quarantined == 1
    assert harness.staged_keys(OBJECT, include_deleted=True) == valid
    assert harness.store.get_watermark(SYSTEM, OBJECT) == latest
    assert_quarantined_once(harness.store, "first")
