"""`crosswalk quickbooks status|disconnect|connect` as a person runs them: the installed command in its own process,
against the QuickBooks Online emulator over HTTPS, with a SQLite staging store; no secret in anything it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator
from tests.e2e.conftest import REPO
from tests.integration.test_quickbooks_connection import consent_refresh_token, secrets

CROSSWALK = Path(sys.executable).parent / "crosswalk"


def quickbooks_command(
    *args: str, emulator: RunningEmulator, tmp_path: Path, **overrides: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **emulator.env,
        "REQUESTS_CA_BUNDLE": emulator.ca_bundle or "",
        "CROSSWALK_DATABASE_URL": f"sqlite:///{tmp_path / 'staging.sqlite'}",
        "CROSSWALK_HOME": str(tmp_path / "home"),
        **overrides,
    }
    env = {name: value for name, value in env.items() if value}
    return subprocess.run(
        [str(CROSSWALK), "quickbooks", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_status_disconnect_and_connect_again(
    start_emulator: Callable[..., RunningEmulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qbo = start_emulator("quickbooks", scale="none")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", qbo.ca_bundle or "")  # for the consent flow run from here
    realm = qbo.env["QBO_REALM_ID"]
    outputs: list[str] = []

    def run(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        result = quickbooks_command(*args, emulator=qbo, tmp_path=tmp_path, **overrides)
        outputs.extend([result.stdout, result.stderr])
        return result

    shown = run("status", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["connected"] is True and report["company_name"] == "Crosswalk Sandbox Company"
    assert report["realm_id"] == realm and report["token_stored"] is True and report["revoked_at"] is None
    assert report["refresh_token_rotated_at"] and report["refresh_token_expires_at"]

    text = run("status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"QuickBooks Online realm {realm}: connected to 'Crosswalk Sandbox Company'"
    assert lines[1].startswith("refresh token: in the staging store, last rotated ")
    assert lines[1].endswith("(in 100 days)")

    gone = run("disconnect")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith(f"disconnected realm {realm}: its refresh token is revoked at Intuit and forgotten")

    refused = run("status")
    assert refused.returncode == 1
    assert refused.stderr.startswith("crosswalk quickbooks status: not connected: disconnected")
    assert "crosswalk quickbooks connect" in refused.stderr
    assert "refresh token: none in the staging store" in refused.stdout

    again = run("connect", QBO_REFRESH_TOKEN=consent_refresh_token(qbo))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"QuickBooks Online realm {realm}: connected to 'Crosswalk Sandbox Company'")
    back = run("status", "--json", QBO_REFRESH_TOKEN="")  # the store's token is all it needs now
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["connected"] is True

    no_realm = run("status", QBO_REALM_ID="")
    assert no_realm.returncode == 1
    assert "QBO_REALM_ID is not set" in no_realm.stderr
    no_token = run("connect", QBO_REFRESH_TOKEN="")
    assert no_token.returncode == 1 and "QBO_REFRESH_TOKEN is not set" in no_token.stderr

    printed = "\n".join(outputs)
    assert not [secret for secret in secrets(qbo) if secret in printed]
