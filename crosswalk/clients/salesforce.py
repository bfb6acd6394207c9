"""Salesforce through simple-salesforce: OAuth 2 client credentials, SOQL queryAll paged by nextRecordsUrl, and
writes through sObject Collections or Bulk API 2.0.

The token comes from `{instance}/services/oauth2/token` (client credentials, as a My Domain org offers) and is
handed to simple-salesforce as a session id; a 401 INVALID_SESSION_ID gets a new token once. Incremental reads are
`queryAll` (so deleted rows come back with IsDeleted = true) ordered by SystemModstamp, 2000 rows a page.

Writes are grouped by (operation, object, external id field): groups up to `bulk_threshold` records go through
sObject Collections, 200 records a call with allOrNone false, every item's result read on its own; larger groups
through a Bulk API 2.0 ingest job whose per-row results (sf__Id, sf__Created, sf__Error) are matched back to the
requests by the row each one sent.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.util import call_salesforce

from crosswalk.clients.replies import (
    LookupFailedError,
    all_failed,
    failed,
    parse_token_reply,
    require_json_reply,
    scrub_secrets,
    use_default_timeout,
)
from crosswalk.extract.errors import (
    BadResponseError,
    CredentialsError,
    ExtractError,
    MalformedResponseError,
    RetriesExhaustedError,
    TransientError,
)
from crosswalk.extract.retry import CallMeter, RetryPolicy, call_with_retry
from crosswalk.extract.source import Record
from crosswalk.extract.streams import StampFormat, StreamSpec, parse_stamp
from crosswalk.sync.writer import WriteOp, WriteRequest, WriteResult

SYSTEM = "salesforce"
API_VERSION = "59.0"
QUERY_BATCH_SIZE = 2000
COLLECTION_MAX = 200  # records per sObject Collections call
BULK_THRESHOLD = 2000  # records of one group above which Bulk API 2.0 is cheaper than collections
BULK_MAX_BYTES = 90_000_000  # CSV per ingest job (Salesforce takes 100 MB; the margin covers its own encoding)
BULK_NULL = "#N/A"  # an empty Bulk CSV cell leaves a field unchanged; this one sets it to null
FIND_CHUNK = 200  # values per SOQL IN (...) list
FIND_MAX_QUERY_CHARS = 8000  # a SOQL query travels in the URL of a GET
# Per-record error codes that say "not now" rather than "not this record": worth another try on a later run.
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"})
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_BULK_RESULTS = re.compile(r"/jobs/ingest/[^/]+/(successfulResults|failedResults|unprocessedRecords)/?$")
_BULK_OPERATIONS = {WriteOp.CREATE: "insert", WriteOp.UPDATE: "update", WriteOp.UPSERT: "upsert"}
T = TypeVar("T")


def soql_datetime(watermark: str) -> str:
    """A SOQL datetime literal for a SystemModstamp, floored to the second (the boundary is re-read anyway)."""
    instant = parse_stamp(StampFormat.SALESFORCE, watermark).astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def soql_string(value: str) -> str:
    """A quoted SOQL string literal: backslash and quote escaped, as are the control characters SOQL names."""
    return "'" + "".join(_SOQL_ESCAPES.get(c, c) for c in value) + "'"


def soql_in_lists(
    values: Sequence[str], per_list: int = FIND_CHUNK, max_chars: int = FIND_MAX_QUERY_CHARS
) -> list[str]:
    """`values` as quoted IN lists ("'a', 'b'"), each of at most `per_list` values and about `max_chars` characters."""
    lists: list[str] = []
    current: list[str] = []
    size = 0
    for value in values:
        literal = soql_string(value)
        if current and (len(current) >= per_list or size + len(literal) + 2 > max_chars):
            lists.append(", ".join(current))
            current, size = [], 0
        current.append(literal)
        size += len(literal) + 2
    if current:
        lists.append(", ".join(current))
    return lists


def request_problem(request: WriteRequest) -> str | None:
    """Why a request cannot be sent at all (it fails alone, before any call), or None."""
    if not _API_NAME.match(request.object):
        return f"object name {request.object!r} is not a Salesforce API name"
    if request.op is WriteOp.UPDATE and not request.key:
        return "an update needs the record's Id (key)"
    if request.op is WriteOp.UPSERT:
        if request.external_id is None or not request.external_id[1]:
            return "an upsert needs an external id (field, value)"
        field_name, value = request.external_id
        if not _API_NAME.match(field_name):
            return f"external id field {field_name!r} is not a Salesforce API name"
        sent = request.fields.get(field_name)
        if sent is not None and str(sent) != value:
            return f"field {field_name} is {sent!r} but the external id says {value!r}"
    try:
        json.dumps(dict(request.fields), allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"the fields are not JSON wire values ({exc})"
    return None


def collection_record(request: WriteRequest) -> dict[str, Any]:
    """The sObject Collections record for one request."""
    record: dict[str, Any] = {"attributes": {"type": request.object}}
    record.update({k: v for k, v in request.fields.items() if k not in ("attributes", "Id", "id")})
    if request.op is WriteOp.UPDATE:
        record["Id"] = request.key
    elif request.op is WriteOp.UPSERT and request.external_id is not None:
        record[request.external_id[0]] = request.external_id[1]
    return record


def item_result(request: WriteRequest, item: Any) -> WriteResult:
    """One collection item's answer: success only with an id; failures keep every error the item carries."""
    if not isinstance(item, dict):
        return failed(request, (f"MALFORMED_REPLY: salesforce {request.object}: result item is not an object",))
    record_id = item.get("id") if isinstance(item.get("id"), str) and item.get("id") else None
    if item.get("success") is True:
        if record_id is None:
            return failed(request, (f"NO_ID: salesforce {request.object}: the reply claims success without an id",))
        created = item.get("created") if isinstance(item.get("created"), bool) else None
        if request.op is WriteOp.CREATE:
            created = True
        elif request.op is WriteOp.UPDATE:
            created = False
        return WriteResult(request=request, ok=True, key=record_id, created=created)
    errors = (
        [e for e in item.get("errors") or [] if isinstance(e, dict)] if isinstance(item.get("errors"), list) else []
    )
    codes = [str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN") for e in errors]
    texts = tuple(_error_text(code, e.get("message"), e.get("fields")) for code, e in zip(codes, errors, strict=True))
    if not texts:
        texts = (f"UNKNOWN: salesforce {request.object}: the reply reports a failure without errors",)
    return failed(request, texts, retryable=any(code in RETRYABLE_CODES for code in codes), key=record_id)


def _error_text(code: str, message: Any, fields: Any) -> str:
    named = f" (fields: {', '.join(str(f) for f in fields)})" if isinstance(fields, list) and fields else ""
    return f"{code}: {message or ''}{named}"


def bulk_columns(requests: Sequence[WriteRequest]) -> list[str]:
    """The CSV header of a Bulk ingest job for these requests: every field any of them sends, first seen first;
    relationship values ({"Rel__r": {"Ext__c": "x"}}) become Rel__r.Ext__c columns."""
    columns: dict[str, None] = {}
    for request in requests:
        if request.op is WriteOp.UPDATE:
            columns.setdefault("Id", None)
        if request.op is WriteOp.UPSERT and request.external_id is not None:
            columns.setdefault(request.external_id[0], None)
        for name, value in request.fields.items():
            if name in ("attributes", "Id", "id"):
                continue
            if isinstance(value, Mapping):
                for sub in value:
                    if sub != "attributes":
                        columns.setdefault(f"{name}.{sub}", None)
            else:
                columns.setdefault(name, None)
    return list(columns)


def bulk_cell(value: Any) -> str:
    """A value as a Bulk CSV cell; None and "" set null (REST stores "" as null too; an empty cell would leave the
    field unchanged)."""
    if value is None or value == "":
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a number Salesforce stores")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"a {type(value).__name__} is not a Bulk CSV value")


def bulk_row(request: WriteRequest, columns: Sequence[str]) -> list[str]:
    """The CSV cells of one request; a column it does not send stays empty (unchanged)."""
    flat: dict[str, Any] = {}
    for name, value in request.fields.items():
        if name in ("attributes", "Id", "id"):
            continue
        if isinstance(value, Mapping):
            flat.update({f"{name}.{sub}": v for sub, v in value.items() if sub != "attributes"})
        else:
            flat[name] = value
    if request.op is WriteOp.UPDATE:
        flat["Id"] = request.key
    if request.op is WriteOp.UPSERT and request.external_id is not None:
        flat[request.external_id[0]] = request.external_id[1]
    return [bulk_cell(flat[column]) if column in flat else "" for column in columns]


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def bulk_error_text(cell: str) -> tuple[str, str]:
    """(code, "CODE: message (fields: …)") from an sf__Error cell, `CODE:message:fields --`."""
    body = cell.strip().removesuffix("--").strip()
    code, _, rest = body.partition(":")
    message, _, fields = rest.rpartition(":") if ":" in rest else (rest, "", "")
    field_list = [f for f in fields.split(",") if f]
    return code or "UNKNOWN", _error_text(code or "UNKNOWN", message, field_list)


@dataclass(frozen=True)
class BulkOutcome:
    """A Bulk ingest job's per-row results: each keyed by the request's sent cells."""

    successful: list[tuple[tuple[str, ...], str, str]]  # (cells, sf__Id, sf__Created)
    failed: list[tuple[tuple[str, ...], str, str]]  # (cells, sf__Id, sf__Error)


def bulk_results(
    requests: Sequence[WriteRequest], rows: Sequence[Sequence[str]], outcome: BulkOutcome
) -> list[WriteResult]:
    """Each request's result from the job's result rows, matched by the cells it sent (identical rows are
    interchangeable); a row in neither list was not processed, which is worth another try."""
    pending: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for index, row in enumerate(rows):
        pending[tuple(row)].append(index)
    results: list[WriteResult | None] = [None] * len(requests)
    for cells, record_id, created in outcome.successful:
        queue = pending.get(cells)
        if not queue:
            continue
        index = queue.popleft()
        request = requests[index]
        if not record_id:
            results[index] = failed(request, (f"NO_ID: salesforce {request.object}: a successful row has no sf__Id",))
            continue
        was_created = created.strip().lower() == "true"
        results[index] = WriteResult(request=request, ok=True, key=record_id, created=was_created)
    for cells, record_id, error in outcome.failed:
        queue = pending.get(cells)
        if not queue:
            continue
        index = queue.popleft()
        code, text = bulk_error_text(error)
        results[index] = failed(requests[index], (text,), code in RETRYABLE_CODES, key=record_id or None)
    return [
        result
        or failed(
            request, (f"NOT_PROCESSED: salesforce {request.object}: the Bulk job did not process this row",), True
        )
        for request, result in zip(requests, results, strict=True)
    ]


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
        bulk_threshold: int = BULK_THRESHOLD,
        bulk_poll_seconds: float = 2.0,
        bulk_wait_seconds: float = 3600.0,
    ) -> None:
        self.meter = CallMeter()
        self.instance_url = instance_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._secrets: set[str] = {client_secret}
        self.retry = retry
        self.timeout = timeout
        self.bulk_threshold = bulk_threshold
        self.bulk_poll_seconds = bulk_poll_seconds
        self.bulk_wait_seconds = bulk_wait_seconds
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
        self._secrets.add(token["access_token"])
        self._sf = Salesforce(
            instance_url=token.get("instance_url") or self.instance_url,
            session_id=token["access_token"],
            session=self.session,
            version=API_VERSION,
        )
        return self._sf

    def _attempt(self, operation: Callable[[Salesforce], T]) -> T:
        """One try of one API call: a rejected session is renewed once; throttling and server errors are transient."""
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

    def _call(self, describe: str, operation: Callable[[Salesforce], T]) -> T:
        """One API call with retries; a rejected session is renewed once."""
        return call_with_retry(
            lambda: self._attempt(operation), describe=f"salesforce {describe}", policy=self.retry, meter=self.meter
        )

    def scrub(self, text: str) -> str:
        """The text with the client secret and every access token replaced by ***."""
        return scrub_secrets(text, self._secrets)

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

    # ---- RecordWriter ------------------------------------------------------------------------------------

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Every request answered in order. Groups of one (operation, object, external id field) go through sObject
        Collections (200 a call) or, above `bulk_threshold` records, a Bulk API 2.0 job. A call that fails as a
        whole fails its records (retryable when retries ran out); refused credentials raise CredentialsError."""
        results: list[WriteResult | None] = [None] * len(requests)
        groups: dict[tuple[WriteOp, str, str | None], list[int]] = {}
        for index, request in enumerate(requests):
            problem = request_problem(request)
            if problem:
                results[index] = failed(
                    request, (f"INVALID_REQUEST: salesforce {request.object} {request.marker}: {problem}",)
                )
                continue
            ext_field = request.external_id[0] if request.op is WriteOp.UPSERT and request.external_id else None
            groups.setdefault((request.op, request.object, ext_field), []).append(index)
        for (op, object_name, ext_field), indexes in groups.items():
            group = [requests[i] for i in indexes]
            if len(group) > self.bulk_threshold:
                answered = self._write_bulk(op, object_name, ext_field, group)
            else:
                answered = []
                for start in range(0, len(group), COLLECTION_MAX):
                    answered += self._write_collection(
                        op, object_name, ext_field, group[start : start + COLLECTION_MAX]
                    )
            for index, result in zip(indexes, answered, strict=True):
                results[index] = result
        return [result for result in results if result is not None]

    def _write_collection(
        self, op: WriteOp, object_name: str, ext_field: str | None, chunk: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        path = f"composite/sobjects/{object_name}/{ext_field}" if op is WriteOp.UPSERT else "composite/sobjects"
        method = "POST" if op is WriteOp.CREATE else "PATCH"
        body = {"allOrNone": False, "records": [collection_record(r) for r in chunk]}
        describe = f"{op.value} {object_name} ({len(chunk)} records)"
        try:
            reply = self._call(describe, lambda sf: sf.restful(path, method=method, json=body))
        except (RetriesExhaustedError, SalesforceError, MalformedResponseError) as exc:
            return self._call_failed(chunk, describe, exc)
        if not isinstance(reply, list) or len(reply) != len(chunk):
            count = len(reply) if isinstance(reply, list) else "no"
            error = f"MALFORMED_REPLY: salesforce {describe}: the reply has {count} results for {len(chunk)} records"
            return all_failed(chunk, error, retryable=False)
        return [item_result(request, item) for request, item in zip(chunk, reply, strict=True)]

    def _call_failed(self, chunk: Sequence[WriteRequest], describe: str, exc: Exception) -> list[WriteResult]:
        """Every record of a call that failed as a whole: retries run out and damaged replies are worth another
        try (an upsert is idempotent; a create is looked up first); a refusal of the call is not."""
        if isinstance(exc, SalesforceError):
            codes = sorted(_error_codes(exc.content)) or ["HTTP_" + str(exc.status)]
            text = f"{'/'.join(codes)}: salesforce {describe}: HTTP {exc.status} {_error_messages(exc.content)}"
            # A session that expired again right after its renewal is the session's fault, not the records'.
            expired = isinstance(exc, SalesforceExpiredSession)
            return all_failed(chunk, self.scrub(text), retryable=expired or bool(set(codes) & RETRYABLE_CODES))
        code = "RETRIES_EXHAUSTED" if isinstance(exc, RetriesExhaustedError) else "MALFORMED_REPLY"
        return all_failed(chunk, self.scrub(f"{code}: salesforce {describe}: {exc}"), retryable=True)

    # ---- Bulk API 2.0 ingest -----------------------------------------------------------------------------

    def _write_bulk(
        self, op: WriteOp, object_name: str, ext_field: str | None, group: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        """One ingest job per ~90 MB of CSV; a request whose values cannot be written as CSV fails alone."""
        columns = bulk_columns(group)
        header_bytes = len(csv_text([columns]).encode())
        results: list[WriteResult | None] = [None] * len(group)
        batch: list[int] = []
        rows: list[list[str]] = []
        size = header_bytes

        def flush() -> None:
            nonlocal size
            if batch:
                answered = self._bulk_job(op, object_name, ext_field, columns, [group[i] for i in batch], rows)
                for i, result in zip(batch, answered, strict=True):
                    results[i] = result
            batch.clear()
            rows.clear()
            size = header_bytes

        for index, request in enumerate(group):
            try:
                row = bulk_row(request, columns)
            except ValueError as exc:
                results[index] = failed(
                    request, (f"INVALID_REQUEST: salesforce {object_name} {request.marker}: {exc}",)
                )
                continue
            row_bytes = len(csv_text([row]).encode())
            if batch and size + row_bytes > BULK_MAX_BYTES:
                flush()
            batch.append(index)
            rows.append(row)
            size += row_bytes
        flush()
        return [result for result in results if result is not None]

    def _bulk_job(
        self,
        op: WriteOp,
        object_name: str,
        ext_field: str | None,
        columns: list[str],
        chunk: Sequence[WriteRequest],
        rows: Sequence[Sequence[str]],
    ) -> list[WriteResult]:
        describe = f"bulk {_BULK_OPERATIONS[op]} {object_name} ({len(chunk)} records)"
        job: dict[str, Any] = {
            "object": object_name,
            "operation": _BULK_OPERATIONS[op],
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if ext_field:
            job["externalIdFieldName"] = ext_field
        data = csv_text([columns, *rows]).encode()
        try:
            job_id = call_with_retry(
                lambda: self._open_bulk_job(job, data),
                describe=f"salesforce {describe}: open and upload",
                policy=self.retry,
                meter=self.meter,
            )
            self._close_bulk_upload(job_id, describe)
            state = self._wait_for_bulk_job(job_id, describe)
            if state["state"] == "Failed" and not state.get("numberRecordsProcessed"):
                # The job was refused as a whole (a column the object lacks): collections answer row by row.
                return [
                    result
                    for start in range(0, len(chunk), COLLECTION_MAX)
                    for result in self._write_collection(
                        op, object_name, ext_field, chunk[start : start + COLLECTION_MAX]
                    )
                ]
            if state["state"] not in ("JobComplete", "Failed"):  # Aborted, or still running when the wait ran out
                error = f"BULK_JOB_{state['state'].upper()}: salesforce {describe}: {state.get('errorMessage')}"
                return all_failed(chunk, self.scrub(error), retryable=True)
            # A Failed job that processed rows keeps them: its results say which.
            outcome = BulkOutcome(
                successful=self._bulk_result_rows(job_id, "successfulResults", describe),
                failed=self._bulk_result_rows(job_id, "failedResults", describe),
            )
        except (RetriesExhaustedError, SalesforceError, MalformedResponseError) as exc:
            return self._call_failed(chunk, describe, exc)
        return bulk_results(chunk, rows, outcome)

    def _open_bulk_job(self, job: dict[str, Any], data: bytes) -> str:
        """Create a job and upload its CSV, as one attempt: an upload that fails aborts its job, and the retry opens
        a new one (a second upload to the same job could add the rows twice)."""
        created = self._attempt(lambda sf: sf.restful("jobs/ingest", method="POST", json=job))
        if not isinstance(created, dict) or not isinstance(created.get("id"), str) or created.get("state") != "Open":
            raise MalformedResponseError("the new ingest job is not an Open job with an id")
        job_id = created["id"]
        self.meter.calls += 1  # the upload is a second call of this attempt
        try:
            self._attempt(
                lambda sf: call_salesforce(
                    f"{sf.base_url}jobs/ingest/{job_id}/batches",
                    "PUT",
                    sf.session,
                    {**sf.headers, "Content-Type": "text/csv; charset=UTF-8"},
                    data=data,
                )
            )
        except Exception:
            self.meter.calls += 1
            # Best effort: a job left Open is dropped by Salesforce later; the upload's error is what matters.
            with contextlib.suppress(Exception):
                self._attempt(lambda sf: sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "Aborted"}))
            raise
        return job_id

    def _close_bulk_upload(self, job_id: str, describe: str) -> None:
        try:
            self._call(
                f"{describe}: upload complete",
                lambda sf: sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "UploadComplete"}),
            )
        except SalesforceError as exc:
            # A retry after the first PATCH went through finds the job past Open: that is success.
            if "INVALIDJOBSTATE" not in _error_codes(exc.content):
                raise
            if self._bulk_job_state(job_id, describe).get("state") == "Open":
                raise

    def _bulk_job_state(self, job_id: str, describe: str) -> dict[str, Any]:
        state = self._call(f"{describe}: job state", lambda sf: sf.restful(f"jobs/ingest/{job_id}"))
        if not isinstance(state, dict) or not isinstance(state.get("state"), str):
            raise MalformedResponseError(f"ingest job {job_id} has no state")
        return state

    def _wait_for_bulk_job(self, job_id: str, describe: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.bulk_wait_seconds
        delay = self.bulk_poll_seconds
        while True:
            state = self._bulk_job_state(job_id, describe)
            if state["state"] in ("JobComplete", "Failed", "Aborted"):
                return state
            if time.monotonic() + delay > deadline:
                waited = f"still {state['state']} after {self.bulk_wait_seconds} s"
                return {"state": "Unfinished", "errorMessage": waited}
            time.sleep(delay)
            delay = min(delay * 1.5, 30.0)

    def _bulk_result_rows(self, job_id: str, kind: str, describe: str) -> list[tuple[tuple[str, ...], str, str]]:
        """(cells sent, sf__Id, sf__Created or sf__Error) per row of one result file."""
        response = self._call(
            f"{describe}: {kind}",
            lambda sf: call_salesforce(
                f"{sf.base_url}jobs/ingest/{job_id}/{kind}",
                "GET",
                sf.session,
                {**sf.headers, "Accept": "text/csv"},
            ),
        )
        reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""))
        header = next(reader, None)
        if not header or header[:1] != ["sf__Id"] or len(header) < 2:
            raise MalformedResponseError(f"{kind} of ingest job {job_id} does not start with sf__Id")
        return [(tuple(row[2:]), row[0], row[1]) for row in reader if len(row) >= 2]

    def find(self, object_name: str, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Live (not deleted) records whose `field_name` is exactly one of `values` (SOQL compares text without
        case; external ids match with it), by that value: Id and the field."""
        for name in (object_name, field_name):
            if not _API_NAME.match(name):
                raise LookupFailedError(SYSTEM, object_name, field_name, f"{name!r} is not a Salesforce API name")
        wanted = {str(v) for v in values}
        select = "Id" if field_name == "Id" else f"Id, {field_name}"
        found: dict[str, dict[str, Any]] = {}
        for in_list in soql_in_lists(sorted(wanted)):
            soql = f"SELECT {select} FROM {object_name} WHERE {field_name} IN ({in_list}) ORDER BY Id"
            try:
                result = self._call(f"find {object_name} by {field_name}", lambda sf, q=soql: sf.query(q))
                while True:
                    if not isinstance(result, dict) or not isinstance(result.get("records"), list):
                        raise MalformedResponseError("query response has no records list")
                    for record in result["records"]:
                        value = record.get(field_name) if isinstance(record, dict) else None
                        if isinstance(value, str) and value in wanted:
                            found.setdefault(value, record)
                    if result.get("done") is not False:
                        break
                    next_url = result.get("nextRecordsUrl")
                    result = self._call(
                        f"find {object_name} by {field_name}",
                        lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True),
                    )
            except (RetriesExhaustedError, SalesforceError, MalformedResponseError) as exc:
                detail = str(exc)
                if isinstance(exc, SalesforceError):  # its text carries the URL, query included
                    detail = f"HTTP {exc.status} {_error_messages(exc.content)}"
                raise LookupFailedError(SYSTEM, object_name, field_name, self.scrub(detail)) from None
        return found


def _records_of(result: Any, spec: StreamSpec, page: int) -> list[Record]:
    if not isinstance(result, dict) or not isinstance(result.get("records"), list):
        raise BadResponseError(SYSTEM, spec.object, page, "query response has no records list")
    return result["records"]


def _require_json_api_reply(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if "/services/data/" not in response.url:  # the token endpoint is checked where it is called
        return
    if _BULK_RESULTS.search(response.url.split("?", 1)[0]):
        if response.status_code == 200 and "csv" not in response.headers.get("Content-Type", ""):
            label = response.headers.get("Content-Type") or "none"
            raise MalformedResponseError(f"HTTP 200 with content type {label!r}, not CSV")
        return
    require_json_reply(response, *args, **kwargs)


def _error_codes(content: Any) -> set[str]:
    """The errorCode values of a REST error body ([{"message", "errorCode"}, ...])."""
    if not isinstance(content, list):
        return set()
    return {str(item.get("errorCode")) for item in content if isinstance(item, dict)}


def _error_messages(content: Any) -> str:
    """The messages of a REST error body, or its text cut short."""
    if isinstance(content, list):
        return "; ".join(str(item.get("message")) for item in content if isinstance(item, dict))
    return str(content)[:200]


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
