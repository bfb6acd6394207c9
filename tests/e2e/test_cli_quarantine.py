"""`crosswalk quarantine [--json] [--all]`: the records kept aside, with rule and reason, from a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crosswalk.staging import StagingStore
from tests.e2e.conftest import REPO

CROSSWALK = Path(sys.executable).parent / "crosswalk"


def quarantine_command(*args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSWALK_DATABASE_URL": url, "CROSSWALK_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [str(CROSSWALK), "quarantine", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_lists_open_records_with_rule_and_reason_and_hides_resolved_ones(
    store: StagingStore, database_url: str, tmp_path: Path
) -> None:
    entry = {"rule": "unparseable_stamp", "payload": {"Id": "7", "MetaData": {"LastUpdatedTime": "13/45/2026"}}}
    store.quarantine("quickbooks", "Customer", "extract", [
        {**entry, "record_key": "7", "reason": "MetaData.LastUpdatedTime '13/45/2026' is not a iso8601 stamp"},
        {**entry, "record_key": "8", "reason": "MetaData.LastUpdatedTime 'x' is not a iso8601 stamp"},
    ], "run-1")  # fmt: skip
    store.resolve_quarantine("quickbooks", "Customer", "extract", ["8"])

    shown = quarantine_command("--json", url=database_url, tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    records = json.loads(shown.stdout)["records"]
    assert [(r["system"], r["object"], r["key"], r["stage"], r["rule"], r["run_id"]) for r in records] == [
        ("quickbooks", "Customer", "7", "extract", "unparseable_stamp", "run-1")
    ]
    assert "'13/45/2026'" in records[0]["reason"] and records[0]["payload"]["Id"] == "7"

    everything = quarantine_command("--json", "--all", url=database_url, tmp_path=tmp_path)
    assert [(r["key"], r["resolved_at"] is not None) for r in json.loads(everything.stdout)["records"]] == [
        ("7", False), ("8", True),
    ]  # fmt: skip

    text = quarantine_command(url=database_url, tmp_path=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].endswith(": 1 open quarantined record")
    assert lines[1].startswith("quickbooks.Customer 7 [extract: unparseable_stamp] MetaData.LastUpdatedTime")


def test_no_store_there_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    result = quarantine_command(url=f"sqlite:///{missing}", tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("crosswalk quarantine: staging store sqlite:///")
    assert "no staging store there" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists()
