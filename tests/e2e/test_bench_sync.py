"""bench/sync at a tiny size: it starts its own sandbox, runs the projects sync stage by stage in processes of their
own against the real emulators, and prints its tables with every column, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crosswalk.staging import StagingStore
from crosswalk.staging.links import LinkStore
from crosswalk.staging.store import RawRecord
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow
BENCH = REPO / "bench" / "sync"
STAGES = ("extract", "plan", "save_plan", "load_salesforce", "load_intacct", "settle", "progress_read", "progress_plan",
          "progress_load_salesforce", "progress_settle")  # fmt: skip
RUNS = ("full", "follow-up", "no change", "1% change")
STAGE_HEADER = "| run | stage | records | seconds | records/s | CPU s | peak RSS MB | API calls |"
WRITES_HEADER = "| run | target | records written | failed | write calls | calls | floor | calls/floor |"
PHASES_HEADER = "| run | records | read_map | validate | match_reconcile | references | phase records/s |"
FLOOR_HEADER = ("| run | records | fetch staged rows | decode payloads | Great Expectations | build plan items | "
                "plan floor | plan | records/s at most |")  # fmt: skip


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_bench_sync_prints_every_stage_and_every_target(database_url: str, tmp_path: Path) -> None:
    result = run_bench("--projects", "20", "--database-url", database_url, "--json", str(tmp_path / "bench.json"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("machine: nproc ")
    assert lines[1].startswith("command: ") and "--projects 20" in lines[1]
    assert "projects 20, tasks 200" in lines[2]

    assert STAGE_HEADER in lines
    rows = {(c[0], c[1]): c for c in map(cells, lines) if len(c) == 8 and c[1] in STAGES}
    assert set(rows) == {(run, stage) for run in RUNS for stage in STAGES}
    for row in rows.values():
        float(row[3])  # seconds
        assert int(row[6]) > 0  # peak RSS MB
    assert int(rows[("full", "extract")][2].replace(",", "")) > 0
    assert int(rows[("full", "plan")][2].replace(",", "")) > 0

    assert WRITES_HEADER in lines
    writes = {(c[0], c[1]): c for c in map(cells, lines) if len(c) == 8 and c[1] in ("salesforce", "intacct")}
    assert set(writes) == {(run, target) for run in RUNS for target in ("salesforce", "intacct")}
    for target in ("salesforce", "intacct"):
        written, failed, write_calls, calls, floor = (int(v.replace(",", "")) for v in writes[("full", target)][2:7])
        assert written > 0 and failed == 0
        assert 0 < floor <= write_calls <= calls

    # Where each run's plan took its time, per phase, with the rate each phase alone allows.
    assert PHASES_HEADER in lines
    phases = {c[0]: c for c in map(cells, lines) if len(c) == 7 and c[0] in RUNS}
    assert set(phases) == set(RUNS)
    assert phases["full"][1] == rows[("full", "plan")][2]  # the plan stage's records
    assert all(cell.endswith(" s") for cell in phases["full"][2:6]) and "read_map " in phases["full"][6]

    # The full run's plan against what it cannot do without: each part measured, their sum below the plan's time.
    assert FLOOR_HEADER in lines
    [floor] = [c for c in map(cells, lines) if len(c) == 9 and c[0] in RUNS]
    assert floor[0] == "full" and floor[1] == rows[("full", "plan")][2]
    parts = [float(cell.removesuffix(" s")) for cell in floor[2:6]]
    total, plan_seconds = float(floor[6].removesuffix(" s")), float(floor[7].removesuffix(" s"))
    assert parts[2] > 0 and abs(sum(parts) - total) < 0.02  # at this size the other parts round to 0.00 s
    assert total < plan_seconds and plan_seconds == float(rows[("full", "plan")][3])

    targets = [c for c in map(cells, lines) if len(c) == 3 and c[2] in ("met", "**missed**")]
    assert [c[0] for c in targets] == [
        "full sync: salesforce calls ≤ 1.1 x floor",
        "full sync: intacct calls ≤ 1.1 x floor",
        "full sync: salesforce progress back calls ≤ 1.1 x floor",
        *(f"plan (map + validate + match + reconcile) ≥ 100,000 records/s: {run}" for run in RUNS),
        "no-change run makes 0 write calls: the run after the full sync (follow-up)",
        "no-change run makes 0 write calls: the run after that (no change)",
        "1% change costs ≤ 3% of a full sync's calls",
    ]

    figures = json.loads((tmp_path / "bench.json").read_text())
    assert [run["run"] for run in figures["runs"]] == list(RUNS)
    assert figures["runs"][-1]["edited"] == 1  # one Salesforce project in a hundred, at least one
    # The full run created Intacct records: its second pass wrote what Intacct computed for them to Salesforce, and
    # the follow-up, which creates nothing in Intacct, skipped the pass and wrote nothing at all.
    full, follow_up = figures["runs"][0]["stages"], figures["runs"][1]["stages"]
    measured = figures["runs"][0]["plan_floor"]
    assert measured["records"] == int(floor[1].replace(",", ""))
    assert all(measured["detail"][part] > 0 for part in ("fetch", "decode", "suites", "items"))
    assert figures["runs"][1]["plan_floor"] is None  # the full run's only
    assert full["progress_load_salesforce"]["detail"]["updated"] > 0
    assert follow_up["progress_plan"]["detail"] == {"skipped": "this run created nothing in Intacct"}
    targets_met = {c[0]: c[2] for c in targets}
    assert targets_met["no-change run makes 0 write calls: the run after the full sync (follow-up)"] == "met"
    # A pair a run found in sync with nothing to store is left alone by the next: all but the edited one after the
    # no-change run.
    plans = [run["stages"]["plan"]["detail"]["counts"] for run in figures["runs"]]
    assert plans[0].get("unchanged", 0) == 0 and plans[2]["unchanged"] > 0
    assert plans[3]["unchanged"] >= plans[2]["in_sync"] - figures["runs"][-1]["edited"]
    # The benchmark synced into the store it was given.
    store = StagingStore(database_url)
    try:
        assert LinkStore(store, "projects", ("intacct", "salesforce")).count("project") > 0
    finally:
        store.dispose()


def test_bench_sync_refuses_a_store_that_is_not_empty(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    store = StagingStore(database_url)
    store.migrate()
    store.stage_raw_records("intacct", "PROJECT", [RawRecord("1", {"RECORDNO": "1"})], run_id="earlier")
    store.dispose()
    result = run_bench("--projects", "20", "--database-url", database_url)
    assert result.returncode != 0
    assert "the staging store is not empty" in result.stderr
    assert "starting the sandbox" not in result.stderr


QBO_STAGES = ("extract", "plan", "save_plan", "load_quickbooks", "load_esp", "settle", "status_read", "status_plan",
              "status_load_esp", "status_settle")  # fmt: skip
QBO_LOADS = ("quickbooks", "esp", "esp status back")
QBO_WRITES_HEADER = WRITES_HEADER + " seconds | realm limits alone s |"
REALM_HEADER = (
    "| run | stage | QBO calls | batch calls | at 40 batch calls/min s | at 500 calls/min s | at 10 calls/s s "
    "| realm limits alone | measured s |"
)


def test_bench_sync_quickbooks_prints_every_stage_the_floors_and_the_realm_limits(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    result = run_bench("--sync", "quickbooks", "--companies", "30", "--documents", "60", "--database-url",
                       database_url, "--json", str(tmp_path / "bench.json"))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[1].startswith("command: ") and "--sync quickbooks --companies 30 --documents 60" in lines[1]
    assert (
        "companies 30 (customers 15, vendors 15), documents 60 (invoices 20, purchase orders 20, bills 20)" in lines[2]
    )
    assert "CROSSWALK_QBO_PACING=off" in lines[2]

    assert STAGE_HEADER in lines
    rows = {(c[0], c[1]): c for c in map(cells, lines) if len(c) == 8 and c[1] in QBO_STAGES}
    assert set(rows) == {(run, stage) for run in RUNS for stage in QBO_STAGES}
    for stage in ("extract", "plan", "load_quickbooks", "load_esp", "status_read", "status_plan", "status_load_esp"):
        assert int(rows[("full", stage)][2].replace(",", "")) > 0, stage

    assert QBO_WRITES_HEADER in lines
    writes = {(c[0], c[1]): c for c in map(cells, lines) if len(c) == 10 and c[1] in QBO_LOADS}
    assert set(writes) == {(run, target) for run in RUNS for target in QBO_LOADS}
    for target in QBO_LOADS:
        written, failed, write_calls, calls, floor = (int(v.replace(",", "")) for v in writes[("full", target)][2:7])
        assert written > 0 and failed == 0, target
        assert 0 < floor <= write_calls <= calls, target
    # QBO writes 30 to a batch call; ESP+ has no batch: a call per write.
    qbo = writes[("full", "quickbooks")]
    assert int(qbo[6].replace(",", "")) < int(qbo[2].replace(",", ""))
    assert writes[("full", "esp")][4] == writes[("full", "esp")][2]
    assert writes[("full", "esp")][9] == "-"

    # Beside each stage that called QBO, the time its calls take at the realm's limits: batch calls at 40 a minute.
    assert REALM_HEADER in lines
    realm = {(c[0], c[1]): c for c in map(cells, lines) if len(c) == 9 and c[1] in QBO_STAGES}
    assert {stage for run, stage in realm if run == "full"} == {"extract", "load_quickbooks", "status_read"}
    calls, batches = (int(v.replace(",", "")) for v in realm[("full", "load_quickbooks")][2:4])
    assert batches == int(qbo[4].replace(",", "")) and calls == int(qbo[5].replace(",", ""))
    assert float(realm[("full", "load_quickbooks")][4]) == pytest.approx(batches * 60 / 40, abs=0.05)
    assert float(qbo[9]) == pytest.approx(max(batches * 60 / 40, calls * 60 / 500), abs=0.05)

    targets = {c[0]: c[2] for c in map(cells, lines) if len(c) == 3 and c[2] in ("met", "**missed**")}
    assert list(targets) == [
        "full sync: quickbooks calls ≤ 1.1 x floor",
        "full sync: esp calls ≤ 1.1 x floor",
        "full sync: esp status back calls ≤ 1.1 x floor",
        *(f"plan (map + validate + match + reconcile) ≥ 100,000 records/s: {run}" for run in RUNS),
        "no-change run makes 0 write calls: the run after the full sync (follow-up)",
        "no-change run makes 0 write calls: the run after that (no change)",
        "1% change costs ≤ 3% of a full sync's calls",
    ]
    assert targets["no-change run makes 0 write calls: the run after that (no change)"] == "met"

    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["sync"] == "quickbooks"
    assert [run["run"] for run in figures["runs"]] == list(RUNS)
    assert figures["runs"][-1]["edited"] == 1  # one ESP+ invoice in a hundred, at least one
    changed = figures["runs"][-1]["stages"]
    assert changed["load_quickbooks"]["detail"]["updated"] >= 1  # the edited invoice, updated in QBO
    full_load = figures["runs"][0]["stages"]["load_quickbooks"]
    # The client's pacing was lifted: far above the realm's 40 batch calls a minute, and no call waited.
    assert full_load["detail"]["pacing"]["batch_calls_per_minute"] > 10**9
    assert full_load["detail"]["paced_seconds"] == 0.0
    store = StagingStore(database_url)
    try:
        assert LinkStore(store, "quickbooks", ("esp", "quickbooks")).count("invoice") > 0
    finally:
        store.dispose()


def test_bench_sync_refuses_the_other_syncs_options() -> None:
    result = run_bench("--sync", "quickbooks", "--projects", "20")
    assert result.returncode == 2
    assert "--projects: not an option of --sync quickbooks" in result.stderr
    result = run_bench("--documents", "20")
    assert result.returncode == 2
    assert "--documents: not an option of --sync projects" in result.stderr
