"""`crosswalk plan` says on standard error how planning goes, entity by entity with the records of each side, and
keeps standard output to the plan (pure JSON with --json)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from crosswalk.staging import StagingStore
from tests.e2e.conftest import REPO
from tests.e2e.test_cli_plan import stage
from tests.unit.test_sync_reconcile import intacct_project, salesforce_project

CROSSWALK = Path(sys.executable).parent / "crosswalk"
PROJECTS = 300


def test_plan_reports_each_entity_on_stderr(store: StagingStore, database_url: str, tmp_path: Path) -> None:
    stage(store, "intacct", "CUSTOMER", [{"RECORDNO": "1", "CUSTOMERID": "C-1", "NAME": "Acme"}], "RECORDNO")
    stage(store, "salesforce", "Account", [{"Id": "001A", "Name": "Acme", "ia_crm__IntacctID__c": "C-1"},
                                           {"Id": "001B", "Name": "Other"}], "Id")  # fmt: skip
    stage(store, "intacct", "PROJECT", [
        intacct_project(RECORDNO=str(n), PROJECTID=f"P-{n}", NAME=f"Project {n}", SFDC_PROJECT_ID="")
        for n in range(1, PROJECTS + 1)
    ], "RECORDNO")  # fmt: skip
    stage(store, "salesforce", "ia_crm__Project__c",
          [salesforce_project(Id="a0B1", Name="Project 1", ia_crm__Project_ID__c="P-1")], "Id")  # fmt: skip
    env = {**os.environ, "CROSSWALK_DATABASE_URL": database_url, "CROSSWALK_HOME": str(tmp_path)}
    shown = subprocess.run([str(CROSSWALK), "plan", "--no-extract", "--json"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)  # nothing but the plan on standard output
    lines = shown.stderr.splitlines()
    assert lines[0] == "planning the projects sync from what is staged..."
    planned = {}
    for line in lines[1:]:
        match = re.fullmatch(
            r"planned (\w+): (\d+) intacct and (\d+) salesforce records mapped, ([\d,]+) pairs unchanged, "
            r"([\d,]+) items, \d+\.\ds \(read_map \d+\.\ds, validate \d+\.\ds, match_reconcile \d+\.\ds, "
            r"references \d+\.\ds\)",
            line,
        )
        assert match, line
        assert match.group(4) == "0"  # a first plan: no pair was found in sync before
        planned[match.group(1)] = (int(match.group(2)), int(match.group(3)), int(match.group(5).replace(",", "")))
    assert list(planned) == ["customer", "project", "task"]  # reference order
    assert planned["customer"][:2] == (1, 2)
    assert planned["project"][:2] == (PROJECTS, 1)
    assert planned["task"][:2] == (0, 0)
    # The item counts are the plan's own (the JSON leaves out the links, which are items too).
    creates = [i for i in body["items"] if i["entity"] == "project" and i["action"] == "create"]
    assert len(creates) == PROJECTS - 1 and planned["project"][2] >= len(creates)
