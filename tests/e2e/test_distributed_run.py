"""The distributed deployment's proof on one machine (docs/DEPLOYMENT.md): both syncs run with Dagster's multiprocess
executor, each step in a process of its own, on the production instance (`dagster.yaml`, PostgreSQL) and a
PostgreSQL staging store, with no state on local disk.

The instance is the production dagster.yaml with the one setting the Helm values add (`computeLogManager:
NoOpComputeLogManager`: step output goes to the pod's log, not to files). Everything else stays Dagster's default,
local artifact storage under DAGSTER_HOME included, so that DAGSTER_HOME holding only dagster.yaml after the runs
shows nothing was written there; the runs' working directory and CROSSWALK_HOME stay empty too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEvent, DagsterEventType, DagsterInstance

from crosswalk.clients.catalog import INTACCT, SALESFORCE, STREAMS
from crosswalk.config import ConfigError
from crosswalk.sandbox import Sandbox
from crosswalk.settings import HOME_ENV
from crosswalk.staging import StagingStore
from crosswalk.staging.links import LinkStore
from pipelines.jobs import EXECUTOR_ENV, PRELOAD_MODULES, executor_config
from tests.e2e import projects_support, quickbooks_support
from tests.e2e import test_production_instance as production
from tests.e2e.conftest import REPO, dagster_command, job_env
from tests.e2e.test_production_instance import instance_env, runs_in

JOBS = ("sync_projects", "sync_quickbooks")
dagster_database = production.dagster_database  # the fixture: a PostgreSQL database for one instance
NO_COMPUTE_LOGS = {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}


def stateless_instance(home: Path) -> None:
    """DAGSTER_HOME/dagster.yaml: the production instance with compute logs off, as the Helm values have it."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["compute_logs"] = NO_COMPUTE_LOGS
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def files_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*")) if directory.exists() else []


def run_jobs(jobs: tuple[str, ...], env: dict[str, str], cwd: Path, logs: Path, label: str) -> None:
    """Each job a `dagster job execute` of its own, all at once, as the run queue lets the two syncs run together."""
    processes = {}
    for job in jobs:
        log = logs / f"{label}-{job}.log"
        with log.open("w") as out:  # files, not pipes: an unread pipe would stall a run's logging
            processes[job] = (subprocess.Popen(dagster_command(job), cwd=cwd, env=env, stdout=out, stderr=out), log)
    for job, (process, log) in processes.items():
        process.wait(timeout=600)
        assert process.returncode == 0, (label, job, log.read_text(errors="replace")[-4000:])


def step_processes(instance: DagsterInstance, run_id: str) -> tuple[int, dict[str | None, int | None]]:
    """The run's own process id (its RUN_START) and the process id of each step (its STEP_START)."""

    def events(event_type: DagsterEventType) -> list[DagsterEvent]:
        records = instance.get_records_for_run(run_id, of_type=event_type).records
        return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]

    (start,) = events(DagsterEventType.RUN_START)
    steps = {event.step_key: event.pid for event in events(DagsterEventType.STEP_START)}
    succeeded = {event.step_key for event in events(DagsterEventType.STEP_SUCCESS)}
    assert succeeded == set(steps), (run_id, set(steps) ^ succeeded)
    assert start.pid is not None and None not in steps.values(), (run_id, start.pid, steps)
    return start.pid, steps


def assert_invoices_sent(sandbox: Sandbox, env: dict[str, str], database_url: str) -> None:
    """The QuickBooks sync's invoices: each linked ESP+ invoice carries its QBO invoice's id, which has its number."""
    store = StagingStore(database_url)
    try:
        linked = {link.right_key for link in LinkStore(store, "quickbooks", ("esp", "quickbooks")).links("invoice")}
    finally:
        store.dispose()
    qbo_invoices = {r["Id"]: r for r in quickbooks_support.records(sandbox, "quickbooks", "Invoice")}
    with quickbooks_support.esp_api(env) as esp:
        sent = [i for i in quickbooks_support.sent_invoices(esp) if i["ExternalId"] in linked]
    assert len(sent) >= 8, "invoices were not sent"
    for invoice in sent:
        assert qbo_invoices[invoice["ExternalId"]]["DocNumber"] == invoice["Number"], invoice["Id"]


@pytest.fixture
def sandbox_of_its_own(tmp_path: Path) -> Iterator[Sandbox]:
    """The four emulators, written to by both syncs (the shared sandbox stays as generated)."""
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo") as running:
        yield running


@pytest.mark.slow
@pytest.mark.postgres
def test_both_syncs_run_a_process_per_step_on_postgresql_with_nothing_on_local_disk(
    sandbox_of_its_own: Sandbox, dagster_database: str, postgres_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = sandbox_of_its_own
    home, workdir, crosswalk_home, logs = (tmp_path / name for name in ("dagster_home", "cwd", "crosswalk", "logs"))
    stateless_instance(home)
    workdir.mkdir()
    logs.mkdir()
    env = {
        **job_env(sandbox, postgres_url, home, projects_sync=True, quickbooks_sync=True),
        **instance_env(dagster_database),
        EXECUTOR_ENV: "multiprocess",  # as the deployment sets it: the jobs' run config says nothing
        HOME_ENV: str(crosswalk_home),  # where Crosswalk would keep local state (a SQLite store): none is made
    }

    run_jobs(JOBS, env, workdir, logs, "first")
    # Salesforce creates come back as new Ids that Intacct learns on the next run.
    run_jobs(("sync_projects",), env, workdir, logs, "second")
    projects_support.assert_in_step(sandbox)
    assert_invoices_sent(sandbox, env, postgres_url)

    # No echo, whatever process each step ran in: nothing changed, so nothing is written anywhere.
    projects_support.reset_stats(sandbox)
    quickbooks_support.reset_stats(sandbox)
    run_jobs(JOBS, env, workdir, logs, "third")
    assert projects_support.writes(sandbox) == {"intacct": 0, "salesforce": 0}
    assert quickbooks_support.writes(sandbox) == {"esp": 0, "quickbooks": 0}

    # No state on local disk: the instance's config is all DAGSTER_HOME holds, and nothing else was made.
    assert files_under(home) == ["dagster.yaml"]
    assert files_under(workdir) == []
    assert not crosswalk_home.exists()

    runs = runs_in(dagster_database)
    assert sorted(runs.values()) == ["SUCCESS"] * 5, runs
    for name, value in instance_env(dagster_database).items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.from_config(str(home))
    try:
        by_job = {job: [r.run_id for r in instance.get_runs() if r.job_name == job] for job in JOBS}
        assert {job: len(ids) for job, ids in by_job.items()} == {"sync_projects": 3, "sync_quickbooks": 2}
        project_streams = sum(1 for s in STREAMS if s.system in (INTACCT, SALESFORCE))
        for job, run_ids in by_job.items():
            for run_id in run_ids:
                run_pid, steps = step_processes(instance, run_id)
                # Every step in a process of its own, none in the run's: the multiprocess executor ran them.
                assert run_pid not in steps.values(), (job, run_id, run_pid, steps)
                assert len(set(steps.values())) == len(steps), (job, run_id, steps)
                if job == "sync_projects":
                    assert len(steps) >= project_streams + 3  # its streams, the plan and the two loads
    finally:
        instance.dispose()


DEFAULT_EXECUTORS = """
import json
from dagster import build_schedule_context, instance_for_test, validate_run_config
from pipelines.definitions import defs

def executor(job_name, run_config):
    (config,) = validate_run_config(defs.resolve_job_def(job_name), run_config)["execution"].values()
    return next(iter(config))

report = {job: executor(job, {}) for job in ("sync_projects", "sync_quickbooks", "sync_all")}
with instance_for_test() as instance:  # no run yet: each schedule's tick asks for its run
    for name in ("sync_projects_schedule", "sync_quickbooks_schedule"):
        schedule = defs.resolve_schedule_def(name)
        (request,) = schedule.evaluate_tick(build_schedule_context(instance=instance)).run_requests
        report[name] = executor(schedule.job_name, request.run_config)
chosen = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
report["sync_all with run config"] = executor("sync_all", chosen)
print(json.dumps(report))
"""


@pytest.mark.parametrize(
    ("variable", "default"), [(None, "in_process"), ("multiprocess:3", "multiprocess")], ids=["unset", "multiprocess"]
)
def test_the_jobs_and_schedules_run_in_process_unless_the_deployment_or_the_run_config_chooses(
    variable: str | None, default: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != EXECUTOR_ENV}
    if variable is not None:
        env[EXECUTOR_ENV] = variable
    result = subprocess.run([sys.executable, "-c", DEFAULT_EXECUTORS], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "sync_projects": default,
        "sync_quickbooks": default,
        "sync_all": default,
        "sync_projects_schedule": default,
        "sync_quickbooks_schedule": default,
        "sync_all with run config": "multiprocess",
    }


def test_crosswalk_executor_values_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert executor_config() == {"in_process": {}}
    assert executor_config(" In_Process ") == {"in_process": {}}
    forkserver = {"forkserver": {"preload_modules": PRELOAD_MODULES}}
    assert executor_config("multiprocess") == {"multiprocess": {"max_concurrent": None, "start_method": forkserver}}
    monkeypatch.setenv(EXECUTOR_ENV, "multiprocess:4")
    assert executor_config() == {"multiprocess": {"max_concurrent": 4, "start_method": forkserver}}
    for bad in ("threads", "multiprocess:0", "multiprocess:", "multiprocess:two", "in_process:2"):
        with pytest.raises(ConfigError, match=rf"^{EXECUTOR_ENV} must be .* got '{bad}'$"):
            executor_config(bad)
