"""Exactly-once writes of the projects sync, proven by killing it (SYNC.md): Dagster runs `sync_projects` against a
sandbox of its own, with a first sync of more than 2,000 writes (creates and updates on both sides); runs are killed
with SIGKILL at seeded random points of their load, or meet seeded transient faults on both APIs, then run to
completion. Every record then exists once on each side with its twin, each pair has exactly one link, the one the
records name, and a further run writes nothing."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from crosswalk.staging import schema as staging_schema
from tests.e2e.conftest import admin, job_env
from tests.e2e.projects_support import SYSTEMS, ForkedRuns, assert_exactly_once, reset_stats, writes

pytestmark = pytest.mark.slow

# Four customers, all linked on both sides, so every project can be created on either side; 1,000 projects and
# 3,000 tasks make a first sync of about 3,800 writes (some 1,200 creates, the rest updates, on both sides).
COUNTS = {"customers": 4, "projects": 1000, "tasks": 3000}
SEED = 20260611  # where kills land and which calls fail: a failure reproduces with the same seed
KILLS = 20
# A run is killed once its load has committed intents, then made up to this many write calls (0: none sent yet),
# then up to this long more: anywhere in a call (not sent yet, in flight, answered but not recorded).
MAX_CALLS_BEFORE_KILL = 6
MAX_KILL_DELAY = 0.3
# Calls are slowed so that a kill lands within a few of them: Salesforce writes 200 records a call (about 15 calls
# in all), Intacct 10 functions a request (the setting; some 150 requests) and every Intacct call is slowed, reads
# too (its writes share one endpoint). The faults are cleared before the runs that complete the sync.
SLOW_CALLS = {
    "salesforce": {"kind": "slow", "path": "/composite/sobjects", "rate": 1.0, "delay_seconds": 0.2},
    "intacct": {"kind": "slow", "rate": 1.0, "delay_seconds": 0.04},
}
INTACCT_FUNCTIONS_PER_REQUEST = 10
FAULT_RATE = 0.2
FAULT_KINDS = ("throttle", "server_error", "reset", "expire_session")
KILLS_UNDER_FAULTS = 3
FAULTY_RUNS = 8  # at most, until a run under faults finds nothing to write


@pytest.fixture
def chaos_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo", counts=COUNTS) as running:
        yield running


@pytest.fixture
def sync_runs(chaos_sandbox: Sandbox, database_url: str, tmp_path: Path) -> Iterator[ForkedRuns]:
    env = job_env(chaos_sandbox, database_url, tmp_path / "dagster", projects_sync=True)
    settings = tmp_path / "chaos.yaml"
    settings.write_text(f"load:\n  intacct_functions_per_request: {INTACCT_FUNCTIONS_PER_REQUEST}\n")
    env["CROSSWALK_CONFIG"] = str(settings)
    (tmp_path / "runs").mkdir()
    with ForkedRuns("sync_projects", env) as runs:
        yield runs


def set_faults(sandbox: Sandbox, system: str, faults: list[dict[str, Any]], seed: int) -> None:
    reply = admin(sandbox, system, "POST", "faults", json={"seed": seed, "faults": faults})
    assert reply.status_code == 200, reply.text


def clear_faults(sandbox: Sandbox) -> None:
    for system in SYSTEMS:
        admin(sandbox, system, "DELETE", "faults")


def transient_faults(sandbox: Sandbox, seed: int) -> None:
    """FAULT_RATE of every call to either API fails transiently, each kind equally often."""
    rate = 1 - (1 - FAULT_RATE) ** (1 / len(FAULT_KINDS))  # rules are drawn one after the other
    for offset, system in enumerate(SYSTEMS):
        set_faults(sandbox, system, [{"kind": kind, "rate": rate} for kind in FAULT_KINDS], seed + offset)


def intents(store: StagingStore) -> Counter[str]:
    """Write intents by state and target ("open intacct", "done salesforce", ...); empty before the first load."""
    table = staging_schema.write_intents
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.state, table.c.target_system, sa.func.count()).group_by(
                    table.c.state, table.c.target_system
                )
            ).all()
    except sa.exc.DBAPIError:
        return Counter()  # the run has not made the tables yet
    return Counter({f"{state} {target}": int(n) for state, target, n in rows})


class WriteCalls:
    """The write calls both emulators have served, read from their stats over kept-alive connections."""

    def __init__(self, sandbox: Sandbox) -> None:
        context = ssl.create_default_context(cafile=sandbox.env["SALESFORCE_CA_BUNDLE"])
        self.clients = [
            httpx.Client(base_url=origin, verify=context if origin.startswith("https") else True, timeout=30)
            for system, origin in sandbox.origins().items()
            if system in SYSTEMS
        ]

    def __call__(self) -> int:
        return sum(client.get("/__admin/stats").json()["writes"] for client in self.clients)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Runs:
    """The runs of one test: numbered logs, kills at seeded points of the load, and where each kill landed."""

    def __init__(self, runs: ForkedRuns, sandbox: Sandbox, database_url: str, logs: Path) -> None:
        self.runs = runs
        self.sandbox = sandbox
        self.database_url = database_url
        self.logs = logs
        self.count = 0
        self.where: Counter[str] = Counter()  # kills by the targets with open intents; "finished": not killed

    def log(self) -> Path:
        self.count += 1
        return self.logs / f"run-{self.count}.log"

    def run(self) -> tuple[int, str]:
        return self.runs.run(self.log())

    def run_ok(self) -> None:
        code, output = self.run()
        assert code == 0, f"sync_projects exited with {code}:\n{output[-4000:]}"

    def kill_in_load(self, calls: int, delay: float, must_succeed: bool = True) -> None:
        """Start a run; once its load has committed intents and made `calls` write calls, SIGKILL it `delay`
        seconds later. A run that finishes first is counted as finished."""
        store = StagingStore(self.database_url)
        write_calls = WriteCalls(self.sandbox)
        try:
            before = sum(intents(store).values())
            log = self.log()
            pid = self.runs.start(log)
            deadline = time.monotonic() + 300
            while alive(pid) and sum(intents(store).values()) <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            began = write_calls()
            while alive(pid) and write_calls() < began + calls and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            code = self.runs.wait()
            if code != -signal.SIGKILL:
                output = log.read_text(errors="replace")[-4000:]
                assert code == 0 or not must_succeed, f"sync_projects exited with {code} unkilled:\n{output}"
                self.where["finished"] += 1
                return
            assert time.monotonic() < deadline, f"the load never began:\n{log.read_text(errors='replace')[-4000:]}"
            open_targets = sorted(key.split()[1] for key in intents(store) if key.startswith("open "))
            self.where["+".join(open_targets) or "between"] += 1
        finally:
            write_calls.close()
            store.dispose()

    def kill_loads(self, kills: int, rng: random.Random, must_succeed: bool = True) -> None:
        """Kill `kills` runs in their load, each at a seeded point; runs that finish first are counted."""
        while self.where.total() - self.where["finished"] < kills:
            self.kill_in_load(rng.randint(0, MAX_CALLS_BEFORE_KILL), rng.uniform(0, MAX_KILL_DELAY), must_succeed)
            assert self.where["finished"] <= 3, f"the load ran out of work before {kills} kills: {dict(self.where)}"

    def complete(self, sandbox: Sandbox) -> None:
        """Two runs finish the sync (the second links what the first created from the ids it returned); a third
        writes nothing; then every record is on both sides exactly once and linked once."""
        self.run_ok()
        self.run_ok()
        reset_stats(sandbox)
        self.run_ok()
        assert writes(sandbox) == {"intacct": 0, "salesforce": 0}
        assert_exactly_once(sandbox, self.database_url, COUNTS["projects"], COUNTS["tasks"])


def test_a_sync_killed_twenty_times_in_its_load_writes_every_record_exactly_once(
    chaos_sandbox: Sandbox, sync_runs: ForkedRuns, database_url: str, tmp_path: Path
) -> None:
    runs = Runs(sync_runs, chaos_sandbox, database_url, tmp_path / "runs")
    for system, slow in SLOW_CALLS.items():
        set_faults(chaos_sandbox, system, [slow], SEED)
    runs.kill_loads(KILLS, random.Random(SEED))
    print(f"runs by the targets with open intents when killed: {dict(runs.where)}")
    assert runs.where["salesforce"] and runs.where["intacct"], f"kills in one load only: {dict(runs.where)}"
    clear_faults(chaos_sandbox)
    runs.complete(chaos_sandbox)


def test_a_sync_under_transient_faults_and_kills_converges_to_every_record_exactly_once(
    chaos_sandbox: Sandbox, sync_runs: ForkedRuns, database_url: str, tmp_path: Path
) -> None:
    runs = Runs(sync_runs, chaos_sandbox, database_url, tmp_path / "runs")
    transient_faults(chaos_sandbox, SEED)
    # A run may fail under faults (a stream whose retries ran out): the next one takes over.
    runs.kill_loads(KILLS_UNDER_FAULTS, random.Random(SEED), must_succeed=False)
    faulty: list[int] = []  # exit code of each run under faults until one finds nothing to write
    while len(faulty) < FAULTY_RUNS:
        before = writes(chaos_sandbox)
        faulty.append(runs.run()[0])
        if faulty[-1] == 0 and writes(chaos_sandbox) == before:
            break
    else:
        pytest.fail(f"no run under {FAULT_RATE:.0%} faults converged in {FAULTY_RUNS} runs: exit codes {faulty}")
    injected = {s: admin(chaos_sandbox, s, "GET", "stats").json()["faults_injected"] for s in SYSTEMS}
    print(f"kills: {dict(runs.where)}; faulty runs' exit codes: {faulty}; faults injected: {injected}")
    assert all(sum(kinds.values()) >= 10 for kinds in injected.values()), injected
    clear_faults(chaos_sandbox)
    runs.complete(chaos_sandbox)
