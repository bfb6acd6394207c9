"""The staging store on SQLite and PostgreSQL: raw-record upserts, watermarks, bulk writes (migrations are in
test_migrations.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from crosswalk.staging import RawRecord, StagingStore
from crosswalk.staging import schema as staging_schema


def test_stage_raw_records_counts_new_changed_unchanged_and_skips_unchanged_writes(store: StagingStore) -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = [RawRecord(str(i), {"Id": i, "Name": f"n{i}"}, "s1", stamp) for i in range(10)]
    counts = store.stage_raw_records("salesforce", "Account", first, "run-1")
    assert (counts.new, counts.changed, counts.unchanged, counts.deleted) == (10, 0, 0, 0)
    before = store.staged_record("salesforce", "Account", "3")
    assert before is not None

    second = [*first[:5], RawRecord("5", {"Id": 5, "Name": "renamed"}), RawRecord("11", {"Id": 11}, deleted=True)]
    counts = store.stage_raw_records("salesforce", "Account", second, "run-2")
    assert (counts.new, counts.changed, counts.unchanged, counts.deleted) == (0, 1, 5, 1)

    untouched = store.staged_record("salesforce", "Account", "3")
    assert untouched == before  # same updated_at, same last_seen_run: not rewritten
    changed = store.staged_record("salesforce", "Account", "5")
    assert changed is not None
    assert changed["payload"]["Name"] == "renamed"
    assert (changed["first_seen_run"], changed["last_seen_run"]) == ("run-1", "run-2")
    assert changed["replicated_at"] is None or changed["replicated_at"].tzinfo is not None


def test_same_key_twice_in_a_page_keeps_the_last(store: StagingStore) -> None:
    page = [RawRecord("1", {"v": 1}), RawRecord("1", {"v": 2})]
    counts = store.stage_raw_records("esp", "companies", page, "r")
    assert counts.new == 1
    record = store.staged_record("esp", "companies", "1")
    assert record is not None and record["payload"] == {"v": 2}


def test_mark_deleted_flags_once(store: StagingStore) -> None:
    store.stage_raw_records("intacct", "PROJECT", [RawRecord(str(i), {"i": i}) for i in range(5)], "r1")
    assert store.mark_deleted("intacct", "PROJECT", ["1", "2", "99"], "r2") == 2
    assert store.mark_deleted("intacct", "PROJECT", ["1"], "r3") == 0
    assert sorted(store.iter_staged_keys("intacct", "PROJECT")) == ["0", "3", "4"]
    assert {"system": "intacct", "object": "PROJECT", "rows": 5, "deleted": 2} in store.stream_counts()


def test_watermarks_and_key_scan_times(store: StagingStore) -> None:
    assert store.get_watermark("intacct", "TASK") is None
    store.set_watermark("intacct", "TASK", "01/02/2026 03:04:05", "r1")
    scanned = datetime(2026, 1, 3, tzinfo=UTC)
    store.mark_key_scan("intacct", "TASK", scanned)
    store.set_watermark("intacct", "TASK", "01/02/2026 04:00:00", "r2")
    assert store.get_watermark("intacct", "TASK") == "01/02/2026 04:00:00"
    assert store.last_key_scan("intacct", "TASK") == scanned


def test_credentials_are_replaced_durably(store: StagingStore, database_url: str) -> None:
    store.set_credential("quickbooks", "refresh_token:123", "first")
    store.set_credential("quickbooks", "refresh_token:123", "second")
    other = StagingStore(database_url)
    assert other.get_credential("quickbooks", "refresh_token:123") == "second"
    other.dispose()


def test_bulk_write_of_100k_raw_rows_and_100k_log_rows(store: StagingStore) -> None:
    records = [RawRecord(f"K{i:06d}", {"Id": i, "Name": f"Record {i}", "Amount": i * 1.5}) for i in range(100_000)]
    counts = store.stage_raw_records("quickbooks", "Invoice", records, "bulk-1")
    assert counts.new == 100_000
    assert store.count_rows(staging_schema.raw_records) == 100_000
    again = store.stage_raw_records("quickbooks", "Invoice", records, "bulk-2")
    assert again.unchanged == 100_000 and again.new == again.changed == 0

    now = datetime.now(UTC)
    log_rows = [
        {"run_id": "bulk-1", "target_system": "quickbooks", "object": "Invoice", "operation": "create",
         "record_key": f"K{i:06d}", "outcome": "succeeded", "error": None, "created_at": now}
        for i in range(100_000)
    ]  # fmt: skip
    assert store.bulk_insert(staging_schema.sync_log, log_rows) == 100_000
    assert store.count_rows(staging_schema.sync_log) == 100_000
