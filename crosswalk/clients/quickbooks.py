"""QuickBooks Online through python-quickbooks and intuit-oauth (SPEC B1, B2): extract source, load writer and the
connection, with a refresh token that survives crashes and concurrent processes.

The refresh token rotates on every refresh, so each new one is committed to the staging store before the access
token is used; at start the store's copy is tried first, then the environment's. Refreshes of one realm are
serialised across processes (crosswalk/staging/credentials.py): each one reads the stored token, refreshes and
stores the rotated token under a lock, so no process refreshes with a token another has already replaced.
python-quickbooks neither refreshes by itself nor picks up a refreshed token, so the client is rebuilt after every
refresh. A disconnected realm (`crosswalk quickbooks disconnect`) is refused before any call until it is connected
again, never silently re-connected with QBO_REFRESH_TOKEN. Tokens and secrets are scrubbed from every error.

Writes go through QBO's batch endpoint, 30 items a call, each call with a `requestid` derived from its items'
markers: a batch sent again after a lost or damaged reply gets QBO's first reply back instead of being applied
twice. Calls are paced client-side within the realm's limits (per second, per minute, batch calls per minute).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException

from crosswalk.clients.replies import (
    DefaultTimeoutAdapter,
    LookupFailedError,
    MalformedTokenReplyError,
    all_failed,
    failed,
    not_json,
    require_json_reply,
)
from crosswalk.extract.errors import (
    BadResponseError,
    CredentialsError,
    ExtractError,
    MalformedResponseError,
    RetriesExhaustedError,
    TransientError,
)
from crosswalk.extract.paging import KeysetPage, keyset_pages
from crosswalk.extract.retry import CallMeter, RetryPolicy, call_with_retry, parse_retry_after
from crosswalk.extract.source import Record
from crosswalk.extract.streams import DeleteDetection, StampFormat, StreamSpec, parse_stamp
from crosswalk.staging import StagingStore
from crosswalk.staging.credentials import (
    CredentialLockTimeout,
    credential_lock,
    put_credential,
    write_credentials,
)
from crosswalk.sync.writer import WriteOp, WriteRequest, WriteResult

SYSTEM = "quickbooks"
MINOR_VERSION = 75
MAX_RESULTS = 1000
CDC_WINDOW = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
REDIRECT_URI = "https://localhost/crosswalk/quickbooks/callback"  # unused by refresh; AuthClient requires one
REFRESH_TOKEN_LIFETIME = timedelta(days=100)  # from issue, when the token reply does not say
# The realm's limits (Intuit: 500 requests a minute per realm, 10 a second per realm and app, 40 batch calls a
# minute per realm and app); one process keeps under them on its own.
REQUESTS_PER_SECOND = 10
REQUESTS_PER_MINUTE = 500
BATCH_CALLS_PER_MINUTE = 40
BATCH_MAX = 30  # BatchItemRequests per batch call
FIND_CHUNK = 100  # values per IN (...) of a lookup
# Faults that say "not now" rather than "not this record": stale object (re-read, then again), throttling, gateway
# timeout, system failure.
RETRYABLE_FAULT_CODES = frozenset({"5010", "3001", "6002", "10000"})
BACKSLASH = "\\"
_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
T = TypeVar("T")


def refresh_token_credential(realm_id: str) -> str:
    return f"refresh_token:{realm_id}"


def token_meta_credential(realm_id: str) -> str:
    """JSON {rotated_at, expires_at, refreshed_at} of the stored refresh token (ISO, UTC)."""
    return f"refresh_token_meta:{realm_id}"


def revoked_credential(realm_id: str) -> str:
    """JSON {revoked_at}: the realm was disconnected; runs refuse until it is connected again."""
    return f"revoked:{realm_id}"


def reconnect_hint(realm_id: str) -> str:
    return (
        f"to reconnect, get a new refresh token for realm {realm_id} from Intuit's consent flow (for example the "
        "OAuth 2.0 Playground of your Intuit app), set QBO_REFRESH_TOKEN to it and run `crosswalk quickbooks connect`"
    )


class ConnectionRevokedError(CredentialsError):
    """The realm was disconnected; nothing is called until `crosswalk quickbooks connect`."""


@dataclass(frozen=True)
class ConnectionState:
    """What the staging store knows of a realm's connection (never the token itself)."""

    realm_id: str
    token_stored: bool
    rotated_at: datetime | None = None  # when the stored refresh token was issued (or first stored)
    expires_at: datetime | None = None  # when it stops working unless used
    refreshed_at: datetime | None = None  # the last successful refresh
    revoked_at: datetime | None = None  # set once disconnected, cleared by connect


def connection_state(store: StagingStore, realm_id: str) -> ConnectionState:
    meta = _json_object(store.get_credential(SYSTEM, token_meta_credential(realm_id)))
    revoked = _json_object(store.get_credential(SYSTEM, revoked_credential(realm_id)))
    return ConnectionState(
        realm_id=realm_id,
        token_stored=bool(store.get_credential(SYSTEM, refresh_token_credential(realm_id))),
        rotated_at=_instant(meta.get("rotated_at")),
        expires_at=_instant(meta.get("expires_at")),
        refreshed_at=_instant(meta.get("refreshed_at")),
        revoked_at=_instant(revoked.get("revoked_at")) if revoked else None,
    )


def connection_recorded(store: StagingStore, realm_id: str) -> bool:
    """Whether the store holds the realm's refresh token or a record that it was disconnected: either way the
    environment's QBO_REFRESH_TOKEN is not what a run starts from."""
    return bool(
        store.get_credential(SYSTEM, refresh_token_credential(realm_id))
        or store.get_credential(SYSTEM, revoked_credential(realm_id))
    )


@dataclass(frozen=True)
class RealmLimits:
    requests_per_second: int = REQUESTS_PER_SECOND
    requests_per_minute: int = REQUESTS_PER_MINUTE
    batch_calls_per_minute: int = BATCH_CALLS_PER_MINUTE


class RealmPacer:
    """Sliding-window pacing of one realm's calls from this process: `acquire` waits until a call fits every limit.

    The windows run on this process's clock and QBO's on its own, a request's arrival a little after its departure,
    so a slot is freed `margin` seconds after QBO would free it."""

    def __init__(
        self,
        limits: RealmLimits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.1,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._lock = threading.Lock()
        self._second: deque[float] = deque()
        self._minute: deque[float] = deque()
        self._batches: deque[float] = deque()
        self.waited = 0.0  # seconds spent waiting for a slot, in all

    def delay(self, now: float, is_batch: bool) -> float:
        """Seconds from `now` until a call fits every window (0 when it fits now)."""
        windows = [
            (self._second, 1.0, self.limits.requests_per_second),
            (self._minute, 60.0, self.limits.requests_per_minute),
        ]
        if is_batch:
            windows.append((self._batches, 60.0, self.limits.batch_calls_per_minute))
        wait = 0.0
        for window, span, limit in windows:
            span += self._margin
            while window and now - window[0] >= span:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[len(window) - limit] + span - now)
        return wait

    def acquire(self, is_batch: bool) -> None:
        while True:
            with self._lock:
                now = self._clock()
                wait = self.delay(now, is_batch)
                if wait <= 0:
                    self._second.append(now)
                    self._minute.append(now)
                    if is_batch:
                        self._batches.append(now)
                    return
            self.waited += wait
            self._sleep(wait)


_pacers: dict[tuple[str, str, RealmLimits], RealmPacer] = {}
_pacers_lock = threading.Lock()


def realm_pacer(base_url: str, realm_id: str, limits: RealmLimits) -> RealmPacer:
    """The one pacer of a realm in this process, shared by every client of it."""
    with _pacers_lock:
        return _pacers.setdefault((base_url, realm_id, limits), RealmPacer(limits))


class _PacedAdapter(DefaultTimeoutAdapter):
    """The API session's transport: every request waits for its slot in the realm's limits, and gets the default
    timeout (python-quickbooks passes none)."""

    def __init__(self, timeout: float, pacer: RealmPacer) -> None:
        super().__init__(timeout)
        self.pacer = pacer

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.pacer.acquire(is_batch=urlsplit(request.url or "").path.rstrip("/").endswith("/batch"))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


class QboFault(ExtractError):
    """A call QBO answered with a Fault (the whole call, not one batch item); `code` is its first error's code."""

    def __init__(self, describe: str, code: str, text: str) -> None:
        self.code = code
        super().__init__(SYSTEM, describe, f"fault {code}: {text}")


class QuickBooksSource:
    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        discovery_url: str,
        client_id: str,
        client_secret: str,
        realm_id: str,
        initial_refresh_token: str | None,
        store: StagingStore,
        retry: RetryPolicy,
        timeout: float,
        limits: RealmLimits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.meter = CallMeter()
        self.base_url = base_url.rstrip("/")
        self.discovery_url = discovery_url
        self.realm_id = realm_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._initial_refresh_token = initial_refresh_token
        self.store = store
        self.retry = retry
        self.timeout = timeout
        self.pacer = realm_pacer(self.base_url, realm_id, limits or RealmLimits())
        self._sleep = sleep  # between retries
        self._qb: QuickBooks | None = None
        self._secrets: set[str] = {client_secret, initial_refresh_token or ""}
        self._last_status: int | None = None
        self._last_retry_after: float | None = None
        self.refreshes = 0

    def close(self) -> None:
        # Both the API session and the AuthClient (a requests.Session too) keep a connection open.
        if self._qb is not None:
            for session in (getattr(self._qb, "session", None), getattr(self._qb, "auth_client", None)):
                if session is not None:
                    session.close()

    # ---- tokens ------------------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """The text with every token and secret this source knows replaced by ***."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def refresh(self) -> None:
        """A new access token now (the refresh token rotates and is stored first), with the shared retries."""
        self._refresh_with_retry()

    def connect(self, refresh_token: str) -> None:
        """Connect the realm (again) with a refresh token from Intuit's consent flow: it is refreshed at once, which
        checks it and rotates it, the rotated token is stored, and the record of an earlier disconnect is cleared.
        CredentialsError when Intuit refuses the token; the store is then left as it was."""
        self._secrets.add(refresh_token)
        self._refresh(given=refresh_token)

    def disconnect(self) -> bool:
        """Revoke the realm's refresh token at Intuit (which ends the whole grant, its access tokens too), forget it
        and record the disconnect, so runs refuse until `connect`. False when it was already disconnected."""
        state = connection_state(self.store, self.realm_id)
        if state.revoked_at is not None and not state.token_stored:
            return False
        auth_client = self._auth_client()
        try:
            with self._credential_lock():
                stored = self.store.get_credential(SYSTEM, refresh_token_credential(self.realm_id))
                revoked = self.store.get_credential(SYSTEM, revoked_credential(self.realm_id))
                # After a disconnect the environment's token is whatever the user put there to connect with.
                token = stored or (None if revoked else self._initial_refresh_token)
                if token:
                    self._secrets.add(token)
                    call_with_retry(
                        lambda: self._revoke(auth_client, token),
                        describe="quickbooks token revoke",
                        policy=self.retry,
                        meter=self.meter,
                        sleep=self._sleep,
                    )
                # One transaction: the store always holds either the token or the record of the disconnect.
                write_credentials(
                    self.store,
                    SYSTEM,
                    {revoked_credential(self.realm_id): json.dumps({"revoked_at": _iso_now()})},
                    forget=[refresh_token_credential(self.realm_id), token_meta_credential(self.realm_id)],
                )
        except CredentialLockTimeout as exc:
            raise TransientError(str(exc)) from None
        finally:
            auth_client.close()
        self.close()
        self._qb = None
        return True

    def _revoke(self, auth_client: AuthClient, token: str) -> None:
        try:
            self.meter.calls += 1
            auth_client.revoke(token=token)
        except AuthClientError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise TransientError(f"revoke endpoint HTTP {exc.status_code}") from None
            if exc.status_code == 400:  # Intuit no longer knows the token: the grant is already gone
                return
            raise CredentialsError(
                f"quickbooks: the revoke endpoint refused the call: HTTP {exc.status_code} {self.scrub(_text(exc))}"
            ) from None

    def _credential_lock(self) -> Any:
        return credential_lock(self.store, SYSTEM, refresh_token_credential(self.realm_id))

    def _refuse_if_revoked(self) -> None:
        revoked = _json_object(self.store.get_credential(SYSTEM, revoked_credential(self.realm_id)))
        if revoked:
            when = revoked.get("revoked_at") or "an earlier run"
            raise ConnectionRevokedError(
                f"quickbooks: the connection to realm {self.realm_id} was disconnected on {when} "
                f"(crosswalk quickbooks disconnect); {reconnect_hint(self.realm_id)}"
            )

    def _refresh(self, given: str | None = None) -> QuickBooks:
        """Refresh the access token (rotating the refresh token, stored before use) and rebuild the client.

        Under the realm's credential lock: the stored token is read, refreshed and its successor stored before the
        next process may read it. `given` (connect) is the only token tried, and clears a disconnect."""
        if given is None:
            self._refuse_if_revoked()  # before any call, the discovery document's included
        auth_client = self._auth_client()
        try:
            try:
                with self._credential_lock():
                    if given is None:
                        self._refuse_if_revoked()  # a disconnect may have finished while this one waited
                        stored = self.store.get_credential(SYSTEM, refresh_token_credential(self.realm_id))
                        candidates = [t for t in dict.fromkeys([stored, self._initial_refresh_token]) if t]
                    else:
                        candidates = [given]
                    used = self._refresh_with_first_accepted(auth_client, candidates, connecting=given is not None)
                    self._store_rotated(auth_client, used, connecting=given is not None)
            except CredentialLockTimeout as exc:
                raise TransientError(str(exc)) from None
            qb = QuickBooks(
                auth_client=auth_client,
                refresh_token=auth_client.refresh_token,
                company_id=self.realm_id,
                minorversion=MINOR_VERSION,
            )
        except BaseException:
            auth_client.close()
            raise
        self.refreshes += 1
        self.close()  # the replaced client's connections
        qb.api_url_v3 = self.base_url
        adapter = _PacedAdapter(self.timeout, self.pacer)
        qb.session.mount("https://", adapter)
        qb.session.mount("http://", adapter)
        qb.session.hooks["response"].append(self._remember_status)
        qb.session.hooks["response"].append(require_json_reply)
        self._qb = qb
        return qb

    def _refresh_with_first_accepted(self, auth_client: AuthClient, candidates: list[str], connecting: bool) -> str:
        """Refresh with the first candidate the token endpoint accepts; the token used."""
        last_error = "no refresh token configured (QBO_REFRESH_TOKEN)"
        for token in candidates:
            try:
                self.meter.calls += 1
                auth_client.refresh(refresh_token=token)
                if not auth_client.access_token:
                    raise MalformedTokenReplyError(auth_client.token_endpoint, "the reply has no access_token")
            except ValueError as exc:  # a 200 whose body is not JSON: damaged on the way, not a refusal
                raise MalformedTokenReplyError(auth_client.token_endpoint, not_json(exc)) from None
            except AuthClientError as exc:
                if exc.status_code == 429 or exc.status_code >= 500:
                    raise TransientError(f"token endpoint HTTP {exc.status_code}") from None
                last_error = f"token endpoint refused a refresh token: HTTP {exc.status_code} {self.scrub(_text(exc))}"
                continue
            self._secrets.update({token, auth_client.refresh_token or "", auth_client.access_token or ""})
            return token
        if connecting:
            raise CredentialsError(
                f"quickbooks: cannot connect realm {self.realm_id} with QBO_REFRESH_TOKEN ({last_error}); it may be "
                f"expired, revoked or already replaced by a newer one; {reconnect_hint(self.realm_id)}"
            )
        raise CredentialsError(
            f"quickbooks: cannot refresh the connection ({last_error}); {reconnect_hint(self.realm_id)}"
        )

    def _store_rotated(self, auth_client: AuthClient, used: str, connecting: bool = False) -> None:
        """The refresh token the reply carries, durable before any use, with when it was issued and expires. A
        connect stores them and clears the recorded disconnect in one transaction: a crash leaves either the old
        state or the new one, never a stored token that runs refuse."""
        new_token = auth_client.refresh_token or used
        now = datetime.now(UTC)
        previous = _json_object(self.store.get_credential(SYSTEM, token_meta_credential(self.realm_id)))
        rotated_at = _instant(previous.get("rotated_at"))
        if new_token != used or rotated_at is None:
            rotated_at = now
        expires_in = getattr(auth_client, "x_refresh_token_expires_in", None)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
            expires_at = now + timedelta(seconds=float(expires_in))
        else:
            expires_at = rotated_at + REFRESH_TOKEN_LIFETIME
        meta = json.dumps(
            {
                "rotated_at": rotated_at.isoformat(),
                "expires_at": expires_at.isoformat(),
                "refreshed_at": now.isoformat(),
            }
        )
        if connecting:
            values = {refresh_token_credential(self.realm_id): new_token, token_meta_credential(self.realm_id): meta}
            write_credentials(self.store, SYSTEM, values, forget=[revoked_credential(self.realm_id)])
            return
        if auth_client.refresh_token:
            self.store.set_credential(SYSTEM, refresh_token_credential(self.realm_id), new_token)
        put_credential(self.store, SYSTEM, token_meta_credential(self.realm_id), meta)

    def _auth_client(self) -> AuthClient:
        """intuit-oauth's client; it reads the discovery document as it is built."""
        try:
            return _TimedAuthClient(
                self._client_id, self._client_secret, REDIRECT_URI, environment=self.discovery_url, timeout=self.timeout
            )
        except ValueError as exc:  # the discovery document is not JSON
            raise MalformedTokenReplyError(self.discovery_url, not_json(exc), what="discovery document") from None
        except AuthClientError as exc:  # intuit-oauth raises this for any other status than 200
            if exc.status_code == 429 or exc.status_code >= 500:
                raise TransientError(f"discovery document HTTP {exc.status_code}") from None
            raise

    def _remember_status(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._last_status = response.status_code
        self._last_retry_after = parse_retry_after(response.headers.get("Retry-After"))

    def _refresh_with_retry(self) -> QuickBooks:
        """_refresh with the shared retries; _refresh counts its own calls, so only the retries are added here."""
        attempts = CallMeter()
        try:
            return call_with_retry(
                self._refresh, describe="quickbooks token refresh", policy=self.retry, meter=attempts, sleep=self._sleep
            )
        finally:
            self.meter.retries += attempts.retries
            for reason, count in attempts.retry_reasons.items():
                self.meter.retry_reasons[reason] = self.meter.retry_reasons.get(reason, 0) + count

    def _call(self, describe: str, operation: Callable[[QuickBooks], T], resend_damaged: bool = False) -> T:
        """One API operation with the shared retries. `resend_damaged`: a reply damaged on the way is sent for again
        (for writes that carry a requestid, which QBO answers with its first reply)."""

        def attempt() -> T:
            qb = self._qb or self._refresh_with_retry()
            self._last_status = None
            self._last_retry_after = None
            try:
                try:
                    try:
                        return operation(qb)
                    except AuthorizationException as exc:
                        if exc.error_code != 401:
                            raise
                        qb = self._refresh()  # expired or revoked access token: refresh once, rebuild the client
                        return operation(qb)
                except AuthorizationException as exc:
                    raise CredentialsError(f"quickbooks refused the access token ({exc.error_code})") from None
                except QuickbooksException as exc:
                    status = self._last_status
                    message = self.scrub(str(exc.message))
                    if status is not None and (status == 429 or status >= 500):
                        raise TransientError(f"HTTP {status}", retry_after=self._last_retry_after) from None
                    if "ThrottleExceeded" in message or "statusCode=429" in message:
                        raise TransientError("ThrottleExceeded", retry_after=self._last_retry_after) from None
                    if exc.error_code == 10000 and message.startswith("Error reading json response"):
                        raise MalformedResponseError(
                            f"HTTP {status}: response is not JSON ({message[:160]!r})"
                        ) from None
                    detail = self.scrub(str(exc.detail))
                    raise QboFault(describe, str(exc.error_code), f"{message} {detail}".strip()) from None
            except MalformedResponseError as exc:
                if resend_damaged:
                    raise TransientError("damaged reply") from exc
                raise

        return call_with_retry(
            attempt, describe=f"quickbooks {describe}", policy=self.retry, meter=self.meter, sleep=self._sleep
        )

    def company_info(self) -> dict[str, Any]:
        """The connected company's CompanyInfo record."""
        reply = self._call("read CompanyInfo", lambda qb: qb.get_single_object("CompanyInfo", self.realm_id))
        info = reply.get("CompanyInfo") if isinstance(reply, dict) else None
        if not isinstance(info, dict):
            raise MalformedResponseError("the CompanyInfo reply has no CompanyInfo object")
        return info

    # ---- StreamSource ------------------------------------------------------------------------------------

    def _query(self, spec: StreamSpec, where: list[str], order: str, start: int, page: int) -> KeysetPage:
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM {spec.object}{clause} ORDERBY {order} STARTPOSITION {start} MAXRESULTS {MAX_RESULTS}"
        try:
            result = self._call(f"query {spec.object} page {page}", lambda qb: qb.query(sql))
        except MalformedResponseError as exc:
            raise BadResponseError(SYSTEM, spec.object, page, str(exc)) from exc
        response = result.get("QueryResponse") if isinstance(result, dict) else None
        if not isinstance(response, dict):
            raise BadResponseError(SYSTEM, spec.object, page, "response has no QueryResponse")
        records = response.get(spec.object, [])
        if not isinstance(records, list):
            raise BadResponseError(SYSTEM, spec.object, page, f"QueryResponse.{spec.object} is not a list")
        return KeysetPage(records, more=len(records) >= MAX_RESULTS)

    def _base_filter(self, spec: StreamSpec) -> list[str]:
        # Name-list queries hide inactive rows unless Active is named; inactive rows are how deletes show.
        return ["Active IN (true, false)"] if DeleteDetection.INACTIVE in spec.deletes else []

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        pages = 0

        def fetch(since: str | None, skip: int) -> KeysetPage:
            nonlocal pages
            pages += 1
            where = self._base_filter(spec)
            if since:
                where.append(f"MetaData.LastUpdatedTime >= '{since}'")
            return self._query(spec, where, "MetaData.LastUpdatedTime, Id", skip + 1, pages)

        yield from keyset_pages(fetch, spec.stamp_of, since)

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        return spec.is_inactive(record) or record.get("status") == "Deleted"

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        """Deleted transaction ids from CDC, or None (key scan) when `since` is outside CDC's 30-day window or the
        answer was truncated at CDC's 1000-object cap."""
        if datetime.now(UTC) - parse_stamp(StampFormat.ISO8601, since) > CDC_WINDOW - timedelta(hours=1):
            return None
        try:
            result = self._call(f"cdc {spec.object}", lambda qb: qb.change_data_capture(spec.object, since))
        except MalformedResponseError as exc:
            raise BadResponseError(SYSTEM, spec.object, None, f"CDC: {exc}") from exc
        deleted: list[str] = []
        total = 0
        for block in (result.get("CDCResponse") or [{}])[0].get("QueryResponse") or []:
            for record in block.get(spec.object, []) or []:
                total += 1
                if record.get("status") == "Deleted" and record.get("Id"):
                    deleted.append(str(record["Id"]))
        if total >= CDC_MAX_OBJECTS:
            return None
        return iter([deleted])

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        pages = 0

        def fetch(start: int) -> list[str]:
            nonlocal pages
            pages += 1
            keys = []
            for index, record in enumerate(self._query(spec, self._base_filter(spec), "Id", start, pages).records, 1):
                if not record.get("Id"):
                    raise BadResponseError(SYSTEM, spec.object, pages, f"record {index} has no Id")
                keys.append(str(record["Id"]))
            return keys

        yield from id_ordered_key_pages(fetch)

    # ---- RecordWriter ------------------------------------------------------------------------------------

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Every request answered in order, through batch calls of up to 30 items (creates and sparse updates of
        any entities, in the order given). Each call carries a requestid derived from its items' markers, so a resend
        (after a lost or damaged reply, or a repeat of the same requests) gets QBO's first reply, never a second
        write. A request that cannot be sent fails alone, before any call; a call that fails as a whole fails its
        items (retryable when retries ran out); refused credentials raise CredentialsError.

        QBO documents that an item does not see what earlier items of the same batch did: a record and one that
        refers to it go in separate calls (one entity at a time, in reference order)."""
        results: list[WriteResult | None] = [None] * len(requests)
        sendable: list[tuple[int, str]] = []
        for index, request in enumerate(requests):
            try:
                sendable.append((index, batch_item_body(request)))
            except UnwritableRequest as exc:
                results[index] = failed(
                    request, (f"INVALID_REQUEST: quickbooks {request.object} {request.marker}: {exc}",)
                )
        for start in range(0, len(sendable), BATCH_MAX):
            chunk = sendable[start : start + BATCH_MAX]
            answered = self._write_batch([requests[i] for i, _ in chunk], [body for _, body in chunk])
            for (index, _), result in zip(chunk, answered, strict=True):
                results[index] = result
        return [result for result in results if result is not None]

    def _write_batch(self, chunk: Sequence[WriteRequest], items: Sequence[str]) -> list[WriteResult]:
        objects = ", ".join(sorted({r.object for r in chunk}))
        describe = f"batch of {len(chunk)} writes ({objects})"
        # bIds are the items' places: short, as QBO wants them (at most 10 characters) when a requestid is sent.
        wrapped = [
            f'{{"bId": "{n}", "operation": "{r.op.value}", {json.dumps(r.object)}: {item}}}'
            for n, (r, item) in enumerate(zip(chunk, items, strict=True))
        ]
        body = '{"BatchItemRequest": [' + ", ".join(wrapped) + "]}"
        request_id = batch_request_id(chunk)

        def send(qb: QuickBooks) -> Any:
            return qb.post(f"{qb.api_url}/company/{qb.company_id}/batch", body, request_id=request_id)

        try:
            reply = self._call(describe, send, resend_damaged=True)
        except RetriesExhaustedError as exc:
            return all_failed(chunk, self.scrub(f"RETRIES_EXHAUSTED: quickbooks {describe}: {exc}"), retryable=True)
        except MalformedResponseError as exc:
            return all_failed(chunk, self.scrub(f"MALFORMED_REPLY: quickbooks {describe}: {exc}"), retryable=True)
        except QboFault as exc:  # the whole batch refused (too many items, malformed body)
            text = self.scrub(f"{exc.code}: quickbooks {describe}: {exc.problem}")
            return all_failed(chunk, text, retryable=exc.code in RETRYABLE_FAULT_CODES)
        answers = reply.get("BatchItemResponse") if isinstance(reply, dict) else None
        if not isinstance(answers, list):
            error = f"MALFORMED_REPLY: quickbooks {describe}: the reply has no BatchItemResponse list"
            return all_failed(chunk, error, retryable=True)
        by_bid = {str(a.get("bId")): a for a in answers if isinstance(a, dict)}
        return [self._item_result(request, by_bid.get(str(n))) for n, request in enumerate(chunk)]

    def _item_result(self, request: WriteRequest, answer: dict[str, Any] | None) -> WriteResult:
        where = f"quickbooks {request.object} {request.marker}"
        if answer is None:
            return failed(request, (f"MALFORMED_REPLY: {where}: the batch reply does not answer this item",), True)
        fault = answer.get("Fault")
        if fault is not None:
            errors = fault.get("Error") if isinstance(fault, dict) else None
            texts = tuple(self.scrub(fault_text(e)) for e in errors or [] if isinstance(e, dict))
            codes = {str(e.get("code") or "") for e in errors or [] if isinstance(e, dict)}
            system_fault = isinstance(fault, dict) and fault.get("type") == "SystemFault"
            retryable = system_fault or bool(codes & RETRYABLE_FAULT_CODES)
            return failed(request, texts or (f"UNKNOWN: {where}: a Fault without errors",), retryable)
        record = answer.get(request.object)
        key = str(record.get("Id") or "").strip() if isinstance(record, dict) else ""
        if not key:
            return failed(request, (f"NO_KEY: {where}: the reply claims success without the {request.object} Id",))
        return WriteResult(request=request, ok=True, key=key, created=request.op is WriteOp.CREATE)

    def find(self, object_name: str, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records of `object_name` whose `field_name` is one of `values`, by that value (the record as QBO returns
        it). QBO compares text without case, so "acme" finds "ACME". Name-list entities are searched among active
        records, as QBO queries them by default. A value with a backslash is looked up by LIKE with `%` in its
        place (QBO documents only `\\'` as an escape) and the records it gives are matched here as QBO compares."""
        for name, what in ((object_name, "entity"), (field_name, "field")):
            parts = name.split(".")
            if not all(part and part[0].isalpha() and set(part) <= _NAME for part in parts):
                raise LookupFailedError(SYSTEM, object_name, field_name, f"{name!r} is not a QBO {what} name")
        wanted: dict[str, list[str]] = {}
        for value in sorted({str(v) for v in values}):
            wanted.setdefault(value.casefold(), []).append(value)
        plain = [v for vs in wanted.values() for v in vs if BACKSLASH not in v]
        conditions = [
            f"{field_name} in ({', '.join(qbo_string(v) for v in plain[start : start + FIND_CHUNK])})"
            for start in range(0, len(plain), FIND_CHUNK)
        ]
        conditions += [
            f"{field_name} LIKE {qbo_string(v.replace(BACKSLASH, '%'))}"
            for vs in wanted.values()
            for v in vs
            if BACKSLASH in v
        ]
        found: dict[str, dict[str, Any]] = {}
        for condition in conditions:
            for record in self._select_all(object_name, field_name, condition):
                value = field_value(record, field_name)
                if value is None:
                    continue
                for requested in wanted.get(str(value).casefold(), []):
                    found.setdefault(requested, record)
        return found

    def _select_all(self, object_name: str, field_name: str, condition: str) -> Iterator[dict[str, Any]]:
        start = 1
        while True:
            sql = f"select * from {object_name} where {condition} STARTPOSITION {start} MAXRESULTS {MAX_RESULTS}"
            try:
                reply = self._call(f"find {object_name} by {field_name}", lambda qb, q=sql: qb.query(q))
            except (RetriesExhaustedError, MalformedResponseError, ExtractError) as exc:
                raise LookupFailedError(SYSTEM, object_name, field_name, self.scrub(str(exc))) from None
            response = reply.get("QueryResponse") if isinstance(reply, dict) else None
            records = response.get(object_name, []) if isinstance(response, dict) else None
            if not isinstance(records, list):
                raise LookupFailedError(SYSTEM, object_name, field_name, "the query reply has no QueryResponse list")
            yield from (r for r in records if isinstance(r, dict))
            if len(records) < MAX_RESULTS:
                return
            start += len(records)


class _TimedAuthClient(AuthClient):
    """intuit-oauth's AuthClient (a requests session) whose own requests, the discovery document fetched while it is
    built included, time out: intuit-oauth passes no timeout."""

    def __init__(self, *args: Any, timeout: float, **kwargs: Any) -> None:
        self.default_timeout = timeout  # before AuthClient.__init__, which already sends a request
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


def _id_order(key: str) -> tuple[int, int, str]:
    """QBO's order of Ids: numeric ones numerically, then the others (TaxCode's TAX/NON)."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def id_ordered_key_pages(fetch: Callable[[int], list[str]], page_size: int = MAX_RESULTS) -> Iterator[list[str]]:
    """Every Id of an entity, from fetch(start) = the Ids at 1-based STARTPOSITION `start` of `ORDERBY Id`.

    QBO takes only `=` and `IN` on Id, so there is no keyset to page by and offsets it is. An offset slides when rows
    before it are deleted between two pages, which would skip a live Id and have it marked deleted. So pages overlap
    by one row: a page must start at or before the last Id read, and when it starts after it (or finds nothing),
    rows vanished behind the reader and it steps back one page. Rows created meanwhile get larger Ids and come at
    the end, where the scan reads them (a key scan only needs the keys that existed when it started).
    """
    start = 1
    last: tuple[int, int, str] | None = None
    while True:
        keys = fetch(start)
        if last is not None and start > 1 and (not keys or _id_order(keys[0]) > last):
            start = max(1, start - (page_size - 1))
            continue
        fresh = [key for key in keys if last is None or _id_order(key) > last]
        if fresh:
            yield fresh
        if len(keys) < page_size:
            return
        last = _id_order(keys[-1])
        start += len(keys) - 1


def _text(exc: AuthClientError) -> str:
    content = exc.content
    return content.decode("utf-8", "replace")[:200] if isinstance(content, bytes) else str(content)[:200]


class UnwritableRequest(ValueError):
    """A write request that cannot be put into a batch item; it fails alone, before any call."""


def batch_item_body(request: WriteRequest) -> str:
    """The JSON of a request's entity body: a create's fields, or an update's fields made sparse on its Id."""
    if request.op is WriteOp.UPSERT:
        raise UnwritableRequest("QuickBooks Online has no upsert: find() the record, then CREATE or UPDATE it")
    name = request.object
    if not (name[:1].isupper() and set(name) <= _NAME):
        raise UnwritableRequest(f"{name!r} is not a QBO entity name")
    fields = dict(request.fields)
    if request.op is WriteOp.CREATE:
        if fields.get("Id") not in (None, ""):
            raise UnwritableRequest("a create carries no Id, but fields['Id'] is set (an update needs op UPDATE)")
        body = fields
    else:
        if not request.key:
            raise UnwritableRequest("an update needs the record's Id (the request's key)")
        if fields.get("SyncToken") in (None, ""):
            raise UnwritableRequest(
                "an update needs fields['SyncToken'], the record's current SyncToken (QBO refuses a stale one)"
            )
        # QBO reads a null as "not given", so a field the update empties is sent blank, which a sparse update
        # applies: a null would leave the old value and the same update would be planned on every run.
        blanked = {key: "" if value is None else value for key, value in fields.items()}
        body = {**blanked, "Id": request.key, "sparse": True}
    return json.dumps(_wire(body, "fields"), ensure_ascii=False, separators=(",", ":"))


def _wire(value: Any, path: str) -> Any:
    """A value as QBO's JSON takes it; UnwritableRequest names the field that holds anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)  # amounts have at most 7 decimals: a float's repr keeps them
        if not math.isfinite(number):
            raise UnwritableRequest(f"{path} holds {value}, not a number QBO takes")
        return number
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Mapping):
        wired: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnwritableRequest(f"{path} has the key {key!r}, not a field name")
            wired[key] = _wire(item, f"{path}.{key}" if path != "fields" else f"field {key}")
        return wired
    if isinstance(value, list | tuple):
        return [_wire(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise UnwritableRequest(f"{path} holds a {type(value).__name__}, not a JSON value")


def batch_request_id(chunk: Sequence[WriteRequest]) -> str:
    """The requestid of a batch: the same items (by operation, entity and marker) always give the same one. A UUID
    form, 36 characters, the most QBO takes on a batch."""
    text = "\n".join(f"{r.op.value}\t{r.object}\t{r.marker}" for r in chunk)
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16]))


def fault_text(error: Mapping[str, Any]) -> str:
    """One Fault error as "code: Message: Detail" (and the element it names, when it names one)."""
    parts = [str(error.get("code") or "?")]
    parts += [str(error[key]) for key in ("Message", "Detail") if error.get(key)]
    element = f" (element {error['element']})" if error.get("element") else ""
    return ": ".join(parts) + element


def qbo_string(value: str) -> str:
    """A quoted QBO query literal: `'` escaped as `\\'`, as Intuit documents."""
    return "'" + value.replace("'", "\\'") + "'"


def field_value(record: Mapping[str, Any], dotted: str) -> str | None:
    """A record's value of a (dotted) field as text; a reference gives its value (CustomerRef -> "58")."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()
