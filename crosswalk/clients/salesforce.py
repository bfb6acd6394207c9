"""Salesforce through simple-salesforce: OAuth 2 client credentials, SOQL queryAll paged by nextRecordsUrl.

The token comes from `{instance}/services/oauth2/token` (client credentials, as a My Domain org offers) and is
handed to simple-salesforce as a session id; a 401 INVALID_SESSION_ID gets a new token once. Incremental reads are
`queryAll` (so deleted rows come back with IsDeleted = true) ordered by SystemModstamp, 2000 rows a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from crosswalk.clients.replies import parse_token_reply, require_json_reply, use_default_timeout
from crosswalk.extract.errors import (
    BadResponseError,
    CredentialsError,
    ExtractError,
    MalformedResponseError,
    TransientError,
)
from crosswalk.extract.retry import CallMeter, RetryPolicy, call_with_retry
from crosswalk.extract.source import Record
from crosswalk.extract.streams import StampFormat, StreamSpec, parse_stamp

SYSTEM = "salesforce"
API_VERSION = "59.0"
QUERY_BATCH_SIZE = 2000
T = TypeVar("T")


def soql_datetime(watermark: str) -> str:
    """A SOQL datetime literal for a SystemModstamp, floored to the second (the boundary is re-read anyway)."""
    instant = parse_stamp(StampFormat.SALESFORCE, watermark).astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceSource:
    system = SYSTEM

    def __init__(
        self,
        instance_url: str,
        client_id: str,
        client_secret: str,
        ca_bundle: str | None,
        retry: RetryPolicy,
        timeout: float,
    ) -> None:
        self.meter = CallMeter()
        self.instance_url = instance_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.retry = retry
        self.timeout = timeout
        self.session = requests.Session()
        if ca_bundle:
            self.session.verify = ca_bundle
            # Otherwise requests lets REQUESTS_CA_BUNDLE from the environment override the session's bundle.
            self.session.trust_env = False
        self.session.hooks["response"].append(_require_json_api_reply)
        use_default_timeout(self.session, timeout)  # simple-salesforce passes no timeout of its own
        self._sf: Salesforce | None = None
        self.tokens_fetched = 0

    def close(self) -> None:
        self.session.close()

    # ---- auth --------------------------------------------------------------------------------------------

    def _authenticate(self) -> Salesforce:
        token_url = f"{self.instance_url}/services/oauth2/token"

        def fetch() -> dict[str, Any]:
            response = self.session.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                timeout=self.timeout,
            )
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientError(f"token endpoint HTTP {response.status_code}")
            if response.status_code == 400 and _oauth_error_code(response) == "unknown_error":
                # Salesforce's "retry your request": the token endpoint is throttled or briefly unavailable.
                raise TransientError("token endpoint unknown_error")
            if response.status_code != 200:
                error = _json_or_text(response)
                raise CredentialsError(
                    f"salesforce refused the client credentials: HTTP {response.status_code} {error}"
                )
            return parse_token_reply(token_url, response.headers.get("Content-Type"), response.content)

        token = call_with_retry(fetch, describe="salesforce token", policy=self.retry, meter=self.meter)
        self.tokens_fetched += 1
        self._sf = Salesforce(
            instance_url=token.get("instance_url") or self.instance_url,
            session_id=token["access_token"],
            session=self.session,
            version=API_VERSION,
        )
        return self._sf

    def _call(self, describe: str, operation: Callable[[Salesforce], T]) -> T:
        """One API call with retries; a rejected session is renewed once."""

        def attempt() -> T:
            sf = self._sf or self._authenticate()
            try:
                return operation(sf)
            except SalesforceExpiredSession:
                return operation(self._authenticate())
            except SalesforceError as exc:
                if exc.status == 429 or exc.status >= 500:
                    raise TransientError(f"HTTP {exc.status}") from exc
                if exc.status == 403 and _error_codes(exc.content) & {"REQUEST_LIMIT_EXCEEDED"}:
                    # Salesforce throttles (request limits, concurrent-request limits) with 403, not 429.
                    raise TransientError("REQUEST_LIMIT_EXCEEDED") from exc
                raise
            except ValueError as exc:  # the body was not JSON (HTML error page, truncated reply)
                raise MalformedResponseError(f"response is not valid JSON ({exc})") from exc

        return call_with_retry(attempt, describe=f"salesforce {describe}", policy=self.retry, meter=self.meter)

    # ---- StreamSource ------------------------------------------------------------------------------------

    def _pages(self, spec: StreamSpec, soql: str) -> Iterator[list[Record]]:
        headers = {"Sforce-Query-Options": f"batchSize={QUERY_BATCH_SIZE}"}
        page = 1
        try:
            result = self._call(
                f"queryAll {spec.object}", lambda sf: sf.query(soql, include_deleted=True, headers=headers)
            )
            while True:
                records = _records_of(result, spec, page)
                done = result.get("done")
                if not isinstance(done, bool):
                    # Without it the reply cannot say whether rows remain: taking it as done would end the read early.
                    raise BadResponseError(SYSTEM, spec.object, page, "query response has no boolean done flag")
                yield records
                if done:
                    return
                next_url = result.get("nextRecordsUrl")
                if not next_url:
                    raise BadResponseError(SYSTEM, spec.object, page, "done is false but there is no nextRecordsUrl")
                page += 1
                result = self._call(
                    f"queryAll {spec.object} page {page}",
                    lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True, headers=headers),
                )
        except MalformedResponseError as exc:
            raise BadResponseError(SYSTEM, spec.object, page, str(exc)) from exc
        except SalesforceError as exc:
            raise ExtractError(SYSTEM, spec.object, f"page {page}: HTTP {exc.status}: {exc.content!r}") from exc

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        where = f" WHERE SystemModstamp >= {soql_datetime(since)}" if since else ""
        soql = f"SELECT {', '.join(spec.fields)} FROM {spec.object}{where} ORDER BY SystemModstamp ASC, Id ASC"
        yield from self._pages(spec, soql)

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        return bool(record.get("IsDeleted"))

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        return None  # deleted rows arrive inline from queryAll

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        for records in self._pages(spec, f"SELECT Id FROM {spec.object} ORDER BY Id ASC"):
            yield [str(r["Id"]) for r in records if r.get("Id")]


def _records_of(result: Any, spec: StreamSpec, page: int) -> list[Record]:
    if not isinstance(result, dict) or not isinstance(result.get("records"), list):
        raise BadResponseError(SYSTEM, spec.object, page, "query response has no records list")
    return result["records"]


def _require_json_api_reply(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if "/services/data/" in response.url:  # the REST API; the token endpoint is checked where it is called
        require_json_reply(response, *args, **kwargs)


def _error_codes(content: Any) -> set[str]:
    """The errorCode values of a REST error body ([{"message", "errorCode"}, ...])."""
    if not isinstance(content, list):
        return set()
    return {str(item.get("errorCode")) for item in content if isinstance(item, dict)}


def _oauth_error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _json_or_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str({k: body.get(k) for k in ("error", "error_description") if k in body})
    return str(body)[:200]
