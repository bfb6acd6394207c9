"""QuickBooks Online through python-quickbooks and intuit-oauth (SPEC B1), with a refresh token that survives crashes.

The refresh token rotates on every refresh, so each new one is committed to the staging store before the access
token is used; at start the store's copy is tried first, then the environment's. python-quickbooks neither refreshes
by itself nor picks up a refreshed token, so the client is rebuilt after every refresh. Tokens and secrets are
scrubbed from every error this module raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException

from crosswalk.clients.replies import MalformedTokenReplyError, not_json, require_json_reply, use_default_timeout
from crosswalk.extract.errors import (
    BadResponseError,
    CredentialsError,
    ExtractError,
    MalformedResponseError,
    TransientError,
)
from crosswalk.extract.paging import KeysetPage, keyset_pages
from crosswalk.extract.retry import CallMeter, RetryPolicy, call_with_retry
from crosswalk.extract.source import Record
from crosswalk.extract.streams import DeleteDetection, StampFormat, StreamSpec, parse_stamp
from crosswalk.staging import StagingStore

SYSTEM = "quickbooks"
MINOR_VERSION = 75
MAX_RESULTS = 1000
CDC_WINDOW = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
REDIRECT_URI = "https://localhost/crosswalk/quickbooks/callback"  # unused by refresh; AuthClient requires one
T = TypeVar("T")


def refresh_token_credential(realm_id: str) -> str:
    return f"refresh_token:{realm_id}"


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
        self._qb: QuickBooks | None = None
        self._secrets: set[str] = {client_secret, initial_refresh_token}
        self._last_status: int | None = None
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

    def _refresh(self) -> QuickBooks:
        """Refresh the access token (rotating the refresh token, stored before use) and rebuild the client."""
        credential = refresh_token_credential(self.realm_id)
        stored = self.store.get_credential(SYSTEM, credential)
        candidates = [t for t in dict.fromkeys([stored, self._initial_refresh_token]) if t]
        last_error = "no refresh token configured (QBO_REFRESH_TOKEN)"
        for token in candidates:
            auth_client = self._auth_client()
            try:
                self.meter.calls += 1
                auth_client.refresh(refresh_token=token)
                if not auth_client.access_token:
                    raise MalformedTokenReplyError(auth_client.token_endpoint, "the reply has no access_token")
            except Exception as exc:
                auth_client.close()
                if isinstance(exc, ValueError):  # a 200 whose body is not JSON: damaged on the way, not a refusal
                    raise MalformedTokenReplyError(auth_client.token_endpoint, not_json(exc)) from None
                if not isinstance(exc, AuthClientError):
                    raise
                if exc.status_code == 429 or exc.status_code >= 500:
                    raise TransientError(f"token endpoint HTTP {exc.status_code}") from None
                last_error = f"token endpoint refused a refresh token: HTTP {exc.status_code} {self.scrub(_text(exc))}"
                continue
            new_token = auth_client.refresh_token
            self._secrets.update({token, new_token or "", auth_client.access_token or ""})
            try:
                if new_token:
                    self.store.set_credential(SYSTEM, credential, new_token)  # durable before any use
                qb = QuickBooks(
                    auth_client=auth_client,
                    refresh_token=new_token,
                    company_id=self.realm_id,
                    minorversion=MINOR_VERSION,
                )
            except Exception:
                auth_client.close()
                raise
            self.refreshes += 1
            self.close()  # the replaced client's connections
            qb.api_url_v3 = self.base_url
            use_default_timeout(qb.session, self.timeout)  # python-quickbooks passes no timeout of its own
            qb.session.hooks["response"].append(self._remember_status)
            qb.session.hooks["response"].append(require_json_reply)
            self._qb = qb
            return qb
        raise CredentialsError(f"quickbooks: cannot refresh the connection ({last_error}); reconnect the app")

    def _auth_client(self) -> AuthClient:
        """intuit-oauth's client; it reads the discovery document as it is built."""
        try:
            return _TimedAuthClient(
                self._client_id, self._client_secret, REDIRECT_URI, environment=self.discovery_url, timeout=self.timeout
            )
        except ValueError as exc:  # the discovery document is not JSON
            raise MalformedTokenReplyError(self.discovery_url, not_json(exc), what="discovery document") from None

    def _remember_status(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._last_status = response.status_code

    def _refresh_with_retry(self) -> QuickBooks:
        """_refresh with the shared retries; _refresh counts its own calls, so only the retries are added here."""
        attempts = CallMeter()
        try:
            return call_with_retry(
                self._refresh, describe="quickbooks token refresh", policy=self.retry, meter=attempts
            )
        finally:
            self.meter.retries += attempts.retries
            for reason, count in attempts.retry_reasons.items():
                self.meter.retry_reasons[reason] = self.meter.retry_reasons.get(reason, 0) + count

    def _call(self, describe: str, operation: Callable[[QuickBooks], T]) -> T:
        def attempt() -> T:
            qb = self._qb or self._refresh_with_retry()
            self._last_status = None
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
                    raise TransientError(f"HTTP {status}") from None
                if "ThrottleExceeded" in message or "statusCode=429" in message:
                    raise TransientError("ThrottleExceeded") from None
                if exc.error_code == 10000 and message.startswith("Error reading json response"):
                    raise MalformedResponseError(f"HTTP {status}: response is not JSON ({message[:160]!r})") from None
                detail = self.scrub(str(exc.detail))
                raise ExtractError(SYSTEM, describe, f"fault {exc.error_code}: {message} {detail}") from None

        return call_with_retry(attempt, describe=f"quickbooks {describe}", policy=self.retry, meter=self.meter)

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
