"""`crosswalk sandbox`: starts the four emulators, writes and prints the env file, stops everything on SIGTERM."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow

SPEC_E_VARIABLES = {
    "CROSSWALK_DATABASE_URL", "CROSSWALK_CONFIG",
    "INTACCT_URL", "INTACCT_SENDER_ID", "INTACCT_SENDER_PASSWORD", "INTACCT_COMPANY_ID", "INTACCT_USER_ID",
    "INTACCT_USER_PASSWORD",
    "SALESFORCE_INSTANCE_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_CA_BUNDLE",
    "QBO_BASE_URL", "QBO_DISCOVERY_URL", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REALM_ID", "QBO_REFRESH_TOKEN",
    "ESP_URL", "ESP_CLIENT_ID", "ESP_CLIENT_SECRET",
}  # fmt: skip


def read_exports(text: str) -> dict[str, str]:
    """The variables a shell would get from sourcing the file (values are shell-quoted)."""
    result = subprocess.run(
        ["bash", "-c", f"set -a; {text}\nenv -0"], capture_output=True, check=True, env={"PATH": os.environ["PATH"]}
    )
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}


def test_sandbox_command_writes_prints_and_stops(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    crosswalk = Path(sys.executable).parent / "crosswalk"
    process = subprocess.Popen(
        [str(crosswalk), "sandbox", "--env-file", str(env_file), "--scale", "none", "--state-dir", str(tmp_path / "s")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env={**os.environ, "CROSSWALK_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "no env file after 120 s"
            time.sleep(0.1)
        exported = read_exports(env_file.read_text())
        assert set(exported) >= SPEC_E_VARIABLES
        assert exported["CROSSWALK_DATABASE_URL"].startswith("sqlite:///")
        assert exported["SALESFORCE_INSTANCE_URL"].startswith("https://127.0.0.1:")
        for variable in ("INTACCT_URL", "SALESFORCE_INSTANCE_URL", "QBO_BASE_URL", "ESP_URL"):
            origin = "/".join(exported[variable].split("/")[:3])
            verify: ssl.SSLContext | bool = True
            if origin.startswith("https"):
                verify = ssl.create_default_context(cafile=exported["SALESFORCE_CA_BUNDLE"])
            assert httpx.get(f"{origin}/__admin/health", verify=verify).json()["status"] == "ok"
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert read_exports(stdout.decode()) == read_exports(env_file.read_text())
    time.sleep(0.5)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{'/'.join(exported['ESP_URL'].split('/')[:3])}/__admin/health", timeout=2)


def test_sandbox_command_refuses_a_bad_scale(tmp_path: Path) -> None:
    crosswalk = Path(sys.executable).parent / "crosswalk"
    result = subprocess.run(
        [str(crosswalk), "sandbox", "--env-file", str(tmp_path / "x.env"), "--scale", "lots"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2 and "--scale must be demo, none or a number" in result.stderr
    assert not (tmp_path / "x.env").exists()
