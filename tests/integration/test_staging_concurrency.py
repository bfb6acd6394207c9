"""Several processes staging into one SQLite file at once (as concurrent Dagster runs do): writers wait their
turn instead of failing 'database is locked', and every row of every process is there afterwards."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crosswalk.staging import RawRecord, StagingStore
from crosswalk.staging import schema as staging_schema
from crosswalk.staging.migrations import latest_version

_PROCESSES = 4
_PAGES = 25
_PAGE_SIZE = 200


def _stage_stream(url: str, worker: int, start: Any, errors: Any) -> None:
    """One process: migrate (the file may not exist yet), then stage pages of its own stream, re-staging each page
    once changed (a read of stored hashes followed by a write in one transaction), with watermarks, deletes, a
    credential and an extract-run row, as an extract run does."""
    try:
        start.wait(timeout=60)
        store = StagingStore(url)
        store.migrate()
        object_name = f"object{worker}"
        for page in range(_PAGES):
            keys = range(page * _PAGE_SIZE, (page + 1) * _PAGE_SIZE)
            for version in (1, 2):
                records = [RawRecord(str(k), {"Id": k, "worker": worker, "v": version}, f"{page:06d}") for k in keys]
                store.stage_raw_records("esp", object_name, records, f"run-{worker}", watermark=f"{page:06d}")
            store.mark_deleted("esp", object_name, [str(page * _PAGE_SIZE)], f"run-{worker}")
            store.set_credential("esp", f"token{worker}", f"value-{page}")
        store.mark_key_scan("esp", object_name, datetime.now(UTC))
        store.record_extract_run(
            {
                "run_id": f"run-{worker}",
                "system": "esp",
                "object": object_name,
                "status": "succeeded",
                "started_at": datetime.now(UTC),
            }
        )
        store.dispose()
    except BaseException as exc:
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}".splitlines()[0])
        raise


def test_processes_staging_into_one_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    errors = context.Queue()
    workers = [context.Process(target=_stage_stream, args=(url, worker, start, errors)) for worker in range(_PROCESSES)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, failures
    assert [p.exitcode for p in workers] == [0] * _PROCESSES

    store = StagingStore(url)
    counts = {c["object"]: (c["rows"], c["deleted"]) for c in store.stream_counts()}
    assert counts == {f"object{w}": (_PAGES * _PAGE_SIZE, _PAGES) for w in range(_PROCESSES)}
    for worker in range(_PROCESSES):
        assert store.get_watermark("esp", f"object{worker}") == f"{_PAGES - 1:06d}"
        assert store.get_credential("esp", f"token{worker}") == f"value-{_PAGES - 1}"
        assert store.last_key_scan("esp", f"object{worker}") is not None
        record = store.staged_record("esp", f"object{worker}", "1")
        assert record is not None and record["payload"]["v"] == 2
    assert store.count_rows(staging_schema.extract_runs) == _PROCESSES
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert store.schema_version() == latest_version()
    store.dispose()
