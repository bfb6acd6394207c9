"""ESP+ over httpx: client-credentials token, `search` paging by keyset on UpdateDate, the deletions feed.

Search pages are numbered (from = 1-based page, size <= 100), so a keyset page that must skip `n` records already
read asks for page n // size + 1 and drops n % size rows. Lists are read with `view=full` so each record arrives whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from crosswalk.clients.replies import parse_token_reply
from crosswalk.extract.errors import (
    BadResponseError,
    CredentialsError,
    ExtractError,
    MalformedResponseError,
    TransientError,
)
from crosswalk.extract.paging import KeysetPage, keyset_pages
from crosswalk.extract.retry import CallMeter, RetryPolicy, call_with_retry, parse_retry_after
from crosswalk.extract.source import Record
from crosswalk.extract.streams import StreamSpec

SYSTEM = "esp"
SORT_BY_UPDATE_DATE = json.dumps({"updateDate": "asc"})

# Where each stream lives under ESP_URL, and which deletions-feed entity type reports its hard deletes.
_SEARCH_PATHS = {
    "companies": "companies/search",
    "contacts": "contacts/search",
    "users": "users/search",
    "orders": "orders/search",
    "purchaseorders": "purchaseorders/search",
    "bills": "bills/search",
    "quickbooks_links": "integrations/quickbooks/links",
}
_DELETION_TYPES = {"companies": "Company", "contacts": "Contact", "quickbooks_links": "QuickBooksLink"}
_SETTINGS_PATH = "settings/integrations/quickbooks"


class _Unauthorized(Exception):
    pass


class EspSource:
    system = SYSTEM

    def __init__(self, url: str, client_id: str, client_secret: str, retry: RetryPolicy, timeout: float) -> None:
        self.meter = CallMeter()
        self.base_url = url.rstrip("/")
        origin = urlsplit(self.base_url)
        self.token_url = f"{origin.scheme}://{origin.netloc}/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self.retry = retry
        self._http = httpx.Client(timeout=timeout)
        self._token: str | None = None
        self.tokens_fetched = 0

    def close(self) -> None:
        self._http.close()

    def _fetch_token(self) -> str:
        response = self._http.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id, self._client_secret),
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"token endpoint HTTP {response.status_code}")
        if response.status_code != 200:
            raise CredentialsError(f"esp refused the client credentials: HTTP {response.status_code}")
        token = parse_token_reply(self.token_url, response.headers.get("Content-Type"), response.content)
        self.tokens_fetched += 1
        return str(token["access_token"])

    def _get(self, path: str, params: dict[str, Any], describe: str) -> Any:
        def send() -> Any:
            if self._token is None:
                self._token = self._fetch_token()
            response = self._http.get(
                f"{self.base_url}/{path}", params=params, headers={"Authorization": f"Bearer {self._token}"}
            )
            if response.status_code == 401:
                self._token = None
                raise _Unauthorized
            if response.status_code == 429 or response.status_code >= 500:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise TransientError(f"HTTP {response.status_code}", retry_after=retry_after)
            content_type = response.headers.get("Content-Type", "")
            if "json" not in content_type:
                raise MalformedResponseError(
                    f"HTTP {response.status_code} with content type {content_type or 'none'!r}, not JSON"
                )
            try:
                body = response.json()
            except ValueError as exc:
                raise MalformedResponseError(
                    f"HTTP {response.status_code}: response is not valid JSON ({exc})"
                ) from exc
            if response.status_code != 200:
                error = body.get("Error") if isinstance(body, dict) else body
                raise ExtractError(SYSTEM, describe, f"HTTP {response.status_code}: {error}")
            return body

        def attempt() -> Any:
            try:
                return send()
            except _Unauthorized:
                pass  # expired token: one new token, then one more try
            try:
                return send()
            except _Unauthorized:
                raise CredentialsError("esp rejected a freshly issued token") from None

        return call_with_retry(attempt, describe=f"esp {describe}", policy=self.retry, meter=self.meter)

    def _search(self, spec: StreamSpec, since: str | None, skip: int, page: int) -> KeysetPage:
        size = spec.page_size
        params: dict[str, Any] = {"from": skip // size + 1, "size": size, "sortBy": SORT_BY_UPDATE_DATE}
        if spec.object == "quickbooks_links":
            params["linked"] = "true"
        else:
            params["view"] = "full"
        if since:
            params["modifiedSince"] = since
        try:
            body = self._get(_SEARCH_PATHS[spec.object], params, f"{spec.object} page {page}")
        except MalformedResponseError as exc:
            raise BadResponseError(SYSTEM, spec.object, page, str(exc)) from exc
        results = body.get("Results") if isinstance(body, dict) else None
        total = body.get("ResultsTotal") if isinstance(body, dict) else None
        if not isinstance(results, list) or not isinstance(total, int):
            raise BadResponseError(SYSTEM, spec.object, page, "search response lacks Results or ResultsTotal")
        first_position = (params["from"] - 1) * size
        return KeysetPage(results[skip % size :], more=first_position + len(results) < total)

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        if spec.object == "quickbooks_settings":
            try:
                settings = self._get(_SETTINGS_PATH, {}, "quickbooks settings")
            except MalformedResponseError as exc:
                raise BadResponseError(SYSTEM, spec.object, 1, str(exc)) from exc
            yield [settings]
            return
        pages = 0

        def fetch(since: str | None, skip: int) -> KeysetPage:
            nonlocal pages
            pages += 1
            return self._search(spec, since, skip, pages)

        yield from keyset_pages(fetch, spec.stamp_of, since)

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        return spec.is_inactive(record)

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        entity_type = _DELETION_TYPES.get(spec.object)
        if entity_type is None:
            return iter(())  # ESP+ never hard-deletes these; cancellations are status changes
        return self._deletions(spec, entity_type, since)

    def _deletions(self, spec: StreamSpec, entity_type: str, since: str) -> Iterator[list[str]]:
        page = 0
        while True:
            page += 1
            params = {"since": since, "entityType": entity_type, "from": page, "size": 100}
            try:
                body = self._get("deletions", params, f"{spec.object} deletions page {page}")
            except MalformedResponseError as exc:
                raise BadResponseError(SYSTEM, spec.object, page, f"deletions feed: {exc}") from exc
            results = body.get("Results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise BadResponseError(SYSTEM, spec.object, page, "deletions feed lacks Results")
            keys = []
            for row in results:
                if row.get("EntityType") != entity_type or row.get("Id") is None:
                    continue
                member_type = row.get("MemberType")
                keys.append(f"{row['Id']}:{member_type}" if entity_type == "QuickBooksLink" else str(row["Id"]))
            if keys:
                yield keys
            if len(results) < 100 or page * 100 >= int(body.get("ResultsTotal", 0)):
                return

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        for records in self.read_pages(spec, None):
            yield [key for key in (spec.key_of(r) for r in records) if key]
