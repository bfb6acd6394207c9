"""The QuickBooks Online connection (SPEC B1): `crosswalk quickbooks status`, `connect` and `disconnect`.

- status: the connected company (CompanyInfo, read through the API, which proves the connection works), the realm,
  whether the staging store holds the refresh token, when it was last rotated and when it expires. Exit 0 when
  connected, 1 with the reason when not.
- disconnect: revokes the refresh token at Intuit (the whole grant ends, its access tokens too), forgets it and
  records the disconnect, so runs refuse the realm, before any call, until it is connected again (they never fall
  back to QBO_REFRESH_TOKEN on their own).
- connect: takes a refresh token from Intuit's consent flow in QBO_REFRESH_TOKEN, refreshes it at once (checking
  it and rotating it), stores the rotated token and clears a recorded disconnect.

Connection settings come from the SPEC E environment variables, as for a run; no secret is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from crosswalk.settings import database_url_from_env, redact_url

REALM_VARIABLE = "QBO_REALM_ID"
TOKEN_VARIABLE = "QBO_REFRESH_TOKEN"


@dataclass
class StatusReport:
    connected: bool
    realm_id: str | None
    company_name: str | None = None
    token_stored: bool = False
    refresh_token_rotated_at: str | None = None
    refresh_token_expires_at: str | None = None
    last_refreshed_at: str | None = None
    revoked_at: str | None = None
    problem: str | None = None
    database: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        head = f"QuickBooks Online realm {self.realm_id or '?'}: "
        head += f"connected to {self.company_name!r}" if self.connected else "not connected"
        lines = [head]
        if self.token_stored:
            lines.append(
                f"refresh token: in the staging store, last rotated {self.refresh_token_rotated_at or 'unknown'}, "
                f"expires {self.refresh_token_expires_at or 'unknown'}{_days_left(self.refresh_token_expires_at)}"
            )
        else:
            lines.append("refresh token: none in the staging store")
        if self.revoked_at:
            lines.append(f"disconnected: {self.revoked_at}")
        if self.problem:
            lines.append(f"problem: {self.problem}")
        lines.append(f"staging: {self.database}")
        return lines


class ConnectionCommandError(Exception):
    """A command that cannot run (settings missing, store unusable); the text is safe to print."""


def quickbooks_status(env: Mapping[str, str], url: str) -> StatusReport:
    """The realm's connection as the store records it, proven (or not) by reading CompanyInfo through the API."""
    from crosswalk.clients.quickbooks import connection_state, reconnect_hint

    realm = _realm(env)
    store = _store(url, create=bool(env.get(TOKEN_VARIABLE)))
    if store is None:
        problem = f"no staging store there and {TOKEN_VARIABLE} is not set; {reconnect_hint(realm)}"
        return StatusReport(False, realm, problem=problem, database=redact_url(url))
    try:
        state = connection_state(store, realm)
        if state.revoked_at is not None:
            problem = f"disconnected (crosswalk quickbooks disconnect); {reconnect_hint(realm)}"
            return _report(store, realm, url, problem=problem)
        try:
            source = _source(env, store)
        except ConnectionCommandError as exc:
            return _report(store, realm, url, problem=str(exc))
        try:
            info = source.company_info()
        except Exception as exc:
            return _report(store, realm, url, problem=_problem(source, exc))
        finally:
            source.close()
        return _report(store, realm, url, company=str(info.get("CompanyName") or info.get("LegalName") or ""))
    finally:
        store.dispose()


def quickbooks_connect(env: Mapping[str, str], url: str) -> StatusReport:
    """Connect the realm with QBO_REFRESH_TOKEN (a token from Intuit's consent flow), then read CompanyInfo."""
    from crosswalk.clients.quickbooks import reconnect_hint

    realm = _realm(env)
    token = env.get(TOKEN_VARIABLE)
    if not token:
        raise ConnectionCommandError(f"{TOKEN_VARIABLE} is not set; {reconnect_hint(realm)}")
    store = _store(url, create=True)
    assert store is not None
    try:
        source = _source(env, store)
        try:
            source.connect(token)
            info = source.company_info()
        except Exception as exc:
            return _report(store, realm, url, problem=_problem(source, exc))
        finally:
            source.close()
        return _report(store, realm, url, company=str(info.get("CompanyName") or info.get("LegalName") or ""))
    finally:
        store.dispose()


def quickbooks_disconnect(env: Mapping[str, str], url: str) -> str:
    """Revoke and forget the realm's refresh token and record the disconnect; what was done, in one line."""
    from crosswalk.clients.quickbooks import connection_recorded, connection_state, reconnect_hint

    realm = _realm(env)
    store = _store(url, create=bool(env.get(TOKEN_VARIABLE)))
    if store is None:
        raise ConnectionCommandError(f"realm {realm} is not connected: no staging store there and no {TOKEN_VARIABLE}")
    try:
        if not connection_recorded(store, realm) and not env.get(TOKEN_VARIABLE):
            raise ConnectionCommandError(
                f"realm {realm} is not connected: no refresh token in the staging store and no {TOKEN_VARIABLE}"
            )
        if connection_state(store, realm).revoked_at is not None:
            return f"realm {realm} was already disconnected; {reconnect_hint(realm)}"
        source = _source(env, store)
        try:
            source.disconnect()
        except Exception as exc:
            raise ConnectionCommandError(f"realm {realm}: {_problem(source, exc)}") from None
        finally:
            source.close()
        return (
            f"disconnected realm {realm}: its refresh token is revoked at Intuit and forgotten; runs refuse QuickBooks "
            f"Online until it is connected again ({reconnect_hint(realm)})"
        )
    finally:
        store.dispose()


# ---- pieces ------------------------------------------------------------------------------------------------------


def _realm(env: Mapping[str, str]) -> str:
    realm = env.get(REALM_VARIABLE)
    if not realm:
        raise ConnectionCommandError(f"{REALM_VARIABLE} is not set (the QuickBooks Online company's realm id)")
    return realm


def _store(url: str, create: bool) -> Any:
    """The staging store, upgraded as a run would; None when there is none and `create` is false (a check that
    will not call Intuit leaves nothing behind)."""
    from crosswalk.staging import StagingStore, StoreUnavailable
    from crosswalk.staging.store import unavailable_on_database_error

    store = StagingStore(url)
    try:
        with unavailable_on_database_error(url):
            if not create and not store.exists():
                store.dispose()
                return None
            store.migrate()
    except StoreUnavailable as exc:
        store.dispose()
        raise ConnectionCommandError(str(exc)) from None
    return store


def _source(env: Mapping[str, str], store: Any) -> Any:
    """The client a run would build; ConnectionCommandError names any variable that is not set."""
    from crosswalk.config import ConfigError, MissingSettingsError, extract_settings
    from resources.systems import resource_from_values

    try:
        return resource_from_values("quickbooks", env).build_source(store, extract_settings())
    except (MissingSettingsError, ConfigError) as exc:
        raise ConnectionCommandError(str(exc)) from None


def _report(store: Any, realm: str, url: str, company: str | None = None, problem: str | None = None) -> StatusReport:
    from crosswalk.clients.quickbooks import connection_state

    state = connection_state(store, realm)
    return StatusReport(
        connected=problem is None,
        realm_id=realm,
        company_name=company if problem is None else None,
        token_stored=state.token_stored,
        refresh_token_rotated_at=_iso(state.rotated_at),
        refresh_token_expires_at=_iso(state.expires_at),
        last_refreshed_at=_iso(state.refreshed_at),
        revoked_at=_iso(state.revoked_at),
        problem=problem,
        database=redact_url(url),
    )


def _problem(source: Any, exc: Exception) -> str:
    """Why a call failed, in one line without any secret."""
    from crosswalk.extract.errors import CredentialsError

    text = str(exc) if isinstance(exc, CredentialsError) else f"QuickBooks Online call failed: {exc}"
    return source.scrub(text.splitlines()[0] if text else type(exc).__name__)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _days_left(expires_at: str | None) -> str:
    if not expires_at:
        return ""
    left = datetime.fromisoformat(expires_at) - datetime.now(UTC)
    return f" (in {left.days} days)" if left.total_seconds() >= 0 else " (expired)"


# ---- commands ----------------------------------------------------------------------------------------------------


def _status_command(args: argparse.Namespace) -> int:
    url = database_url_from_env()
    try:
        report = quickbooks_status(os.environ, url)
    except ConnectionCommandError as exc:
        report = StatusReport(False, os.environ.get(REALM_VARIABLE), problem=str(exc), database=redact_url(url))
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    if not report.connected:
        print(f"crosswalk quickbooks status: not connected: {report.problem}", file=sys.stderr)
        return 1
    return 0


def _connect_command(args: argparse.Namespace) -> int:
    url = database_url_from_env()
    try:
        report = quickbooks_connect(os.environ, url)
    except ConnectionCommandError as exc:
        print(f"crosswalk quickbooks connect: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    if not report.connected:
        print(f"crosswalk quickbooks connect: not connected: {report.problem}", file=sys.stderr)
        return 1
    return 0


def _disconnect_command(args: argparse.Namespace) -> int:
    try:
        print(quickbooks_disconnect(os.environ, database_url_from_env()))
    except ConnectionCommandError as exc:
        print(f"crosswalk quickbooks disconnect: {exc}", file=sys.stderr)
        return 1
    return 0


def add_quickbooks_commands(commands: Any) -> None:
    """`crosswalk quickbooks status|connect|disconnect` on the `crosswalk` command's subparsers."""
    group = commands.add_parser("quickbooks", help="the QuickBooks Online connection: status, connect, disconnect")
    actions = group.add_subparsers(dest="quickbooks_command", required=True)
    status = actions.add_parser("status", help="the connected company, realm and refresh token (never the token)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status_command)
    connect = actions.add_parser(
        "connect", help=f"connect (again) with a refresh token from Intuit's consent flow, given in {TOKEN_VARIABLE}"
    )
    connect.set_defaults(func=_connect_command)
    disconnect = actions.add_parser(
        "disconnect", help="revoke the refresh token at Intuit, forget it, and stop runs until connected again"
    )
    disconnect.set_defaults(func=_disconnect_command)
