"""The production Dagster instance (`dagster.yaml`, run/event/schedule storage in PostgreSQL) runs real jobs, the
README's job command works from the repository root, and exported DAGSTER_PG_* values win over `.env`'s defaults.

Each test gets a PostgreSQL database of its own, so Dagster's runs never pile up in a shared one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosswalk.clients.catalog import ESP, INTACCT, QUICKBOOKS, SALESFORCE, STREAMS
from crosswalk.sandbox import Sandbox
from crosswalk.staging import schema as staging_schema
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import REPO, dagster_command, extract_only_settings, job_env

INSTANCE_VARIABLES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD")
README_JOB_COMMAND = ("dagster", "job", "execute", "-m", "pipelines.definitions", "-j", "sync_all")


def instance_env(database: str) -> dict[str, str]:
    """DAGSTER_PG_* naming `database` on the test PostgreSQL server."""
    url = sa.make_url(POSTGRES_URL)
    return {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
    }


def database_engine(database: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(POSTGRES_URL).set(database=database))


def runs_in(database: str) -> dict[str, str]:
    """run id -> status of every Dagster run stored in `database` (none when Dagster never wrote there)."""
    engine = database_engine(database)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("runs"):
                return {}
            return {run_id: status for run_id, status in conn.execute(sa.text("SELECT run_id, status FROM runs"))}
    finally:
        engine.dispose()


def event_types(database: str, run_id: str) -> list[str]:
    engine = database_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT dagster_event_type FROM event_logs WHERE run_id = :run_id ORDER BY id"),
                {"run_id": run_id},
            )
            return [event_type for (event_type,) in rows]
    finally:
        engine.dispose()


def staged_streams(database_url: str) -> set[tuple[str, str]]:
    engine = sa.create_engine(database_url)
    table = staging_schema.raw_records
    try:
        with engine.connect() as conn:
            return {(s, o) for s, o in conn.execute(sa.select(table.c.system, table.c.object).distinct())}
    finally:
        engine.dispose()


@pytest.fixture
def dagster_database(postgres_reason: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database for one Dagster instance, dropped after the test."""
    if postgres_reason:
        pytest.skip(f"PostgreSQL tests SKIPPED: {POSTGRES_URL} unreachable ({postgres_reason})")
    name = f"cw_dagster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def env_file_defaults(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the dagster CLI takes from ./.env when no DAGSTER_PG_* variable is exported."""
    # The CLI's own reader: it puts every value this returns into os.environ, over what was exported.
    from dagster._core.secrets.env_file import get_env_var_dict

    with monkeypatch.context() as patch:
        for name in INSTANCE_VARIABLES:
            patch.delenv(name, raising=False)
        return get_env_var_dict(str(REPO))


def test_env_file_defaults_apply_only_where_a_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.secrets.env_file import get_env_var_dict

    defaults = env_file_defaults(monkeypatch)
    assert set(INSTANCE_VARIABLES) <= defaults.keys()
    assert defaults["DAGSTER_PG_HOST"] and defaults["DAGSTER_PG_DB"] and defaults["DAGSTER_PG_PORT"].isdigit()

    exported = {name: f"exported-{name.lower()}" for name in INSTANCE_VARIABLES}
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    loaded = get_env_var_dict(str(REPO))
    assert {name: loaded[name] for name in INSTANCE_VARIABLES} == exported


@pytest.mark.slow
@pytest.mark.postgres
def test_sync_projects_runs_on_the_production_instance_with_its_events_in_postgresql(
    sandbox: Sandbox, dagster_database: str, tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    env = {**job_env(sandbox, staging_url, home), **instance_env(dagster_database)}
    # Outside the repository, as a deployment runs it: only DAGSTER_HOME's dagster.yaml configures the instance.
    result = subprocess.run(
        dagster_command("sync_projects"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    runs = runs_in(dagster_database)
    assert list(runs.values()) == ["SUCCESS"], runs
    (run_id,) = runs
    events = event_types(dagster_database, run_id)
    assert "PIPELINE_START" in events and "PIPELINE_SUCCESS" in events, events
    project_streams = {(s.system, s.object) for s in STREAMS if s.system in (INTACCT, SALESFORCE)}
    # One per stream, and the projects sync's plan, two loads and second pass (switched off here: they report why).
    assert events.count("ASSET_MATERIALIZATION") == len(project_streams) + 5
    assert staged_streams(staging_url) == project_streams


@pytest.mark.slow
@pytest.mark.postgres
def test_the_readme_job_command_runs_from_the_repository_root_into_the_exported_database(
    sandbox: Sandbox, dagster_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("DAGSTER_PG_")}
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    env.update(sandbox.env, CROSSWALK_DATABASE_URL=staging_url)
    env["CROSSWALK_CONFIG"] = str(extract_only_settings(tmp_path))  # the shared sandbox is read, never written
    # Export the database, and the rest only where the test server differs from .env's defaults (which then apply).
    defaults = env_file_defaults(monkeypatch)
    env.update({k: v for k, v in instance_env(dagster_database).items() if k == "DAGSTER_PG_DB" or v != defaults[k]})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the activated virtualenv
    # As written in the README: no DAGSTER_HOME, so the CLI reads ./dagster.yaml and ./.env.
    result = subprocess.run(
        list(README_JOB_COMMAND), cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]

    runs = runs_in(dagster_database)
    assert list(runs.values()) == ["SUCCESS"], runs
    (run_id,) = runs
    assert "PIPELINE_SUCCESS" in event_types(dagster_database, run_id)
    assert staged_streams(staging_url) == {(s.system, s.object) for s in STREAMS}
    assert {s.system for s in STREAMS} == {INTACCT, SALESFORCE, QUICKBOOKS, ESP}

    # .env names its own default database; the exported one won, so that one has no record of this run.
    assert defaults["DAGSTER_PG_DB"] != dagster_database
    assert run_id not in runs_in(defaults["DAGSTER_PG_DB"])
