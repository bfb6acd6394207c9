"""End-to-end fixtures: the real sandbox (four emulator processes) and a way to run Dagster jobs against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crosswalk.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The four emulators at a scale where every stream spans a few pages (shared by the e2e tests)."""
    with Sandbox(state_dir=tmp_path_factory.mktemp("sandbox"), scale="demo", counts={"tasks": 5000}) as running:
        yield running


def admin(sandbox: Sandbox, system: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    origin = sandbox.origins()[system]
    verify: Any = True
    if origin.startswith("https"):
        import ssl

        verify = ssl.create_default_context(cafile=sandbox.env["SALESFORCE_CA_BUNDLE"])
    with httpx.Client(verify=verify, timeout=120) as client:
        return client.request(method, f"{origin}/__admin/{path}", **kwargs)


def job_env(
    sandbox: Sandbox, database_url: str, dagster_home: Path, *, projects_sync: bool = False,
    quickbooks_sync: bool = False,
) -> dict[str, str]:  # fmt: skip
    """The environment of a job run against the sandbox. The syncs not asked for are switched off (`enabled: false`),
    so by default a run reads and never writes and the shared sandbox stays as generated."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **sandbox.env, "CROSSWALK_DATABASE_URL": database_url, "DAGSTER_HOME": str(dagster_home)}
    off = [name for name, on in (("projects", projects_sync), ("quickbooks", quickbooks_sync)) if not on]
    if off:
        env["CROSSWALK_CONFIG"] = str(syncs_off_settings(dagster_home, off))
    return env


def syncs_off_settings(directory: Path, syncs: list[str]) -> Path:
    """A settings file that switches these syncs off (their assets skip and write nothing)."""
    settings = directory / f"{'-'.join(syncs)}-off.yaml"
    settings.write_text("".join(f"{sync}:\n  enabled: false\n" for sync in syncs))
    return settings


def extract_only_settings(directory: Path) -> Path:
    """A settings file that switches every sync off: runs read the systems and write to none."""
    return syncs_off_settings(directory, ["projects", "quickbooks"])


def dagster_command(job: str) -> list[str]:
    return [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-j", job]


def run_job(job: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dagster_command(job), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
