"""Sage Intacct over its XML gateway (httpx): one API session per run, ordered `query` paging, key scans, and
writes as generic create/update functions.

Changes are read with the `query` function ordered by WHENMODIFIED then RECORDNO, in pages of 2000 (its
maximum), paged by keyset on WHENMODIFIED (extract/paging.py), so every committed page moves the watermark
safely. WHENMODIFIED has second precision: the boundary second is re-read every run and de-duplicated by
content hash in staging. Responses are parsed with defusedxml (no DTDs, no entity expansion).

Writes send up to 100 functions per request, one object per function, outside any transaction so each stands
alone, with the request's marker as the function's controlid and uniqueid=true: a request sent again (a retry
after a lost reply) is not applied twice, and a function the gateway says already ran is looked up instead.
A write scoped to an entity goes through an entity-level session, opened once per entity for the client's life.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, unescape

import httpx
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from crosswalk.clients.replies import LookupFailedError, all_failed, failed, scrub_secrets
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

SYSTEM = "intacct"
QUERY_PAGE_MAX = 2000  # `query` pagesize maximum (readByQuery stops at 1000)
# Authentication-level error numbers that mean the session is no longer valid (log in again, once).
_SESSION_ERRORS = ("XL03000006",)
FUNCTIONS_MAX = 100  # functions per request the gateway takes
CONTROLID_MAX = 256  # characters of a function controlid
READ_BY_QUERY_PAGE = 1000  # readByQuery pagesize maximum
FIND_CHUNK = 100  # values per IN (...) list of a lookup
# The human key of the objects Crosswalk creates: how a create whose reply was lost is found again.
ID_FIELDS = {"PROJECT": "PROJECTID", "TASK": "TASKID", "CUSTOMER": "CUSTOMERID", "EMPLOYEE": "EMPLOYEEID"}
# TASKID is unique within its project only.
PARENT_FIELDS = {"TASK": "PROJECTID"}
# Function errors that say "not now" rather than "not this record".
_RETRYABLE_TEXT = re.compile(r"try again later|temporarily", re.IGNORECASE)
# A function whose controlid already completed with uniqueid=true (the emulator's code; Intacct's is not public).
_REPLAY_ERRORS = ("EMU-DUPCTRLID",)
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# What XML 1.0 cannot carry, even as a character reference: C0 controls but tab, LF, CR; surrogates; U+FFFE/FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class IntacctFunctionError(Exception):
    def __init__(self, function: str, errors: list[dict[str, str]]) -> None:
        self.function = function
        self.errors = errors
        text = "; ".join(
            " ".join(part for part in (e.get("errorno"), e.get("description"), e.get("description2")) if part)
            for e in errors
        )
        super().__init__(f"{function} failed: {text or 'no error detail'}")


class _SessionExpired(Exception):
    pass


class UnwritableRequest(ValueError):
    """A write request that cannot be put into a well-formed gateway request; it fails alone, before any call."""


def xml_text(value: str, what: str) -> str:
    """`value` escaped for XML text or a double-quoted attribute; UnwritableRequest names `what` and the character
    when XML 1.0 cannot carry it (the gateway would refuse the whole request)."""
    bad = _NOT_XML_CHAR.search(value)
    if bad:
        raise UnwritableRequest(f"{what} holds {bad.group()!r} at position {bad.start()}, a character XML cannot carry")
    # A CR as text would read back as a line feed: XML parsers normalise line ends.
    return escape(value, {'"': "&quot;", "\r": "&#13;"})


def wire_value(value: Any, what: str) -> str:
    """A field value in the gateway's text form (dates already mm/dd/yyyy in the request)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation (1E+2)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return xml_text(value, what)
    raise UnwritableRequest(f"{what} is a {type(value).__name__}, not a gateway value")


def fields_xml(fields: Mapping[str, Any], skip_none: bool, where: str) -> str:
    """Elements for the fields: dotted names and mappings become nested groups (DISPLAYCONTACT.PRINTAS); None is
    left out of a create and an empty element (clear the field) in an update."""
    tree: dict[str, Any] = {}
    for name, value in fields.items():
        parts = name.split(".")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UnwritableRequest(f"{where}: field {name} nests under a field that holds a value")
            node = child
        if parts[-1] in node and isinstance(node[parts[-1]], dict) and isinstance(value, Mapping):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value

    def render(node: Mapping[str, Any], path: str) -> str:
        out = []
        for name, value in node.items():
            field_path = f"{path}.{name}" if path else name
            if not _XML_NAME.match(name):
                raise UnwritableRequest(f"{where}: field name {field_path!r} is not an element name")
            if isinstance(value, Mapping):
                out.append(f"<{name}>{render(value, field_path)}</{name}>")
            elif value is None:
                if not skip_none:
                    out.append(f"<{name}/>")
            else:
                out.append(f"<{name}>{wire_value(value, f'{where} field {field_path}')}</{name}>")
        return "".join(out)

    return render(tree, "")


def write_function(request: WriteRequest) -> str:
    """The <create> or <update> function of one request, one object in it; UnwritableRequest says why not."""
    where = f"intacct {request.object} {request.marker}"
    if not _XML_NAME.match(request.object):
        raise UnwritableRequest(f"{where}: object name {request.object!r} is not an element name")
    if not request.marker or len(request.marker) > CONTROLID_MAX:
        raise UnwritableRequest(f"{where}: the marker must be 1 to {CONTROLID_MAX} characters (a function controlid)")
    xml_text(request.marker, f"{where}: the marker")
    if request.op is WriteOp.CREATE:
        body = fields_xml(request.fields, skip_none=True, where=where)
        return f"<create><{request.object}>{body}</{request.object}></create>"
    if request.op is WriteOp.UPDATE:
        if not request.key or not request.key.isdigit():
            raise UnwritableRequest(f"{where}: an update names its record by RECORDNO (key), got {request.key!r}")
        rest = {k: v for k, v in request.fields.items() if k != "RECORDNO"}
        body = f"<RECORDNO>{request.key}</RECORDNO>" + fields_xml(rest, skip_none=False, where=where)
        return f"<update><{request.object}>{body}</{request.object}></update>"
    raise UnwritableRequest(f"{where}: Intacct has no upsert; send a create or an update")


def read_by_query_string(field_name: str, values: Sequence[str]) -> str:
    """`FIELD IN ('a', 'b')` for readByQuery: quotes and backslashes escaped with a backslash."""
    quoted = ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
    return f"{field_name} IN ({quoted})"


def error_texts(errors: list[dict[str, str]]) -> tuple[str, ...]:
    """One "errorno: description2" per error (description when there is no description2)."""
    return tuple(
        f"{e.get('errorno') or 'error'}: {e.get('description2') or e.get('description') or 'no detail'}" for e in errors
    )


def element_to_record(element: Element) -> dict[str, Any]:
    """<project><RECORDNO>1</RECORDNO>...</project> -> {"RECORDNO": "1", ...}; nested elements become dicts."""
    record: dict[str, Any] = {}
    for child in element:
        record[child.tag] = element_to_record(child) if len(child) else (child.text or "")
    return record


_DATA_START = re.compile(r"<data(?:\s[^>]*)?>")
_FIRST_CHILD = re.compile(r"\s*<([A-Za-z_][\w.-]*)[\s/>]")


def record_at(body: bytes, line: int, column: int, key_field: str = "RECORDNO") -> str | None:
    """Which record of a reply's <data> holds a parser error's position (line 1-based, column 0-based in characters,
    as expat reports them): "record 3 of the reply (CUSTOMER RECORDNO 17)", or None outside any record.

    The reply cannot be parsed, so this reads the text around the position: the record element open there (the
    children of <data> share one tag) and the key field inside it, wherever it lies in the record."""
    text = body.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    position = sum(len(earlier) + 1 for earlier in lines[: line - 1]) + column
    data_at = text.rfind("<data", 0, position)
    data = _DATA_START.match(text, data_at) if data_at >= 0 else None
    if data is None:
        return None
    child = _FIRST_CHILD.match(text, data.end())
    if child is None:
        return None
    tag = child.group(1)
    opening = f"<{tag}>"
    start = text.rfind(opening, data.end(), position + 1)
    if start < 0:
        return None
    end = text.find(f"</{tag}>", start)
    record = text[start : end if end >= 0 else len(text)]
    ordinal = text.count(opening, data.end(), start) + 1
    key = re.search(f"<{re.escape(key_field)}>([^<]*)</{re.escape(key_field)}>", record)
    named = f"{tag} {key_field} {unescape(key.group(1))}" if key else f"{tag}, its {key_field} unreadable"
    return f"record {ordinal} of the reply ({named})"


def _errors(parent: Element | None) -> list[dict[str, str]]:
    if parent is None:
        return []
    return [
        {field: (error.findtext(field) or "").strip() for field in ("errorno", "description", "description2")}
        for error in parent.iter("error")
    ]


class IntacctGateway:
    """The XML gateway client: envelopes, the API session, error levels, retries."""

    def __init__(
        self,
        url: str,
        sender_id: str,
        sender_password: str,
        company_id: str,
        user_id: str,
        user_password: str,
        retry: RetryPolicy,
        timeout: float,
        meter: CallMeter,
    ) -> None:
        self.url = url
        self._sender_id = sender_id
        self._sender_password = sender_password
        self._company_id = company_id
        self._user_id = user_id
        self._user_password = user_password
        self.retry = retry
        self.meter = meter
        self._http = httpx.Client(timeout=timeout, headers={"Content-Type": "application/xml"})
        self._sessions: dict[str, tuple[str, str]] = {}  # scope ("" = top level) -> (session id, endpoint)
        self.sessions_opened = 0

    @property
    def secrets(self) -> set[str]:
        """What must never appear in an error: the passwords and every session id."""
        return {self._sender_password, self._user_password, *(sid for sid, _ in self._sessions.values())}

    def close(self) -> None:
        self._http.close()

    def _envelope(
        self,
        authentication: str,
        functions: Sequence[tuple[str, str]],
        uniqueid: bool = False,
        transaction: bool | None = None,
    ) -> bytes:
        """A request of (controlid, function XML) pairs; the controlids are XML-safe already."""
        control = (
            f"<control><senderid>{escape(self._sender_id)}</senderid><password>{escape(self._sender_password)}"
            f"</password><controlid>{uuid.uuid4()}</controlid><uniqueid>{'true' if uniqueid else 'false'}</uniqueid>"
            "<dtdversion>3.0</dtdversion><includewhitespace>false</includewhitespace></control>"
        )
        calls = "".join(
            f'<function controlid="{escape(controlid, {chr(34): "&quot;"})}">{function}</function>'
            for controlid, function in functions
        )
        operation = "<operation>" if transaction is None else f'<operation transaction="{str(transaction).lower()}">'
        body = f"<request>{control}{operation}<authentication>{authentication}</authentication>"
        body += f"<content>{calls}</content></operation>"
        return ('<?xml version="1.0" encoding="UTF-8"?>' + body + "</request>").encode()

    def _login(self) -> None:
        login = (
            f"<login><userid>{escape(self._user_id)}</userid><companyid>{escape(self._company_id)}</companyid>"
            f"<password>{escape(self._user_password)}</password></login>"
        )
        try:
            root = self._exchange(self.url, self._envelope(login, [(str(uuid.uuid4()), "<getAPISession/>")]), "login")
            data = self._first_result_data(root)
        except _SessionExpired:
            raise CredentialsError(
                "intacct: the gateway refused the user login (check INTACCT_USER_* settings)"
            ) from None
        self._sessions[""] = self._session_of(data)

    def _open_entity_session(self, scope: str) -> None:
        """An entity-level session for `scope`, asked for with the top-level session."""
        function = f"<getAPISession><locationid>{xml_text(scope, 'entity id')}</locationid></getAPISession>"
        self._sessions[scope] = self._session_of(self.call(function, f"getAPISession {scope}"))

    def _session_of(self, data: Element | None) -> tuple[str, str]:
        api = data.find("api") if data is not None else None
        session_id = api.findtext("sessionid") if api is not None else None
        if not session_id:
            raise MalformedResponseError("getAPISession returned no sessionid")
        self.sessions_opened += 1
        return session_id, (api.findtext("endpoint") or "").strip() or self.url  # type: ignore[union-attr]

    def _session(self, scope: str) -> tuple[str, str]:
        if scope not in self._sessions:
            if scope:
                self._open_entity_session(scope)
            else:
                self._login()
        return self._sessions[scope]

    def call(self, function: str, describe: str, scope: str | None = None) -> Element | None:
        """Run one function with the session of `scope` (None: top level); returns its <data> element (None when it
        has none)."""
        root = self.call_functions([(str(uuid.uuid4()), function)], describe, scope)
        return self._first_result_data(root)

    def call_functions(
        self,
        functions: Sequence[tuple[str, str]],
        describe: str,
        scope: str | None = None,
        uniqueid: bool = False,
        transaction: bool | None = None,
    ) -> Element:
        """Run (controlid, function) pairs in one request with the session of `scope`; returns the response root,
        whose operation authenticated. A request sent again after a retry carries the same controlids, so with
        `uniqueid` a damaged reply is retried too: what already ran is not run again."""
        key = scope or ""
        for attempt in range(2):
            session_id, endpoint = self._session(key)
            envelope = self._envelope(
                f"<sessionid>{escape(session_id)}</sessionid>", functions, uniqueid=uniqueid, transaction=transaction
            )
            root = self._exchange(endpoint, envelope, describe, resend_damaged=uniqueid)
            try:
                self._authenticated(root)
                return root
            except _SessionExpired:
                self._sessions.pop(key, None)  # expired or revoked: open it again once, then give up
                if attempt:
                    raise CredentialsError("intacct: the API session was refused twice in a row") from None
        raise AssertionError("unreachable")

    def _exchange(self, url: str, body: bytes, describe: str, resend_damaged: bool = False) -> Element:
        def send() -> Element:
            try:
                return self._send(url, body)
            except MalformedResponseError as exc:
                if resend_damaged:
                    raise TransientError("malformed reply") from exc
                raise

        return call_with_retry(send, describe=f"intacct {describe}", policy=self.retry, meter=self.meter)

    def _send(self, url: str, body: bytes) -> Element:
        response = self._http.post(url, content=body)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"HTTP {response.status_code}", retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        content_type = response.headers.get("Content-Type", "")
        if "xml" not in content_type:
            raise MalformedResponseError(
                f"HTTP {response.status_code} with content type {content_type or 'none'!r}, not XML "
                f"(starts {response.text[:80]!r})"
            )
        try:
            root = SafeElementTree.fromstring(response.content)
        except DefusedXmlException as exc:
            raise MalformedResponseError(f"response XML uses forbidden constructs ({type(exc).__name__})") from exc
        except SafeElementTree.ParseError as exc:
            line, column = getattr(exc, "position", (0, 0))
            where = record_at(response.content, line, column)
            located = f"; the damage is in {where}" if where else ""
            raise MalformedResponseError(f"response is not well-formed XML ({exc}){located}") from exc
        if root.tag != "response":
            raise MalformedResponseError(f"response root element is <{root.tag}>, not <response>")
        control_status = root.findtext("control/status")
        if control_status != "success":
            errors = _errors(root.find("errormessage"))
            if any(e["errorno"] == "GW-0010" for e in errors):
                raise TransientError(
                    "GW-0010 rate limit", retry_after=parse_retry_after(response.headers.get("Retry-After"))
                )
            raise CredentialsError(f"intacct gateway refused the request: {IntacctFunctionError('control', errors)}")
        return root

    @staticmethod
    def _authenticated(root: Element) -> Element:
        """The <operation> of a response whose authentication succeeded."""
        operation = root.find("operation")
        if operation is None:
            raise MalformedResponseError("response has no <operation>")
        if operation.findtext("authentication/status") != "success":
            errors = _errors(operation.find("errormessage"))
            if any(e["errorno"] in _SESSION_ERRORS for e in errors) or not errors:
                raise _SessionExpired
            raise CredentialsError(f"intacct authentication failed: {IntacctFunctionError('login', errors)}")
        return operation

    @classmethod
    def _first_result_data(cls, root: Element) -> Element | None:
        result = cls._authenticated(root).find("result")
        if result is None:
            raise MalformedResponseError("response has no <result>")
        if result.findtext("status") != "success":
            raise IntacctFunctionError(result.findtext("function") or "function", _errors(result.find("errormessage")))
        return result.find("data")


class IntacctSource:
    system = SYSTEM

    def __init__(
        self,
        url: str,
        sender_id: str,
        sender_password: str,
        company_id: str,
        user_id: str,
        user_password: str,
        retry: RetryPolicy,
        timeout: float,
        functions_per_request: int = FUNCTIONS_MAX,
    ) -> None:
        if not 1 <= functions_per_request <= FUNCTIONS_MAX:
            raise ValueError(f"functions_per_request must be 1..{FUNCTIONS_MAX}, got {functions_per_request}")
        self.meter = CallMeter()
        self.functions_per_request = functions_per_request
        self.gateway = IntacctGateway(
            url, sender_id, sender_password, company_id, user_id, user_password, retry, timeout, self.meter
        )

    def close(self) -> None:
        self.gateway.close()

    def _query(
        self,
        spec: StreamSpec,
        fields: tuple[str, ...],
        filter_xml: str,
        order: tuple[str, ...],
        page_size: int,
        offset: int,
        page: int,
    ) -> KeysetPage:
        select = "".join(f"<field>{escape(f)}</field>" for f in fields)
        orderby = "".join(f"<order><field>{f}</field><ascending/></order>" for f in order)
        function = (
            f"<query><object>{spec.object}</object><select>{select}</select>{filter_xml}"
            f"<orderby>{orderby}</orderby><options><showprivate>true</showprivate></options>"
            f"<pagesize>{page_size}</pagesize><offset>{offset}</offset></query>"
        )
        try:
            data = self.gateway.call(function, f"query {spec.object} page {page}")
        except MalformedResponseError as exc:
            raise BadResponseError(SYSTEM, spec.object, page, str(exc)) from exc
        except IntacctFunctionError as exc:
            raise ExtractError(SYSTEM, spec.object, f"page {page}: {exc}") from exc
        if data is None:
            raise BadResponseError(SYSTEM, spec.object, page, "query result has no <data>")
        try:
            remaining = int(data.get("numremaining", "0"))
        except ValueError:
            raise BadResponseError(SYSTEM, spec.object, page, "numremaining is not a number") from None
        return KeysetPage([element_to_record(row) for row in data], more=remaining > 0)

    def read_pages(self, spec: StreamSpec, since: str | None) -> Iterator[list[Record]]:
        pages = 0

        def fetch(since: str | None, skip: int) -> KeysetPage:
            nonlocal pages
            pages += 1
            filter_xml = ""
            if since:
                filter_xml = (
                    "<filter><greaterthanorequalto><field>WHENMODIFIED</field>"
                    f"<value>{escape(since)}</value></greaterthanorequalto></filter>"
                )
            order = ("WHENMODIFIED", "RECORDNO")
            return self._query(spec, spec.fields, filter_xml, order, spec.page_size, skip, pages)

        yield from keyset_pages(fetch, spec.stamp_of, since)

    def is_deleted(self, spec: StreamSpec, record: Record) -> bool:
        return False  # Intacct hard-deletes; deletions are found by key scans

    def read_deleted_keys(self, spec: StreamSpec, since: str) -> Iterator[list[str]] | None:
        return None

    def read_all_keys(self, spec: StreamSpec) -> Iterator[list[str]]:
        # Keyset on RECORDNO itself: a key scan must not skip keys when records are deleted meanwhile.
        page_size = spec.key_page_size or spec.page_size
        after = 0
        page = 0
        while True:
            page += 1
            filter_xml = f"<filter><greaterthan><field>RECORDNO</field><value>{after}</value></greaterthan></filter>"
            result = self._query(spec, ("RECORDNO",), filter_xml, ("RECORDNO",), page_size, 0, page)
            keys = [str(row.get("RECORDNO")) for row in result.records if row.get("RECORDNO")]
            if keys:
                yield keys
            if not result.more or not keys:
                return
            after = int(keys[-1])

    # ---- RecordWriter ------------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """The text with the passwords and every session id replaced by ***."""
        return scrub_secrets(text, self.gateway.secrets)

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Every request answered in order: up to `functions_per_request` functions a request per scope, each
        function's result read on its own. A request that fails as a whole fails its functions (retryable: a
        resend is safe, its controlids are not applied twice); refused credentials raise CredentialsError."""
        results: list[WriteResult | None] = [None] * len(requests)
        by_scope: dict[str, list[tuple[int, str]]] = {}
        for index, request in enumerate(requests):
            try:
                function = write_function(request)
            except UnwritableRequest as exc:
                results[index] = failed(request, (f"INVALID_REQUEST: {exc}",))
                continue
            by_scope.setdefault(request.scope or "", []).append((index, function))
        size = self.functions_per_request
        for scope, calls in by_scope.items():
            for start in range(0, len(calls), size):
                chunk = calls[start : start + size]
                answered = self._write_request(scope, [(requests[i], function) for i, function in chunk])
                for (index, _), result in zip(chunk, answered, strict=True):
                    results[index] = result
        return [result for result in results if result is not None]

    def _write_request(self, scope: str, calls: Sequence[tuple[WriteRequest, str]]) -> list[WriteResult]:
        chunk = [request for request, _ in calls]
        where = f" in entity {scope}" if scope else ""
        describe = f"write {len(calls)} functions{where}"
        try:
            root = self.gateway.call_functions(
                [(request.marker, function) for request, function in calls],
                describe,
                scope or None,
                uniqueid=True,
                transaction=False,
            )
        except (RetriesExhaustedError, MalformedResponseError) as exc:
            code = "RETRIES_EXHAUSTED" if isinstance(exc, RetriesExhaustedError) else "MALFORMED_REPLY"
            return all_failed(chunk, self.scrub(f"{code}: intacct {describe}: {exc}"), retryable=True)
        except IntacctFunctionError as exc:  # the entity session could not be opened (no such entity)
            return all_failed(chunk, self.scrub(f"NO_SESSION: intacct {describe}: {exc}"), retryable=False)
        replies = root.findall("operation/result")
        if len(replies) != len(calls):
            error = f"MALFORMED_REPLY: intacct {describe}: the reply has {len(replies)} results for {len(calls)}"
            return all_failed(chunk, error, retryable=True)
        return [self._function_result(request, reply, scope) for request, reply in zip(chunk, replies, strict=True)]

    def _function_result(self, request: WriteRequest, reply: Element, scope: str) -> WriteResult:
        where = f"intacct {request.object} {request.marker}"
        if (reply.findtext("controlid") or "") != request.marker:
            return failed(request, (f"MALFORMED_REPLY: {where}: the result answers another controlid",), True)
        status = reply.findtext("status")
        if status == "success":
            data = reply.find("data")
            row = data[0] if data is not None and len(data) else None
            key = (row.findtext("RECORDNO") or "").strip() if row is not None else ""
            if not key:
                return failed(request, (f"NO_KEY: {where}: the reply claims success without a RECORDNO",))
            return WriteResult(request=request, ok=True, key=key, created=request.op is WriteOp.CREATE)
        errors = _errors(reply.find("errormessage"))
        if any(e["errorno"] in _REPLAY_ERRORS for e in errors):
            return self._already_done(request, scope)
        texts = tuple(self.scrub(t) for t in error_texts(errors)) or (f"UNKNOWN: {where}: {status} without errors",)
        retryable = status == "aborted" or any(_RETRYABLE_TEXT.search(" ".join(e.values())) for e in errors)
        return failed(request, texts, retryable)

    def _already_done(self, request: WriteRequest, scope: str) -> WriteResult:
        """A function whose controlid already completed: an earlier send of this request applied it, so the
        record is there; an update keeps its key, a create is looked up by its id field."""
        where = f"intacct {request.object} {request.marker}"
        if request.op is WriteOp.UPDATE:
            return WriteResult(request=request, ok=True, key=request.key, created=False)
        field_name, value = request.external_id or (ID_FIELDS.get(request.object.upper(), ""), "")
        value = value or str(request.fields.get(field_name) or "")
        if not field_name or not value:
            error = f"ALREADY_APPLIED: {where}: applied by an earlier send, and there is no id field to find it by"
            return failed(request, (error,))
        try:
            records = self._read_by_query(request.object, read_by_query_string(field_name, [value]), scope)
        except (RetriesExhaustedError, MalformedResponseError, IntacctFunctionError) as exc:
            error = f"ALREADY_APPLIED: {where}: applied by an earlier send; finding it by {field_name} failed: {exc}"
            return failed(request, (self.scrub(error),), retryable=True)
        parent = PARENT_FIELDS.get(request.object.upper())
        if parent and request.fields.get(parent) is not None:
            records = [r for r in records if r.get(parent) == str(request.fields[parent])]
        if len(records) != 1 or not records[0].get("RECORDNO"):
            error = (
                f"ALREADY_APPLIED: {where}: applied by an earlier send, but {len(records)} records have "
                f"{field_name} {value!r}"
            )
            return failed(request, (error,))
        return WriteResult(request=request, ok=True, key=str(records[0]["RECORDNO"]), created=True)

    def _read_by_query(self, object_name: str, query: str, scope: str = "") -> list[dict[str, Any]]:
        """Every record readByQuery gives for `query` (all fields), following readMore to the end."""
        if not _XML_NAME.match(object_name):
            raise UnwritableRequest(f"object name {object_name!r} is not an element name")
        function = (
            f"<readByQuery><object>{object_name}</object><fields>*</fields>"
            f"<query>{xml_text(query, 'the query')}</query><pagesize>{READ_BY_QUERY_PAGE}</pagesize></readByQuery>"
        )
        records: list[dict[str, Any]] = []
        data = self.gateway.call(function, f"readByQuery {object_name}", scope or None)
        while data is not None:
            records.extend(element_to_record(row) for row in data)
            result_id = data.get("resultId") or ""
            if data.get("numremaining", "0") in ("", "0") or not result_id:
                break
            more = f"<readMore><resultId>{xml_text(result_id, 'resultId')}</resultId></readMore>"
            data = self.gateway.call(more, f"readMore {object_name}", scope or None)
        return records

    def find(self, object_name: str, field_name: str, values: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records of `object_name` whose `field_name` is one of `values` (compared as Intacct compares text, with
        case), by that value, every field read; entity-private records included (the top level sees them all)."""
        if not _XML_NAME.match(field_name):
            raise LookupFailedError(SYSTEM, object_name, field_name, f"{field_name!r} is not a field name")
        wanted = sorted({str(v) for v in values})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), FIND_CHUNK):
            chunk = wanted[start : start + FIND_CHUNK]
            try:
                records = self._read_by_query(object_name, read_by_query_string(field_name, chunk))
            except (RetriesExhaustedError, MalformedResponseError, IntacctFunctionError, UnwritableRequest) as exc:
                raise LookupFailedError(SYSTEM, object_name, field_name, self.scrub(str(exc))) from None
            for record in records:
                value = record.get(field_name)
                if isinstance(value, str) and value in chunk:
                    found.setdefault(value, record)
        return found
