"""Fixtures of the extract integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from crosswalk.staging import StagingStore
from tests.conftest import RunningEmulator
from tests.integration.extract_support import Harness, HarnessFactory


@pytest.fixture
def extract_harness(
    start_emulator: Callable[..., RunningEmulator], store: StagingStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HarnessFactory]:
    """extract_harness("intacct", counts={...}) -> Harness on the test's staging store; closed after the test."""
    opened: list[Harness] = []

    def start(system: str, scale: int | str = "demo", counts: dict[str, int] | None = None) -> Harness:
        emulator = start_emulator(system, scale=scale, counts=counts)
        if emulator.ca_bundle and system == "quickbooks":
            # intuit-oauth fetches the discovery document with requests' default trust store (as the sandbox's
            # env file exports it): the sandbox CA comes from REQUESTS_CA_BUNDLE.
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
        harness = Harness(system, emulator, store)
        opened.append(harness)
        return harness

    yield start
    for harness in opened:
        harness.close()
