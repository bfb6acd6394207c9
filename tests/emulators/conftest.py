"""Fixtures that serve a real emulator on a loopback socket (uvicorn in a thread) for client-level tests."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.core.backend import EmulatorBackend, build_app
from emulators.core.server import ThreadedServer, serve_in_thread
from emulators.core.tls import SandboxCertificates, create_sandbox_certificates
from emulators.registry import create_backend
from emulators.world import World


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
