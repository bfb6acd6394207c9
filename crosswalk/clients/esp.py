"""ESP+ over httpx: client-credentials token, `search` paging by keyset on UpdateDate, the deletions feed; and the
two things Crosswalk writes back to ESP+: a company's QuickBooks links and a document's QuickBooks send state.

Search pages are numbered (from = 1-based page, size <= 100), so a keyset page that must skip `n` records already
read asks for page n // size + 1 and drops n % size rows. Lists are read with `view=full` so each record arrives whole.

ESP+ has no batch endpoint: each write is its own call (a link per member type, a send per document). Both are
idempotent state writes (the same PUT or POST again leaves the same state), so a write whose reply was lost or
damaged is simply sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from crosswalk.clients.replies import failed, parse_token_reply, scrub_secrets
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
from crosswalk.extract.streams import StreamSpec
from crosswalk.sync.writer import WriteOp, WriteRequest, WriteResult

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

# What Crosswalk writes to ESP+ companies: their QuickBooks links (B7), one per member type.
COMPANY_LINK_FIELDS = ("QuickBooksCustomerId", "QuickBooksVendorId", "Source", "QuickBooksDisplayName", "MemberTypes")
LINK_SOURCES = ("Matched", "Created")  # "Manual" links are made by people in ESP+
VENDOR_MEMBER_TYPES = ("Supplier", "Decorator")
# What Crosswalk writes to ESP+ documents: their QuickBooks send state (B8), by the QuickBooks type each is sent as.
SEND_STATE_FIELDS = ("ExternalId", "ExternalNumber", "ExternalSyncToken", "Balance", "SyncMessage")
DOCUMENT_TYPES = {"orders": "Invoice", "purchaseorders": "PurchaseOrder", "bills": "Bill"}
QUICKBOOKS_CODE = "QuickBooksOnline"
NOT_WRITTEN = "Crosswalk does not create ESP+ records"
# API refusals by status; a conflict (a stale version, a QuickBooks id another company holds) may clear by the next
# run, the others need the record or the settings changed.
_REFUSAL_CODES = {400: "BAD_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 422: "UNPROCESSABLE_ENTITY"}
_RETRYABLE_STATUSES = frozenset({409})


class _Unauthorized(Exception):
    pass


class _SessionRefused(CredentialsError):
    """A token ESP+ had just issued was refused too: the session's fault, not the credentials' or the record's."""


class _Unwritable(Exception):
    """A write request Crosswalk cannot send: the text names the field and why."""


class EspApiError(ExtractError):
    """ESP+ refused a call with an error it would give again (a 4xx other than 401 and 429): the status, ASI's
    `Error` message and its `Errors[{Field, Message}]`."""

    def __init__(self, describe: str, status: int, message: str, field_errors: Sequence[Mapping[str, Any]]) -> None:
        self.status = status
        self.message = message
        self.field_errors = list(field_errors)
        fields = "; ".join(f"{e.get('Field')}: {e.get('Message')}" for e in self.field_errors if e.get("Field"))
        super().__init__(SYSTEM, describe, f"HTTP {status}: {message}" + (f" [{fields}]" if fields else ""))


def _refusal(describe: str, status: int, body: Any) -> EspApiError:
    if isinstance(body, dict):
        errors = body.get("Errors") if isinstance(body.get("Errors"), list) else []
        return EspApiError(describe, status, str(body.get("Error")), [e for e in errors if isinstance(e, dict)])
    return EspApiError(describe, status, str(body), [])


class EspSource:
    """ESP+ for the extract (a StreamSource) and the load (a RecordWriter of QuickBooks links and send states)."""

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
        self._secrets = {client_secret}
        self.tokens_fetched = 0

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        """The text with the client secret and every access token replaced by ***."""
        return scrub_secrets(text, self._secrets)

    def _fetch_token(self) -> str:
        self.meter.calls += 1
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
        self._secrets.add(str(token["access_token"]))
        return str(token["access_token"])

    def _call(
        self,
        method: str,
        path: str,
        describe: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        resend_damaged: bool = False,
    ) -> Any:
        """One API call under the retry policy: the reply's JSON. A refused token is renewed once; throttling and
        server errors are retried; a damaged reply is a MalformedResponseError, or retried when `resend_damaged`
        (the call is idempotent); any other error status is an EspApiError."""

        def send() -> Any:
            if self._token is None:
                self._token = self._fetch_token()
            response = self._http.request(
                method,
                f"{self.base_url}/{path}",
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
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
                reply = response.json()
            except ValueError as exc:
                raise MalformedResponseError(
                    f"HTTP {response.status_code}: response is not valid JSON ({exc})"
                ) from exc
            if not 200 <= response.status_code < 300:
                raise _refusal(describe, response.status_code, reply)
            return reply

        def attempt() -> Any:
            try:
                try:
                    return send()
                except _Unauthorized:
                    pass  # expired token: one new token, then one more try
                try:
                    return send()
                except _Unauthorized:
                    raise _SessionRefused("esp rejected a freshly issued token") from None
            except MalformedResponseError as exc:
                if resend_damaged:
                    raise TransientError("malformed reply") from exc
                raise

        return call_with_retry(attempt, describe=f"esp {describe}", policy=self.retry, meter=self.meter)

    def _get(self, path: str, params: dict[str, Any], describe: str) -> Any:
        return self._call("GET", path, describe, params=params)

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

    # ---- RecordWriter ------------------------------------------------------------------------------------

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Every request answered in order, each by its own calls (ESP+ has no batch endpoint), each failure alone.
        Refused client credentials raise CredentialsError: no write of the run can succeed."""
        return [self._write_one(request) for request in requests]

    def find(self, object_name: str, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Nothing to look up: Crosswalk never creates ESP+ records, and its writes are idempotent state writes."""
        return {}

    def _write_one(self, request: WriteRequest) -> WriteResult:
        where = f"esp {request.object} {request.key or '(no key)'} ({request.marker})"
        if request.op is not WriteOp.UPDATE or request.object not in ("companies", *DOCUMENT_TYPES):
            what = f"{request.op.value} of {request.object}"
            problem = f"{NOT_WRITTEN}; it only links companies and records document sends ({what} asked)"
            return failed(request, (f"INVALID_REQUEST: {where}: {problem}",))
        try:
            if not (request.key or "").isdigit():
                raise _Unwritable(f"the key {request.key!r} is not an ESP+ record Id")
            calls = company_link_calls(request) if request.object == "companies" else [document_send_call(request)]
        except _Unwritable as exc:
            return failed(request, (self.scrub(f"INVALID_REQUEST: {where}: {exc}"),))
        errors: list[str] = []
        retryable: list[bool] = []
        for call in calls:
            problem = self._write_call(call)
            if problem is not None:
                errors.append(self.scrub(problem[0]))
                retryable.append(problem[1])
        if errors:
            return failed(request, errors, retryable=all(retryable), key=request.key)
        return WriteResult(request=request, ok=True, key=request.key, created=False)

    def _write_call(self, call: WriteCall) -> tuple[str, bool] | None:
        """None when the call landed, else its error and whether a later run may succeed with the same write."""
        try:
            reply = self._call(call.method, call.path, call.describe, body=call.body, resend_damaged=True)
        except EspApiError as exc:
            code = _REFUSAL_CODES.get(exc.status, f"HTTP_{exc.status}")
            return f"{code}: esp {call.describe}: {exc.problem}", exc.status in _RETRYABLE_STATUSES
        except _SessionRefused as exc:
            return f"SESSION_REFUSED: esp {call.describe}: {exc}", True
        except RetriesExhaustedError as exc:
            return f"RETRIES_EXHAUSTED: {exc}", True
        problem = call.check(reply)
        if problem:
            return f"MALFORMED_REPLY: esp {call.describe}: {problem}", True
        return None

    def update_document(self, object_name: str, document_id: int | str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Edit one document as a person would in ESP+: read it, apply `changes` (top-level fields, e.g. LineItems
        or Description), and PUT it back with the Version read. The document as ESP+ now holds it; EspApiError
        (e.g. 409 when it changed meanwhile, 400 naming the field) when refused."""
        if object_name not in DOCUMENT_TYPES:
            raise ValueError(f"esp documents are {', '.join(DOCUMENT_TYPES)}, not {object_name!r}")
        path = f"{object_name}/{int(document_id)}"
        document = self._call("GET", path, f"read {path}")
        if not isinstance(document, dict) or "Version" not in document:
            raise BadResponseError(SYSTEM, object_name, None, f"{path} came back without its Version")
        updated = self._call("PUT", path, f"update {path}", body={**document, **changes})
        if not isinstance(updated, dict):
            raise BadResponseError(SYSTEM, object_name, None, f"the update of {path} did not answer with the document")
        return updated


@dataclass(frozen=True)
class WriteCall:
    """One call a write request makes, and how to tell its reply is the state asked for."""

    method: str
    path: str
    body: dict[str, Any]
    describe: str
    check: Callable[[Any], str | None]  # None when the reply shows the state asked for, else what is wrong


def company_link_calls(request: WriteRequest) -> list[WriteCall]:
    """A company's QuickBooks links: the Customer link and a Vendor link per vendor member type the request names."""
    fields = request.fields
    unknown = sorted(set(fields) - set(COMPANY_LINK_FIELDS))
    if unknown:
        raise _Unwritable(
            f"Crosswalk does not edit ESP+ companies: {', '.join(unknown)} cannot be written "
            f"(only {', '.join(COMPANY_LINK_FIELDS)})"
        )
    customer_id = _quickbooks_id(fields, "QuickBooksCustomerId")
    vendor_id = _quickbooks_id(fields, "QuickBooksVendorId")
    if customer_id is None and vendor_id is None:
        raise _Unwritable("nothing to write: QuickBooksCustomerId or QuickBooksVendorId is required")
    source = fields.get("Source", "Matched")
    if source not in LINK_SOURCES:
        raise _Unwritable(f"Source is {source!r}; Crosswalk writes links {' or '.join(LINK_SOURCES)}")
    member_types = fields.get("MemberTypes", ["Supplier"])
    if (
        not isinstance(member_types, list | tuple)
        or not member_types
        or any(t not in VENDOR_MEMBER_TYPES for t in member_types)
        or len(set(member_types)) != len(member_types)
    ):
        raise _Unwritable(f"MemberTypes is {member_types!r}; it lists Supplier and/or Decorator, each once")
    display_name = fields.get("QuickBooksDisplayName")
    if display_name is not None and not isinstance(display_name, str):
        raise _Unwritable(f"QuickBooksDisplayName is {type(display_name).__name__}, not text")
    links = ([("Customer", "Customer", customer_id)] if customer_id is not None else []) + (
        [(member_type, "Vendor", vendor_id) for member_type in member_types] if vendor_id is not None else []
    )
    company_id = int(request.key or "")
    calls = []
    for member_type, entity, quickbooks_id in links:
        body: dict[str, Any] = {"QuickBooksId": quickbooks_id, "QuickBooksEntity": entity, "Source": source}
        if "QuickBooksDisplayName" in fields:
            body["QuickBooksDisplayName"] = display_name
        path = f"companies/{company_id}/integrations/quickbooks/{member_type}"
        describe = f"companies {company_id} link {member_type} to QuickBooks {entity} {quickbooks_id}"
        calls.append(WriteCall("PUT", path, body, describe, _link_check(company_id, member_type, quickbooks_id)))
    return calls


def document_send_call(request: WriteRequest) -> WriteCall:
    """A document's QuickBooks send state: ExternalId and the details the request gives (the others are kept)."""
    fields = request.fields
    unknown = sorted(set(fields) - set(SEND_STATE_FIELDS))
    if unknown:
        raise _Unwritable(
            f"{', '.join(unknown)} cannot be written to ESP+ {request.object} (only {', '.join(SEND_STATE_FIELDS)})"
        )
    external_id = _quickbooks_id(fields, "ExternalId")
    if external_id is None:
        raise _Unwritable("ExternalId is required: the Id of the QuickBooks transaction the document was sent as")
    document_id = int(request.key or "")
    body: dict[str, Any] = {
        "DocumentType": DOCUMENT_TYPES[request.object],
        "DocumentId": document_id,
        "ExternalId": external_id,
    }
    for name in ("ExternalNumber", "SyncMessage"):
        if name in fields:
            body[name] = _text(fields, name)
    if "ExternalSyncToken" in fields:
        token = fields["ExternalSyncToken"]
        body["ExternalSyncToken"] = _quickbooks_id(fields, "ExternalSyncToken") if token is not None else None
    if "Balance" in fields:
        balance = fields["Balance"]
        if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int | float | Decimal)):
            raise _Unwritable(f"Balance is {balance!r}, not a number")
        body["Balance"] = float(balance) if isinstance(balance, Decimal) else balance
    path = f"{request.object}/{document_id}/sendto/{QUICKBOOKS_CODE}"
    describe = f"{request.object} {document_id} send as QuickBooks {body['DocumentType']} {external_id}"
    return WriteCall("POST", path, body, describe, _send_check(document_id, external_id))


def _quickbooks_id(fields: Mapping[str, Any], name: str) -> str | None:
    """A QuickBooks Id (text or a whole number) as text; None when absent; _Unwritable when null or not an Id."""
    if name not in fields:
        return None
    value = fields[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None:
        raise _Unwritable(f"{name} is null: Crosswalk sets QuickBooks Ids in ESP+, it never clears them")
    raise _Unwritable(f"{name} is {value!r}, not a QuickBooks Id")


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields[name]
    if value is not None and not isinstance(value, str):
        raise _Unwritable(f"{name} is {type(value).__name__}, not text")
    return value


def _link_check(company_id: int, member_type: str, quickbooks_id: str) -> Callable[[Any], str | None]:
    def check(reply: Any) -> str | None:
        if not isinstance(reply, dict) or reply.get("CompanyId") != company_id:
            return "the reply is not this company's link"
        if reply.get("MemberType") != member_type or str(reply.get("QuickBooksId")) != quickbooks_id:
            return f"the reply links {reply.get('MemberType')} to {reply.get('QuickBooksId')!r}"
        return None

    return check


def _send_check(document_id: int, external_id: str) -> Callable[[Any], str | None]:
    def check(reply: Any) -> str | None:
        if not isinstance(reply, dict) or reply.get("DocumentId") != document_id:
            return "the reply is not this document's send state"
        if reply.get("IsSent") is not True or reply.get("ExternalId") != external_id:
            return f"the reply says sent={reply.get('IsSent')!r} as {reply.get('ExternalId')!r}"
        return None

    return check
