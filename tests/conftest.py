"""Shared fixtures: a staging store on SQLite and on PostgreSQL (same tests run on both)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosswalk.staging import StagingStore

POSTGRES_URL = os.environ.get("CROSSWALK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    reason = postgres_available()
    if reason and os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but {POSTGRES_URL} is unreachable: {reason}")
    return reason


@pytest.fixture
def postgres_url(postgres_reason: str | None) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if postgres_reason:
        pytest.skip(f"PostgreSQL tests SKIPPED: {POSTGRES_URL} unreachable ({postgres_reason})")
    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'staging.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url: str) -> Iterator[StagingStore]:
    staging = StagingStore(database_url)
    staging.migrate()
    yield staging
    staging.dispose()
