"""Two sync jobs launched at the same time on the default SQLite store, as the Dagster UI allows: both succeed and
stage exactly what the same jobs stage one after the other."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dagster import DagsterInstance

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from tests.e2e.conftest import REPO, dagster_command, job_env, run_job
from tests.e2e.test_sync_jobs import staged_rows

pytestmark = pytest.mark.slow

_JOBS = ("sync_projects", "sync_quickbooks")


def _stream_counts(database_url: str) -> list[dict[str, object]]:
    store = StagingStore(database_url)
    counts = store.stream_counts()
    store.dispose()
    return counts


def test_sync_projects_and_sync_quickbooks_at_once_on_one_sqlite_store(sandbox: Sandbox, tmp_path: Path) -> None:
    concurrent_url = f"sqlite:///{tmp_path / 'concurrent.sqlite'}"
    env = job_env(sandbox, concurrent_url, tmp_path / "dagster-concurrent")
    # Output to files, not pipes: a pipe left unread while the other run is awaited would stall that run's logging
    # and with it the run, and the two would no longer overlap.
    # The instance's storage is made first, once: two processes creating Dagster's SQLite tables in a new
    # DAGSTER_HOME at the same moment fail each other, which is Dagster's start-up and not what is tested here.
    DagsterInstance.from_config(env["DAGSTER_HOME"]).dispose()
    logs = {job: tmp_path / f"{job}.log" for job in _JOBS}
    processes = {}
    for job in _JOBS:
        with logs[job].open("w") as log:
            processes[job] = subprocess.Popen(dagster_command(job), cwd=REPO, env=env, stdout=log, stderr=log)
    for job, process in processes.items():
        process.wait(timeout=600)
        assert process.returncode == 0, (job, logs[job].read_text()[-3000:])

    sequential_url = f"sqlite:///{tmp_path / 'sequential.sqlite'}"
    sequential_env = job_env(sandbox, sequential_url, tmp_path / "dagster-sequential")
    for job in _JOBS:
        result = run_job(job, sequential_env)
        assert result.returncode == 0, (job, result.stderr[-3000:])

    assert _stream_counts(concurrent_url) == _stream_counts(sequential_url)
    assert staged_rows(concurrent_url) == staged_rows(sequential_url)
