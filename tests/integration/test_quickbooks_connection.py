"""The QuickBooks Online connection (SPEC B1) against the emulator over HTTPS, on SQLite and PostgreSQL stores: what
status reports, a disconnect that Intuit's token endpoint then refuses and that runs respect (no silent fallback to
QBO_REFRESH_TOKEN) until a connect with a token from the consent flow, and two processes refreshing at the same
moment, many times, without losing the connection."""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from crosswalk.clients.quickbooks import (
    SYSTEM,
    ConnectionRevokedError,
    QuickBooksSource,
    connection_state,
    refresh_token_credential,
    revoked_credential,
)
from crosswalk.quickbooks_connection import quickbooks_connect, quickbooks_disconnect, quickbooks_status
from crosswalk.staging import StagingStore
from tests.conftest import RunningEmulator
from tests.integration.extract_support import RETRY, build_source
from tests.integration.test_client_writes import reset_stats, stats

Start = Callable[..., RunningEmulator]
COMPANY = "Crosswalk Sandbox Company"
REFRESH_TOKEN_SECONDS = 8726400  # what the emulator (as Intuit's samples) reports in x_refresh_token_expires_in


@pytest.fixture
def qbo(start_emulator: Start, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    emulator = start_emulator("quickbooks", scale="none")
    assert emulator.ca_bundle
    # intuit-oauth reads the discovery document with requests' default trust store, as the sandbox env file sets it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    return emulator


def emulator_settings(emulator: RunningEmulator, **settings: Any) -> None:
    reply = emulator.admin("POST", "seed", json={"records": {"EmulatorSettings": [settings]}})
    assert reply.status_code == 200, reply.text


def current_refresh_token(emulator: RunningEmulator) -> str:
    """The live refresh token of the sandbox's first grant (the one a client must keep)."""
    return emulator.backend.oauth.grants[1].refresh_token  # type: ignore[attr-defined,no-any-return]


def consent_refresh_token(emulator: RunningEmulator) -> str:
    """A refresh token as a person gets one from Intuit's consent flow (authorize, then exchange the code)."""
    env = emulator.env
    auth = AuthClient(env["QBO_CLIENT_ID"], env["QBO_CLIENT_SECRET"], "https://localhost/consent",
                      env["QBO_DISCOVERY_URL"])  # fmt: skip
    try:
        url = auth.get_authorization_url([Scopes.ACCOUNTING])
        consent = requests.get(url, allow_redirects=False, timeout=30)
        assert consent.status_code == 302, consent.text
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        auth.get_bearer_token(query["code"][0], realm_id=query["realmId"][0])
        assert auth.refresh_token
        return str(auth.refresh_token)
    finally:
        auth.close()


def refused_by_token_endpoint(emulator: RunningEmulator, token: str) -> str:
    """The token endpoint's refusal of `token` (the test fails if it is accepted)."""
    env = emulator.env
    auth = AuthClient(env["QBO_CLIENT_ID"], env["QBO_CLIENT_SECRET"], "https://localhost/consent",
                      env["QBO_DISCOVERY_URL"])  # fmt: skip
    try:
        with pytest.raises(AuthClientError) as refused:
            auth.refresh(refresh_token=token)
        assert refused.value.status_code == 400
        return refused.value.content.decode()
    finally:
        auth.close()


def secrets(emulator: RunningEmulator) -> list[str]:
    oauth = emulator.backend.oauth  # type: ignore[attr-defined]
    tokens = [grant.refresh_token for grant in oauth.grants.values()] + list(oauth.access_tokens)
    return [emulator.env["QBO_CLIENT_SECRET"], emulator.env["QBO_REFRESH_TOKEN"], *tokens]


@pytest.fixture
def sources(qbo: RunningEmulator, store: StagingStore) -> Iterator[Callable[..., Any]]:
    """`sources(**env_overrides)`: a client as a run builds it; closed after the test."""
    opened: list[Any] = []

    def make(**overrides: str) -> Any:
        env = {k: v for k, v in {**qbo.env, **overrides}.items() if v}
        source = build_source(SYSTEM, env, store)
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def test_status_names_the_company_and_when_the_stored_token_was_rotated_and_expires(
    qbo: RunningEmulator, store: StagingStore
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    first = quickbooks_status(qbo.env, store.url)
    assert first.connected and first.problem is None, first.problem
    assert (first.company_name, first.realm_id, first.token_stored) == (COMPANY, qbo.env["QBO_REALM_ID"], True)
    rotated = datetime.fromisoformat(first.refresh_token_rotated_at or "")
    expires = datetime.fromisoformat(first.refresh_token_expires_at or "")
    assert before <= rotated <= datetime.now(UTC)
    assert abs((expires - rotated) - timedelta(seconds=REFRESH_TOKEN_SECONDS)) <= timedelta(seconds=2)
    assert store.get_credential(SYSTEM, refresh_token_credential(qbo.env["QBO_REALM_ID"])) == current_refresh_token(qbo)
    text = json.dumps(first.as_json()) + "\n".join(first.lines())
    assert not [s for s in secrets(qbo) if s in text]

    # Within Intuit's rotation interval a refresh hands back the same token: it was not rotated again.
    emulator_settings(qbo, refresh_token_rotation_seconds=86400)
    second = quickbooks_status(qbo.env, store.url)
    assert second.connected
    assert second.refresh_token_rotated_at == first.refresh_token_rotated_at
    assert (second.last_refreshed_at or "") >= (first.last_refreshed_at or "")
    # Past it, a new token: rotated now.
    emulator_settings(qbo, refresh_token_rotation_seconds=0)
    third = quickbooks_status(qbo.env, store.url)
    assert third.connected and (third.refresh_token_rotated_at or "") >= (first.refresh_token_rotated_at or "")
    assert store.get_credential(SYSTEM, refresh_token_credential(qbo.env["QBO_REALM_ID"])) == current_refresh_token(qbo)


def test_no_token_anywhere_is_not_connected_and_says_how_to_connect(qbo: RunningEmulator, store: StagingStore) -> None:
    report = quickbooks_status({**qbo.env, "QBO_REFRESH_TOKEN": ""}, store.url)
    assert not report.connected and not report.token_stored
    assert "QBO_REFRESH_TOKEN" in (report.problem or "")


def test_disconnect_revokes_the_grant_and_runs_refuse_before_any_call_until_connect(
    qbo: RunningEmulator, store: StagingStore, sources: Callable[..., Any]
) -> None:
    realm = qbo.env["QBO_REALM_ID"]
    running = sources()
    assert running.company_info()["CompanyName"] == COMPANY
    stored = store.get_credential(SYSTEM, refresh_token_credential(realm))
    assert stored == current_refresh_token(qbo)

    said = quickbooks_disconnect(qbo.env, store.url)
    assert said.startswith(f"disconnected realm {realm}: its refresh token is revoked at Intuit and forgotten")
    assert "crosswalk quickbooks connect" in said
    # Intuit's side: the grant is gone, its refresh tokens (the stored one, the first one) and access tokens too.
    assert "invalid_grant" in refused_by_token_endpoint(qbo, stored or "")
    assert "invalid_grant" in refused_by_token_endpoint(qbo, qbo.env["QBO_REFRESH_TOKEN"])
    assert qbo.backend.oauth.grants[1].revoked  # type: ignore[attr-defined]
    # Ours: forgotten, and the disconnect recorded.
    assert store.get_credential(SYSTEM, refresh_token_credential(realm)) is None
    state = connection_state(store, realm)
    assert state.revoked_at is not None and not state.token_stored

    # A run refuses at once, before any call, and says how to reconnect: with the old QBO_REFRESH_TOKEN, with none,
    # and with a good new one (a run never connects on its own: `connect` does).
    fresh = consent_refresh_token(qbo)
    reset_stats(qbo)
    for overrides in ({}, {"QBO_REFRESH_TOKEN": ""}, {"QBO_REFRESH_TOKEN": fresh}):
        with pytest.raises(ConnectionRevokedError, match="run `crosswalk quickbooks connect`"):
            sources(**overrides).company_info()
    with pytest.raises(ConnectionRevokedError):
        running.company_info()  # a client of the run before: its access token is revoked, and it does not refresh
    assert stats(qbo)["per_route"] == {"GET /v3/company/{realm}/{entity}/{id}": 1}  # the old client's one read
    assert stats(qbo)["sessions"] == 0
    report = quickbooks_status(qbo.env, store.url)
    assert not report.connected and report.revoked_at and "disconnected" in (report.problem or "")
    assert quickbooks_disconnect(qbo.env, store.url).startswith(f"realm {realm} was already disconnected")

    # Connected again with the token from Intuit's consent flow: a new grant, stored rotated, runs work.
    connected = quickbooks_connect({**qbo.env, "QBO_REFRESH_TOKEN": fresh}, store.url)
    assert connected.connected and connected.company_name == COMPANY and connected.revoked_at is None
    assert store.get_credential(SYSTEM, revoked_credential(realm)) is None
    assert store.get_credential(SYSTEM, refresh_token_credential(realm)) == qbo.backend.oauth.grants[2].refresh_token  # type: ignore[attr-defined]
    assert sources(QBO_REFRESH_TOKEN="").company_info()["CompanyName"] == COMPANY
    assert quickbooks_status(qbo.env, store.url).connected


def test_connect_with_a_refused_token_leaves_the_disconnect_in_place(qbo: RunningEmulator, store: StagingStore) -> None:
    quickbooks_status(qbo.env, store.url)
    quickbooks_disconnect(qbo.env, store.url)
    report = quickbooks_connect(qbo.env, store.url)  # the first token: its grant was revoked
    assert not report.connected
    assert "cannot connect realm" in (report.problem or "") and "invalid_grant" in (report.problem or "")
    assert connection_state(store, qbo.env["QBO_REALM_ID"]).revoked_at is not None
    assert not [s for s in secrets(qbo) if s in (report.problem or "")]


# ---- two processes refreshing at once ------------------------------------------------------------------------------

ROUNDS = 15


def refresh_rounds(env: dict[str, str], url: str, rounds: int, barrier: Any, errors: Any) -> None:
    """One process: `rounds` times, wait for the other at the barrier, refresh, then read CompanyInfo."""
    store = StagingStore(url)
    source = QuickBooksSource(
        base_url=env["QBO_BASE_URL"],
        discovery_url=env["QBO_DISCOVERY_URL"],
        client_id=env["QBO_CLIENT_ID"],
        client_secret=env["QBO_CLIENT_SECRET"],
        realm_id=env["QBO_REALM_ID"],
        initial_refresh_token=env["QBO_REFRESH_TOKEN"],
        store=store,
        retry=RETRY,
        timeout=30,
    )
    try:
        for _ in range(rounds):
            barrier.wait(timeout=120)
            source.refresh()
            assert source.company_info()["CompanyName"] == COMPANY
    except BaseException:
        barrier.abort()
        errors.put(f"pid {os.getpid()}: {traceback.format_exc(limit=3)}")
        raise SystemExit(1) from None
    finally:
        source.close()
        store.dispose()


def test_two_processes_refreshing_at_the_same_moment_keep_the_connection(
    qbo: RunningEmulator, store: StagingStore
) -> None:
    """Intuit documents two policies for a replaced refresh token: refused at once (its current help article: "if a
    new Refresh Token is returned, the previous one expires") and honoured for 24 h (its older OAuth guide). The
    emulator is set to the first, where two processes that refresh from the same stored token lose the connection:
    the second sends a token the first has just replaced. Each refresh must start from the token the other stored."""
    emulator_settings(qbo, refresh_token_rotation_seconds=0, refresh_token_grace_seconds=0)
    quickbooks_status(qbo.env, store.url)  # connected: both start from the stored token
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    errors = context.Queue()
    workers = [
        context.Process(target=refresh_rounds, args=(dict(qbo.env), store.url, ROUNDS, barrier, errors))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        if worker.is_alive():
            worker.kill()
            worker.join()
    failures = []
    while [worker.exitcode for worker in workers] != [0, 0]:
        try:
            failures.append(errors.get(timeout=5))
        except queue.Empty:
            break
    assert [worker.exitcode for worker in workers] == [0, 0], "\n".join(failures)

    grant = qbo.backend.oauth.grants[1]  # type: ignore[attr-defined]
    assert not grant.revoked and len(qbo.backend.oauth.grants) == 1  # type: ignore[attr-defined]
    assert len(grant.retired) >= 2 * ROUNDS  # every refresh of both processes rotated the token
    realm = qbo.env["QBO_REALM_ID"]
    assert store.get_credential(SYSTEM, refresh_token_credential(realm)) == grant.refresh_token
    assert quickbooks_status({**qbo.env, "QBO_REFRESH_TOKEN": ""}, store.url).connected
