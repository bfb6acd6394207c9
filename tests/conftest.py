"""Shared fixtures: a staging store on SQLite and on PostgreSQL (same tests run on both), and real emulators served
on loopback sockets (uvicorn in a thread) for client-level tests."""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crosswalk.staging import StagingStore
from emulators.core.backend import EmulatorBackend, build_app
from emulators.core.server import ThreadedServer, serve_in_thread
from emulators.core.tls import SandboxCertificates, create_sandbox_certificates
from emulators.registry import create_backend
from emulators.world import World

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


@dataclass
class RunningEmulator:
    backend: EmulatorBackend
    server: ThreadedServer
    env: dict[str, str]  # what `crosswalk sandbox` would export for this emulator
    ca_bundle: str | None

    @property
    def origin(self) -> str:
        return self.server.origin

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the admin API, e.g. admin("GET", "stats")."""
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True
        with httpx.Client(verify=verify, timeout=60) as client:
            return client.request(method, f"{self.origin}/__admin/{path}", **kwargs)


@pytest.fixture(scope="session")
def sandbox_certs(tmp_path_factory: pytest.TempPathFactory) -> SandboxCertificates:
    return create_sandbox_certificates(Path(tmp_path_factory.mktemp("sandbox-tls")))


@pytest.fixture
def start_emulator(sandbox_certs: SandboxCertificates) -> Iterator[Any]:
    """start_emulator("salesforce", scale="demo", seed=1, counts={...}) -> RunningEmulator (stopped after the test)."""
    running: list[RunningEmulator] = []

    def start(
        system: str, scale: int | str = "demo", seed: int = 1, counts: dict[str, int] | None = None
    ) -> RunningEmulator:
        backend = create_backend(system)
        backend.generate(World(seed=seed, scale=scale, overrides=counts or {}))
        tls = backend.requires_tls
        server = serve_in_thread(
            build_app(backend),
            cert_file=sandbox_certs.cert_file if tls else None,
            key_file=sandbox_certs.key_file if tls else None,
        )
        bundle = str(sandbox_certs.bundle_file) if tls else None
        emulator = RunningEmulator(backend, server, backend.env_exports(server.origin, bundle), bundle)
        running.append(emulator)
        return emulator

    yield start
    for emulator in running:
        emulator.server.stop()
