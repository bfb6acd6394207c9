"""Sage Intacct over its XML gateway (httpx): one API session per run, ordered `query` paging, key scans.

Changes are read with the `query` function ordered by WHENMODIFIED then RECORDNO, in pages of 2000 (its
maximum), paged by keyset on WHENMODIFIED (extract/paging.py), so every committed page moves the watermark
safely. WHENMODIFIED has second precision: the boundary second is re-read every run and de-duplicated by
content hash in staging. Responses are parsed with defusedxml (no DTDs, no entity expansion).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, unescape

import httpx
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

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

SYSTEM = "intacct"
QUERY_PAGE_MAX = 2000  # `query` pagesize maximum (readByQuery stops at 1000)
# Authentication-level error numbers that mean the session is no longer valid (log in again, once).
_SESSION_ERRORS = ("XL03000006",)


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
        self._session_id: str | None = None
        self._endpoint: str = url
        self.sessions_opened = 0

    def close(self) -> None:
        self._http.close()

    def _envelope(self, authentication: str, function: str, uniqueid: bool = False) -> bytes:
        control = (
            f"<control><senderid>{escape(self._sender_id)}</senderid><password>{escape(self._sender_password)}"
            f"</password><controlid>{uuid.uuid4()}</controlid><uniqueid>{'true' if uniqueid else 'false'}</uniqueid>"
            "<dtdversion>3.0</dtdversion><includewhitespace>false</includewhitespace></control>"
        )
        content = f'<content><function controlid="{uuid.uuid4()}">{function}</function></content>'
        body = f"<request>{control}<operation><authentication>{authentication}</authentication>{content}</operation>"
        return ('<?xml version="1.0" encoding="UTF-8"?>' + body + "</request>").encode()

    def _login(self) -> None:
        login = (
            f"<login><userid>{escape(self._user_id)}</userid><companyid>{escape(self._company_id)}</companyid>"
            f"<password>{escape(self._user_password)}</password></login>"
        )
        try:
            data = self._post(self.url, self._envelope(login, "<getAPISession/>"), "getAPISession")
        except _SessionExpired:
            raise CredentialsError(
                "intacct: the gateway refused the user login (check INTACCT_USER_* settings)"
            ) from None
        api = data.find("api") if data is not None else None
        session_id = api.findtext("sessionid") if api is not None else None
        if not session_id:
            raise MalformedResponseError("getAPISession returned no sessionid")
        self._session_id = session_id
        self._endpoint = (api.findtext("endpoint") or "").strip() or self.url  # type: ignore[union-attr]
        self.sessions_opened += 1

    def call(self, function: str, describe: str) -> Element | None:
        """Run one function with the run's session; returns its <data> element (None when it has none)."""
        for attempt in range(2):
            if self._session_id is None:
                self._login()
            envelope = self._envelope(f"<sessionid>{escape(self._session_id or '')}</sessionid>", function)
            try:
                return self._post(self._endpoint, envelope, describe)
            except _SessionExpired:
                self._session_id = None  # expired or revoked: log in again once, then give up
                if attempt:
                    raise CredentialsError("intacct: the API session was refused twice in a row") from None
        return None

    def _post(self, url: str, body: bytes, describe: str) -> Element | None:
        response_root = call_with_retry(
            lambda: self._send(url, body), describe=f"intacct {describe}", policy=self.retry, meter=self.meter
        )
        return self._result_data(response_root)

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
    def _result_data(root: Element) -> Element | None:
        operation = root.find("operation")
        if operation is None:
            raise MalformedResponseError("response has no <operation>")
        if operation.findtext("authentication/status") != "success":
            errors = _errors(operation.find("errormessage"))
            if any(e["errorno"] in _SESSION_ERRORS for e in errors) or not errors:
                raise _SessionExpired
            raise CredentialsError(f"intacct authentication failed: {IntacctFunctionError('login', errors)}")
        result = operation.find("result")
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
    ) -> None:
        self.meter = CallMeter()
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
