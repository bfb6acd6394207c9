"""The sync jobs run by Dagster's own CLI against the sandbox: full first run, quiet second run, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosswalk.clients.catalog import STREAMS
from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from tests.e2e.conftest import REPO, admin, dagster_command, job_env, run_job
from tests.emulator_objects import ADMIN_OBJECTS

pytestmark = pytest.mark.slow


def emulator_keys(sandbox: Sandbox, system: str, object_name: str) -> set[str]:
    spec = next(s for s in STREAMS if s.system == system and s.object == object_name)
    admin_object = ADMIN_OBJECTS.get((system, object_name), object_name)
    records = admin(sandbox, system, "GET", f"records/{admin_object}").json()["records"]
    return {key for key in (spec.key_of(r) for r in records) if key}


def reset_stats(sandbox: Sandbox) -> None:
    for system in sandbox.origins():
        admin(sandbox, system, "DELETE", "stats")


def stats(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    return {system: admin(sandbox, system, "GET", "stats").json() for system in sandbox.origins()}


def staged_rows(database_url: str) -> set[tuple[str, str, str, str, bool]]:
    store = StagingStore(database_url)
    table = staging_schema.raw_records
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.system, table.c.object, table.c.record_key, table.c.content_hash, table.c.deleted)
        ).all()
    store.dispose()
    return {(s, o, k, h, bool(d)) for s, o, k, h, d in rows}


def test_sync_all_stages_everything_then_a_second_run_reads_little_and_writes_nothing(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    env = job_env(sandbox, database_url, tmp_path / "dagster")
    reset_stats(sandbox)
    first = run_job("sync_all", env)
    assert first.returncode == 0, first.stderr[-3000:]
    first_stats = stats(sandbox)
    assert all(s["writes"] == 0 for s in first_stats.values())

    store = StagingStore(database_url)
    for spec in STREAMS:
        staged = set(store.iter_staged_keys(spec.system, spec.object, include_deleted=True))
        assert staged == emulator_keys(sandbox, spec.system, spec.object), spec.name
    before = staged_rows(database_url)
    updated_before = store.count_rows(staging_schema.raw_records)

    reset_stats(sandbox)
    second = run_job("sync_all", env)
    assert second.returncode == 0, second.stderr[-3000:]
    second_stats = stats(sandbox)
    for system, counters in second_stats.items():
        assert counters["writes"] == 0, system
        streams = sum(1 for s in STREAMS if s.system == system)
        # One page per stream, plus one key scan for streams whose deletes are only seen that way (first time).
        assert counters["reads"] <= 2 * streams, (system, counters)
    assert staged_rows(database_url) == before
    with store.engine.connect() as conn:
        runs = conn.execute(sa.select(staging_schema.extract_runs.c.run_id).distinct()).scalars().all()
        assert len(runs) == 2
        second_run = [r for r in runs if r in second.stdout + second.stderr]
        table = staging_schema.raw_records
        rewritten = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.last_seen_run.in_(second_run))
        ).scalar_one()
    assert rewritten == 0
    assert store.count_rows(staging_schema.raw_records) == updated_before
    store.dispose()


def test_a_run_killed_mid_extract_resumes_to_the_same_staging_content(sandbox: Sandbox, tmp_path: Path) -> None:
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    killed_url = f"sqlite:///{tmp_path / 'killed.sqlite'}"
    reference = run_job("sync_projects", job_env(sandbox, reference_url, tmp_path / "dagster-reference"))
    assert reference.returncode == 0, reference.stderr[-3000:]

    env = job_env(sandbox, killed_url, tmp_path / "dagster-killed")
    process = subprocess.Popen(
        dagster_command("sync_projects"), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    store = StagingStore(killed_url)
    deadline = time.monotonic() + 300
    killed_with = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            killed_with = store.count_rows(staging_schema.raw_records)
        except sa.exc.OperationalError:
            killed_with = 0  # the run has not created the schema yet
        if killed_with > 0:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    store.dispose()

    resumed = run_job("sync_projects", env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert staged_rows(killed_url) == staged_rows(reference_url)


def test_status_json_reports_every_stream(sandbox: Sandbox, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'status.sqlite'}"
    env = job_env(sandbox, database_url, tmp_path / "dagster")
    assert run_job("sync_quickbooks", env).returncode == 0
    status = subprocess.run(
        [str(Path(os.sys.executable).parent / "crosswalk"), "status", "--json"],
        env=env, capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    import json

    streams = json.loads(status.stdout)["streams"]
    assert {(s["system"], s["object"]) for s in streams} == {(s.system, s.object) for s in STREAMS}
    for stream in streams:
        assert {"system", "object", "rows", "deleted", "watermark", "last_run_at"} <= set(stream)
        if stream["system"] in ("esp", "quickbooks"):
            assert stream["rows"] > 0 and stream["last_run_at"] and stream["watermark"], stream
            assert stream["last_run_status"] == "succeeded"
        else:
            assert stream["last_run_at"] is None
