"""`crosswalk plan --no-extract`: the plan from staging as it is, ambiguous matches for review, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from crosswalk.staging import RawRecord, StagingStore
from crosswalk.staging import schema as staging_schema
from tests.e2e.conftest import REPO
from tests.unit.test_sync_reconcile import intacct_project, salesforce_project

CROSSWALK = Path(sys.executable).parent / "crosswalk"


def stage(store: StagingStore, system: str, object_name: str, rows: list[dict[str, object]], key: str) -> None:
    records = [RawRecord(str(row[key]), row, "s", datetime(2026, 1, 2, tzinfo=UTC)) for row in rows]
    store.stage_raw_records(system, object_name, records, "run")


def test_an_ambiguous_match_is_listed_for_review_and_neither_linked_nor_created(
    store: StagingStore, database_url: str, tmp_path: Path
) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"}], "Id")
    stage(store, "intacct", "PROJECT", [
        intacct_project(RECORDNO="1", PROJECTID="P-1", NAME="Twin", SFDC_PROJECT_ID=""),
        intacct_project(RECORDNO="2", PROJECTID="P-2", NAME="twin", SFDC_PROJECT_ID=""),
    ], "RECORDNO")  # fmt: skip
    stage(store, "salesforce", "ia_crm__Project__c",
          [salesforce_project(Id="a0B1", Name="Twin", ia_crm__Project_ID__c=None)], "Id")  # fmt: skip
    env = {**os.environ, "CROSSWALK_DATABASE_URL": database_url, "CROSSWALK_HOME": str(tmp_path)}
    command = [str(CROSSWALK), "plan", "--no-extract"]
    shown = subprocess.run([*command, "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                           check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert sorted((r["system"], r["key"], tuple(r["candidates"])) for r in body["reviews"]) == [
        ("intacct", "1", ("a0B1",)), ("intacct", "2", ("a0B1",)), ("salesforce", "a0B1", ("1", "2")),
    ]  # fmt: skip
    assert [i for i in body["items"] if i["entity"] == "project" and i["action"] in ("create", "update")] == []
    text = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert "3 records wait for a person" in text.stdout
    assert store.count_rows(staging_schema.plan_items) == 0  # a dry run stores nothing
