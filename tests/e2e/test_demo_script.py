"""scripts/demo as a person runs it: it starts its own sandbox, runs sync_all, and prints a short summary of what the
run read and wrote (checked here against the staging store the run filled), with Dagster's full output in a log
file; a run that fails exits non-zero with the errors and the end of that log."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosswalk.staging import StagingStore, schema
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow
DEMO = REPO / "scripts" / "demo"


def run_demo(home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """scripts/demo in a clean environment: nothing of the caller's staging store, settings or Dagster home."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CROSSWALK_", "DAGSTER_", "INTACCT_", "SALESFORCE_", "QBO_", "ESP_"))
    }
    env.update({"CROSSWALK_HOME": str(home), **extra})
    return subprocess.run(
        ["bash", str(DEMO)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def line_with(lines: list[str], pattern: str) -> str:
    found = [line for line in lines if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r} in:\n" + "\n".join(lines)
    return found[0]


def test_demo_prints_what_the_run_did(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_demo(home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    # A summary, not Dagster's event stream: that is in the log file the demo names.
    assert not any(" - DEBUG - " in line or "STEP_SUCCESS" in line for line in lines)
    assert len(lines) < 80
    [log_line] = [line for line in lines if line.startswith("full log: ")]
    log = Path(log_line.removeprefix("full log: "))
    assert log.parent == home / "logs" and "RUN_SUCCESS" in log.read_text()
    run_id = line_with(lines, r"^run ").split()[1].rstrip(",")
    assert f"sync_all - {run_id} - " in log.read_text()

    store = StagingStore(f"sqlite:///{home / 'staging.sqlite'}")
    try:
        with store.engine.connect() as conn:
            runs = schema.extract_runs
            read = dict(
                conn.execute(
                    sa.select(runs.c.system, sa.func.sum(runs.c.rows_read))
                    .where(runs.c.run_id == run_id)
                    .group_by(runs.c.system)
                ).all()
            )
            intents, items = schema.write_intents, schema.plan_items
            landed = conn.execute(
                sa.select(intents.c.plan_id, intents.c.target_system, items.c.entity, items.c.action, sa.func.count())
                .select_from(intents.join(items, sa.and_(items.c.plan_id == intents.c.plan_id,
                                                         items.c.seq == intents.c.seq)))
                .where(intents.c.run_id == run_id, intents.c.state == "done", intents.c.operation != "link")
                .group_by(intents.c.plan_id, intents.c.target_system, items.c.entity, items.c.action)
            ).all()  # fmt: skip
            first_create = conn.execute(
                sa.select(intents.c.result_key, items.c.item)
                .select_from(intents.join(items, sa.and_(items.c.plan_id == intents.c.plan_id,
                                                         items.c.seq == intents.c.seq)))
                .where(intents.c.plan_id == f"projects-{run_id}", intents.c.target_system == "salesforce",
                       items.c.entity == "project", items.c.action == "create", intents.c.state == "done")
                .order_by(intents.c.seq).limit(1)
            ).one()  # fmt: skip
            quarantine = schema.quarantine
            quarantined = conn.execute(
                sa.select(sa.func.count()).where(quarantine.c.run_id == run_id, quarantine.c.resolved_at.is_(None))
            ).scalar_one()
            reasons = conn.execute(
                sa.select(quarantine.c.stage, quarantine.c.system, quarantine.c.object, quarantine.c.reason,
                          sa.func.count())
                .where(quarantine.c.run_id == run_id, quarantine.c.resolved_at.is_(None))
                .group_by(quarantine.c.stage, quarantine.c.system, quarantine.c.object, quarantine.c.reason)
            ).all()  # fmt: skip
    finally:
        store.dispose()

    # Every system was read, with the rows this run read from it.
    assert set(read) == {"intacct", "salesforce", "quickbooks", "esp"}
    for system, rows in read.items():
        assert rows > 0
        assert re.search(rf"streams\s+{rows:,} rows: ", line_with(lines, rf"^  {system}\s+\d+ streams"))
    # Both syncs wrote, and each group of writes shows its count under its sync and plan.
    sections = {line: n for n, line in enumerate(lines) if line.startswith("sync ")}
    # The projects sync's second pass (progress) runs because the first sync creates records in Intacct.
    titles = {"sync projects", "sync projects (progress)", "sync quickbooks (send)", "sync quickbooks (status)"}
    assert {line.split(":")[0] for line in sections} == titles
    plans = {f"projects-{run_id}", f"projects-progress-{run_id}", f"quickbooks-send-{run_id}",
             f"quickbooks-status-{run_id}"}  # fmt: skip
    assert {plan_id for plan_id, *_ in landed} == plans
    for plan_id, target, entity, action, count in landed:
        title = {"projects": "sync projects", "projects-progress": "sync projects (progress)",
                 "quickbooks-send": "sync quickbooks (send)",
                 "quickbooks-status": "sync quickbooks (status)"}[plan_id.removesuffix(f"-{run_id}")]  # fmt: skip
        start = next(n for line, n in sections.items() if line.startswith(title + ":"))
        section = lines[start + 1 : next((n for n in sorted(sections.values()) if n > start), len(lines))]
        verb = "created" if action == "create" else "updated"
        assert line_with(section, rf"^  {target}\s+{entity}\s+{verb}\s+{count:,}(\s|$)")
    # The records are named: the first project created in Salesforce, by its name and the Id Salesforce gave it.
    result_key, item = first_create
    name = json.loads(item)["values"]["name"]
    assert f"{name} ({result_key})" in line_with(lines, r"^  salesforce\s+project\s+created ")
    # What was kept aside: how many, then the reasons by the records they hold, the most frequent first.
    assert quarantined > 0
    heading = line_with(lines, "^quarantined: ")
    assert heading.startswith(f"quarantined: {quarantined:,} records in this run")
    shown = []
    for line in lines[lines.index(heading) + 1 :]:
        if not line.startswith("  ") or re.fullmatch(r"\s+[\d,]+  for [\d,]+ other reasons?", line):
            break
        count, stage, stream, reason = re.fullmatch(r"\s+(\d+)  (\S+) (\S+): (.*?)( \(.*\))?", line).groups()[:4]
        system, object_name = stream.split(".", 1)
        shown.append((stage, system, object_name, reason, int(count)))
    assert shown and set(shown) <= set(reasons)
    assert [count for *_, count in shown] == sorted((count for *_, count in reasons), reverse=True)[: len(shown)]
    assert line_with(lines, "^conflicts: ") and line_with(lines, "^waiting for review: ")


def test_demo_exits_non_zero_with_the_errors_when_the_run_fails(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # A staging store nobody listens for: the sandbox starts, the run fails when it opens the store.
    result = run_demo(home, CROSSWALK_DATABASE_URL="postgresql://crosswalk@127.0.0.1:1/nowhere")
    assert result.returncode != 0
    assert "sync_all succeeded" not in result.stdout
    assert "sync_all FAILED" in result.stderr
    errors = result.stderr.split("errors:", 1)[1]
    assert "RUN_FAILURE" in errors
    assert "staging store postgresql://crosswalk@127.0.0.1:1/nowhere" in errors
    [log] = (home / "logs").glob("sync_all-*.log")
    assert f"the log ({log}) ends with:" in result.stderr
    assert result.stderr.rstrip().endswith(log.read_text().rstrip().splitlines()[-1])
