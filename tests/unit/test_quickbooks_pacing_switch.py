"""CROSSWALK_QBO_PACING: the QuickBooks Online client built by its resource paces itself to the realm's limits unless
the variable is `off`; any other value is refused, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.clients.quickbooks import RealmLimits
from crosswalk.config import extract_settings
from crosswalk.staging import StagingStore
from resources.systems import QBO_PACING_VARIABLE, resource_from_values

VALUES = {
    "QBO_BASE_URL": "https://quickbooks.example/v3",
    "QBO_DISCOVERY_URL": "https://quickbooks.example/.well-known/openid_configuration",
    "QBO_CLIENT_ID": "client",
    "QBO_CLIENT_SECRET": "secret",
    "QBO_REALM_ID": "9130000000000001",
    "QBO_REFRESH_TOKEN": "refresh",
}


def client_limits(tmp_path: Path) -> RealmLimits:
    store = StagingStore(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    try:
        source = resource_from_values("quickbooks", VALUES).build_source(store, extract_settings())
        limits: RealmLimits = source.pacer.limits  # type: ignore[attr-defined]
        source.close()
        return limits
    finally:
        store.dispose()


@pytest.mark.parametrize("value", [None, "on", "ON", ""])
def test_the_client_paces_to_the_realm_limits_by_default(
    value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(QBO_PACING_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(QBO_PACING_VARIABLE, value)
    assert client_limits(tmp_path) == RealmLimits(requests_per_second=10, requests_per_minute=500,
                                                  batch_calls_per_minute=40)  # fmt: skip


def test_off_lifts_the_pacing_so_no_call_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(QBO_PACING_VARIABLE, "off")
    limits = client_limits(tmp_path)
    assert min(limits.requests_per_second, limits.requests_per_minute, limits.batch_calls_per_minute) > 10**9
    store = StagingStore(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    try:
        source = resource_from_values("quickbooks", VALUES).build_source(store, extract_settings())
        pacer = source.pacer  # type: ignore[attr-defined]
        for _ in range(100):  # far over 40 batch calls a minute and 10 calls a second
            pacer.acquire(is_batch=True)
        assert pacer.waited == 0.0
        source.close()
    finally:
        store.dispose()


def test_another_value_is_refused_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(QBO_PACING_VARIABLE, "fast")
    with pytest.raises(ValueError, match=r"CROSSWALK_QBO_PACING must be on or off, not 'fast'"):
        client_limits(tmp_path)
