"""No sync runs over itself (SPEC C3), on the production instance (dagster.yaml, PostgreSQL) with the real daemon:
two launches of `sync_projects` queue, the daemon starts the second only once the first has finished, the schedule
skips its tick meanwhile naming the run, and every record is written once. Also: the sandbox's env file keeps every
schedule and sensor stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunsFilter,
    build_schedule_context,
)

from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import REPO, admin, job_env, run_job
from tests.e2e.projects_support import assert_exactly_once, reset_stats
from tests.e2e.test_production_instance import dagster_database, instance_env

pytestmark = pytest.mark.slow

COUNTS = {"customers": 4, "projects": 60, "tasks": 180}
DAGSTER = Path(sys.executable).parent / "dagster"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@pytest.fixture(scope="module")
def overlap_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Intacct and Salesforce, small, written to by these runs (the shared sandbox stays as generated)."""
    state = tmp_path_factory.mktemp("overlap-sandbox")
    with Sandbox(state_dir=state, scale="demo", counts=COUNTS, systems=("intacct", "salesforce")) as running:
        yield running


def launch(job: str, env: dict[str, str]) -> None:
    """Submit a run as the UI does: through the instance's run coordinator (queued for the daemon)."""
    result = subprocess.run(
        [str(DAGSTER), "job", "launch", "-w", "workspace.yaml", "-j", job], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def records_written(sandbox: Sandbox) -> int:
    return sum(admin(sandbox, system, "GET", "stats").json()["records_written"] for system in sandbox.systems)


def reported_writes(instance: DagsterInstance) -> int:
    """Records created and updated, as the projects sync's loads (and its progress pass, when it ran) reported them
    in their materialisations."""
    total = 0
    for load in ("load_salesforce", "load_intacct", "progress_back"):
        for record in instance.fetch_materializations(AssetKey(["projects", load]), limit=100).records:
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            if "skipped" in metadata:
                continue
            total += int(metadata["created"].value) + int(metadata["updated"].value)  # type: ignore[arg-type]
    return total


def test_a_second_launch_of_a_sync_waits_for_the_first_and_its_schedule_skips_meanwhile(
    overlap_sandbox: Sandbox, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: str = request.getfixturevalue(dagster_database.__name__)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    env = {**job_env(overlap_sandbox, staging_url, home, projects_sync=True), **instance_env(database)}
    for name, value in instance_env(database).items():
        monkeypatch.setenv(name, value)  # this process opens the same instance
    reset_stats(overlap_sandbox)

    launch("sync_projects", env)
    launch("sync_projects", env)
    # Entered: the instance is the current one for definitions loaded meanwhile (Dagster's defs state).
    with DagsterInstance.from_config(str(home)) as instance:
        queued = instance.get_runs(RunsFilter(job_name="sync_projects"))
        assert [run.status for run in queued] == [DagsterRunStatus.QUEUED] * 2
        assert all(run.tags.get("crosswalk/sync_projects") == "true" for run in queued)

        from pipelines.definitions import defs

        schedule = defs.resolve_schedule_def("sync_projects_schedule")
        tick = schedule.evaluate_tick(build_schedule_context(instance=instance))
        assert tick.run_requests == [] and tick.skip_message
        assert any(run.run_id in tick.skip_message for run in queued), tick.skip_message
        assert "QUEUED" in tick.skip_message
        other = defs.resolve_schedule_def("sync_quickbooks_schedule")
        assert len(other.evaluate_tick(build_schedule_context(instance=instance)).run_requests or []) == 1

        with (tmp_path / "daemon.log").open("w") as log:
            daemon = subprocess.Popen(
                [str(DAGSTER.parent / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 900
            while {r.status for r in instance.get_runs(RunsFilter(job_name="sync_projects"))} - FINISHED:
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the two runs did not finish in 15 minutes"
                time.sleep(1)
        finally:
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=120)

        records = sorted(
            instance.get_run_records(RunsFilter(job_name="sync_projects")), key=lambda record: record.start_time or 0
        )
        assert [r.dagster_run.status for r in records] == [DagsterRunStatus.SUCCESS] * 2, [
            r.dagster_run.run_id for r in records
        ]
        first, second = records
        assert first.end_time is not None and second.start_time is not None
        # The queue held the second run until the first had finished: they never overlapped.
        assert second.start_time >= first.end_time
        # The emulators took exactly the writes the two loads reported, each record once on each side and linked
        # once, and a third run finds nothing left to write.
        assert records_written(overlap_sandbox) == reported_writes(instance) > 0
        assert_exactly_once(overlap_sandbox, staging_url, COUNTS["projects"], COUNTS["tasks"])
        reset_stats(overlap_sandbox)
        quiet = run_job("sync_projects", env)
        assert quiet.returncode == 0, quiet.stderr[-3000:]
        assert records_written(overlap_sandbox) == 0


def test_the_sandbox_env_file_keeps_every_schedule_and_sensor_stopped_and_production_starts_them(
    overlap_sandbox: Sandbox, tmp_path: Path
) -> None:
    assert overlap_sandbox.env["CROSSWALK_AUTOMATION"] == "stopped"
    show = (
        "from pipelines.definitions import defs\n"
        "print(sorted({s.default_status.value for s in [*defs.schedules, *defs.sensors]}))\n"
        "print(len(defs.schedules), len(defs.sensors))"
    )
    base = {k: v for k, v in os.environ.items() if k != "CROSSWALK_AUTOMATION"}
    outputs = {}
    for name, env in {"sandbox": {**base, **overlap_sandbox.env}, "production": base}.items():
        result = subprocess.run([sys.executable, "-c", show], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[name] = result.stdout.split("\n")
    assert outputs["sandbox"][0] == f"[{DefaultScheduleStatus.STOPPED.value!r}]"
    assert outputs["production"][0] == f"[{DefaultSensorStatus.RUNNING.value!r}]"
    assert outputs["sandbox"][1] == outputs["production"][1] == "2 4"
