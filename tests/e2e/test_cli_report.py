"""`crosswalk report [--run RUN_ID] [--json]`: what one run read, wrote, kept aside and left for review, from a store
whose content the test wrote through the same store classes the runs use (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crosswalk.staging import StagingStore
from crosswalk.staging.intents import DONE, FAILED, Intent, IntentLog, Outcome
from crosswalk.staging.plans import PlanStore
from crosswalk.staging.store import RawRecord
from crosswalk.sync.matching import Review
from crosswalk.sync.plan import Action, PlanItem
from crosswalk.sync.reconcile import Conflict
from tests.e2e.conftest import REPO

CROSSWALK = Path(sys.executable).parent / "crosswalk"
RUN = "4a1e0b7c-0000-4000-8000-000000000001"
EARLIER = "4a1e0b7c-0000-4000-8000-000000000000"
PLAN_ID = f"projects-{RUN}"


def report_command(*args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSWALK_DATABASE_URL": url, "CROSSWALK_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [str(CROSSWALK), "report", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def extract_row(run_id: str, system: str, object_name: str, minute: int, **counts: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id, "system": system, "object": object_name, "status": "succeeded",
        "started_at": datetime(2026, 3, 2, 9, minute, tzinfo=UTC), "finished_at": datetime(2026, 3, 2, 9, minute, 30,
                                                                                           tzinfo=UTC),
        "rows_read": 0, "rows_new": 0, "rows_changed": 0, "rows_unchanged": 0, "rows_deleted": 0, "pages": 1,
        "api_calls": 1, "retries": 0, "error": None,
    }  # fmt: skip
    row.update(counts)
    return row


def fill_store(store: StagingStore) -> None:
    """An earlier run, the run reported (two systems read, one stream failed, one read twice; the projects sync
    planned, wrote, was refused once and left one write unanswered), and a later dry run of `crosswalk plan`."""
    for row in (
        extract_row(EARLIER, "intacct", "PROJECT", 0, rows_read=50, rows_new=50),
        extract_row(RUN, "intacct", "PROJECT", 10, rows_read=10, rows_new=7, rows_changed=2, rows_unchanged=1,
                    api_calls=2),
        extract_row(RUN, "intacct", "TASK", 11, status="failed", error="intacct answered 500\ntraceback..."),
        extract_row(RUN, "quickbooks", "Invoice", 12, rows_read=4, rows_new=4, rows_deleted=1, retries=1),
        extract_row(RUN, "quickbooks", "Invoice", 14, rows_read=2, rows_changed=2),
        extract_row("plan-0123456789ab", "intacct", "PROJECT", 30, rows_read=1),
    ):  # fmt: skip
        store.record_extract_run(row)
    store.stage_raw_records("intacct", "PROJECT", [RawRecord("7", {"RECORDNO": "7", "NAME": "Seventh"})], RUN)

    created = PlanItem("project", Action.CREATE, "new:project:3:-", target="salesforce",
                       target_object="ia_crm__Project__c", source="intacct", source_key="3",
                       values={"name": "Alpha Rollout"}, identity=("ia_crm__Project_ID__c", "P-3"))  # fmt: skip
    updated = PlanItem("project", Action.UPDATE, "link:1", target="intacct", target_object="PROJECT", target_key="7",
                       source="salesforce", source_key="a0B7", values={"description": "new"},
                       before={"description": "old"},
                       conflicts=[Conflict("description", "base", "base", "old", "new", "right",
                                           "policy salesforce_wins")])  # fmt: skip
    refused = PlanItem("project", Action.CREATE, "new:project:4:-", target="salesforce",
                       target_object="ia_crm__Project__c", source="intacct", source_key="4",
                       values={"name": "Beta"}, identity=("ia_crm__Project_ID__c", "P-4"))  # fmt: skip
    unanswered = PlanItem("project", Action.CREATE, "new:project:5:-", target="salesforce",
                          target_object="ia_crm__Project__c", source="intacct", source_key="5",
                          values={"name": "Gamma"}, identity=("ia_crm__Project_ID__c", "P-5"))  # fmt: skip
    link = PlanItem("project", Action.LINK, "link:1")
    items = [created, updated, refused, unanswered, link]
    plans = PlanStore(store, "projects")
    plans.save(PLAN_ID, items, run_id=RUN, mapping_hash="abc",
               counts={"creates": 3, "updates": 1, "refused": 0, "in_sync": 12, "conflicts": 1})  # fmt: skip
    plans.record_conflicts(PLAN_ID, RUN, items, {"link:1": ("7", "a0B7")})
    plans.record_reviews("task", RUN, [Review("salesforce", "a0C9", ("T-1", "T-2"), "two tasks with this name")])
    log = IntentLog(store)
    log.open([
        Intent(f"m{seq}", PLAN_ID, seq, item.target or "", item.target_object or "",
               "upsert" if item.action is Action.CREATE else "update", None, None)
        for seq, item in enumerate(items[:4])
    ], RUN)  # fmt: skip
    log.close([
        Outcome("m0", DONE, result_key="a0B0000000000001"),
        Outcome("m1", DONE, result_key="7"),
        Outcome("m2", FAILED, error="REQUIRED_FIELD_MISSING: Name\nmore detail"),
    ])  # fmt: skip
    log.record_settled(PLAN_ID, [4], RUN)

    entry = {"rule": "expect_column_values_to_be_in_set", "payload": None}
    store.quarantine("esp", "invoices", "validate", [
        {**entry, "record_key": key, "reason": "invoice: CustomerId names a customer that esp does not have"}
        for key in ("701", "702", "703", "704")
    ] + [{**entry, "record_key": "705", "reason": "invoice: Date is not a date"}], RUN)  # fmt: skip
    store.resolve_quarantine("esp", "invoices", "validate", ["704"])
    store.quarantine("esp", "bills", "validate", [
        {**entry, "record_key": f"80{n}", "reason": f"bill: reason {n}"} for n in range(1, 5)
    ], RUN)  # fmt: skip
    store.quarantine("intacct", "PROJECT", "map", [{**entry, "record_key": "9", "reason": "older"}], EARLIER)


def test_report_json_of_a_known_store(store: StagingStore, database_url: str, tmp_path: Path) -> None:
    fill_store(store)
    shown = report_command("--json", url=database_url, tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    # The latest sync run, not the later dry run of `crosswalk plan`.
    assert report["run_id"] == RUN
    assert report["started_at"].startswith("2026-03-02T09:10:00")
    assert report["read"] == [
        {"system": "intacct", "streams": 2, "read_again": 0, "rows_read": 10, "new": 7, "changed": 2, "unchanged": 1,
         "deleted": 0, "api_calls": 3, "retries": 0,
         "failed": [{"object": "TASK", "error": "intacct answered 500\ntraceback..."}]},
        {"system": "quickbooks", "streams": 1, "read_again": 1, "rows_read": 6, "new": 4, "changed": 2,
         "unchanged": 0, "deleted": 1, "api_calls": 2, "retries": 1, "failed": []},
    ]  # fmt: skip
    [sync] = report["syncs"]
    assert sync["sync"] == "projects"
    [plan] = sync["plans"]
    assert (plan["plan_id"], plan["stage"], plan["mapping_hash"]) == (PLAN_ID, None, "abc")
    assert plan["counts"] == {"creates": 3, "updates": 1, "refused": 0, "in_sync": 12, "conflicts": 1}
    assert plan["written"] == [
        {"target": "intacct", "object": "PROJECT", "entity": "project", "action": "update", "done": 1, "failed": 0,
         "open": 0, "records": [{"key": "7", "name": "Seventh"}], "errors": []},
        {"target": "salesforce", "object": "ia_crm__Project__c", "entity": "project", "action": "create", "done": 1,
         "failed": 1, "open": 1, "records": [{"key": "a0B0000000000001", "name": "Alpha Rollout"}],
         "errors": [{"source": "intacct", "source_key": "4", "error": "REQUIRED_FIELD_MISSING: Name"}]},
    ]  # fmt: skip
    # The five reasons with the most records (ties by stream and reason), then what the others add up to.
    rule = "expect_column_values_to_be_in_set"
    assert report["quarantine"] == {
        "this_run": 9, "this_run_open": 8, "open": 9,
        "top_reasons": [
            {"stage": "validate", "system": "esp", "object": "invoices", "rule": rule,
             "reason": "invoice: CustomerId names a customer that esp does not have", "records": 3,
             "keys": ["701", "702", "703"]},
        ] + [
            {"stage": "validate", "system": "esp", "object": "bills", "rule": rule, "reason": f"bill: reason {n}",
             "records": 1, "keys": [f"80{n}"]}
            for n in range(1, 5)
        ],
        "other_reasons": {"reasons": 1, "records": 1},
    }  # fmt: skip
    assert report["conflicts"] == {"count": 1, "fields": [
        {"sync": "projects", "entity": "project", "field": "description", "conflicts": 1,
         "example": {"left_key": "7", "right_key": "a0B7", "left": "old", "right": "new", "winner": "right",
                     "rule": "policy salesforce_wins"}},
    ]}  # fmt: skip
    assert report["reviews"] == {"open": 1, "this_run": 1, "lists": [
        {"sync": "projects", "entity": "task", "system": "salesforce", "records": 1,
         "examples": [{"key": "a0C9", "candidates": ["T-1", "T-2"], "reason": "two tasks with this name"}]},
    ]}  # fmt: skip

    text = report_command(url=database_url, tmp_path=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"run {RUN}, 2026-03-02 09:10:00 to ") and lines[0].endswith(" UTC")
    assert "    FAILED TASK: intacct answered 500" in lines
    assert any(line.split() == ["salesforce", "project", "created", "1", "Alpha", "Rollout", "(a0B0000000000001)"]
               for line in lines)  # fmt: skip
    assert any(line.split()[:5] == ["refused", "1", "intacct", "4:", "REQUIRED_FIELD_MISSING:"] for line in lines)
    assert "quarantined: 8 records in this run (9 open in all; `crosswalk quarantine` lists them)" in lines
    assert "      1  for 1 other reason" in lines
    assert "waiting for review: 1 record a person must pair (`crosswalk plan` lists them)" in lines


def test_report_of_a_named_run(store: StagingStore, database_url: str, tmp_path: Path) -> None:
    fill_store(store)
    earlier = json.loads(report_command("--json", "--run", EARLIER, url=database_url, tmp_path=tmp_path).stdout)
    assert earlier["run_id"] == EARLIER and earlier["syncs"] == []
    assert [(r["system"], r["rows_read"]) for r in earlier["read"]] == [("intacct", 50)]
    assert earlier["quarantine"]["this_run"] == 1
    # The start of one run's id is enough; the start of two is refused, naming the problem.
    dry = report_command("--json", "--run", "plan-0123", url=database_url, tmp_path=tmp_path)
    assert json.loads(dry.stdout)["run_id"] == "plan-0123456789ab"
    both = report_command("--run", "4a1e0b7c", url=database_url, tmp_path=tmp_path)
    assert both.returncode == 1 and both.stdout == ""
    assert both.stderr.strip() == "crosswalk report: more than one run starts with '4a1e0b7c': give more of its id"
    missing = report_command("--run", "nope", url=database_url, tmp_path=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (1, "crosswalk report: no run 'nope' in the staging store")


def test_report_of_an_empty_store_says_so(store: StagingStore, database_url: str, tmp_path: Path) -> None:
    empty = report_command(url=database_url, tmp_path=tmp_path)
    assert (empty.returncode, empty.stdout) == (1, "")
    assert empty.stderr.strip() == "crosswalk report: no sync run recorded in the staging store yet"
