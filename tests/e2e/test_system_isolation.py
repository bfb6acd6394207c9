"""One system's trouble stays that system's: missing settings fail only its streams, a stored QuickBooks refresh
token replaces QBO_REFRESH_TOKEN, and an unreachable host fails a system's streams once, without retrying per stream."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crosswalk.clients.catalog import QUICKBOOKS, STREAMS
from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from tests.e2e.conftest import REPO, job_env, run_job

pytestmark = pytest.mark.slow


def status(env: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "crosswalk"), "status", "--json"],
        env=env, capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return {(s["system"], s["object"]): s for s in json.loads(result.stdout)["streams"]}


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in names}


def test_a_missing_quickbooks_setting_fails_only_the_quickbooks_streams_and_a_stored_token_is_enough(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    env = job_env(sandbox, database_url, tmp_path / "dagster")
    secret = env["QBO_CLIENT_SECRET"]

    # A fresh store has no refresh token yet: QuickBooks alone cannot start, and says which variable to set.
    first = run_job("sync_quickbooks", without(env, "QBO_REFRESH_TOKEN"))
    output = first.stdout + first.stderr
    assert first.returncode != 0
    assert "QBO_REFRESH_TOKEN" in output and secret not in output
    streams = status(env)
    for spec in STREAMS:
        stream = streams[(spec.system, spec.object)]
        if spec.system == QUICKBOOKS:
            assert stream["last_run_status"] == "failed" and stream["rows"] == 0, stream
        elif spec.system == "esp":
            assert stream["last_run_status"] == "succeeded" and stream["rows"] > 0, stream

    assert run_job("sync_all", env).returncode == 0

    # The store now holds a rotated refresh token: the variable is no longer needed.
    rotated = run_job("sync_all", without(env, "QBO_REFRESH_TOKEN"))
    assert rotated.returncode == 0, (rotated.stdout + rotated.stderr)[-3000:]
    streams = status(env)
    run_ids = {s["last_run_id"] for s in streams.values()}
    assert len(run_ids) == 1 and run_ids.pop() in rotated.stdout + rotated.stderr
    assert all(s["last_run_status"] == "succeeded" for s in streams.values()), streams

    unset = run_job("sync_all", without(env, "QBO_CLIENT_ID", "QBO_REFRESH_TOKEN"))
    output = unset.stdout + unset.stderr
    assert unset.returncode != 0  # some steps failed
    streams = status(env)
    (run_id,) = {s["last_run_id"] for s in streams.values()}
    assert run_id in output
    for spec in STREAMS:
        stream = streams[(spec.system, spec.object)]
        expected = "failed" if spec.system == QUICKBOOKS else "succeeded"
        assert stream["last_run_status"] == expected, stream
    message = "quickbooks: not configured: environment variable QBO_CLIENT_ID is not set"
    assert message in output
    assert "QBO_REFRESH_TOKEN" not in output.split(message, 1)[1].split("\n", 1)[0]
    assert secret not in output


def test_an_unreachable_host_fails_its_system_once_naming_host_and_port(sandbox: Sandbox, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    settings = tmp_path / "settings.yaml"
    # Three attempts with at least 0.5 s before each retry: the first stream spends >= 1 s; the others none.
    settings.write_text(
        "extract:\n  retry:\n    max_attempts: 3\n    base_delay_seconds: 1\n    max_delay_seconds: 1\n"
    )
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused and the port stays ours
    port = closed.getsockname()[1]
    try:
        env = job_env(sandbox, database_url, tmp_path / "dagster")
        env["CROSSWALK_CONFIG"] = str(settings)
        env["INTACCT_URL"] = f"http://crosswalk:hunter2@127.0.0.1:{port}/ia/xml/xmlgw.phtml?token=t0ps3cret"
        result = run_job("sync_projects", env)
    finally:
        closed.close()
    output = result.stdout + result.stderr
    assert result.returncode != 0  # the Intacct steps failed
    for secret in ("hunter2", "t0ps3cret", env["INTACCT_SENDER_PASSWORD"], env["INTACCT_USER_PASSWORD"]):
        assert secret not in output

    store = StagingStore(database_url)
    table = staging_schema.extract_runs
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    store.dispose()
    intacct = [r for r in rows if r["system"] == "intacct"]
    assert len(intacct) == sum(1 for s in STREAMS if s.system == "intacct")
    assert all(r["status"] == "succeeded" for r in rows if r["system"] == "salesforce"), rows
    assert all(r["status"] == "failed" for r in intacct)
    tried, *fast = sorted(intacct, key=lambda r: r["started_at"])
    assert (tried["api_calls"], tried["retries"]) == (3, 2), tried
    origin = f"http://127.0.0.1:{port}"
    message = tried["error"]
    assert f"cannot connect to {origin}, " in message and "Connection refused" in message, message
    assert fast
    for row in fast:
        assert (row["api_calls"], row["retries"]) == (0, 0), row
        assert row["error"] == message, row
        assert (row["finished_at"] - row["started_at"]).total_seconds() < 0.5, row
    assert output.count(origin) >= len(intacct)
