"""The XML gateway wire format: parse and validate a <request>, run each <function> against the company model,
and print the <response> exactly as Intacct lays it out (control, operation/authentication/result, in order).

Validation that the real gateway does against api.xsd happens before anything runs, so a schema error is a
control-level failure that executes nothing (DOC-ERR).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from emulators.intacct.errors import (
    ROLLBACK_ERRORNO,
    ROLLBACK_TEXT,
    ErrorDetail,
    IntacctError,
    control_error,
    function_error,
    query_failed,
    schema_error,
)
from emulators.intacct.model import IntacctCompany, Session
from emulators.intacct.querylang import (
    MAX_IN_VALUES,
    Condition,
    QuerySyntaxError,
    count_in_values,
    filter_from_xml,
    parse_where,
)
from emulators.intacct.schema import SCHEMAS, ObjectSchema
from emulators.intacct.values import format_session_stamp, wire_text

GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
CONTENT_TYPE = 'text/xml; encoding="UTF-8";charset=UTF-8'
CONTROL_ORDER = ("appid", "senderid", "password", "controlid", "uniqueid", "dtdversion", "policyid", "debug",
                 "includewhitespace", "showadditionalerrorinfo")
LOGIN_ORDER = ("userid", "companyid", "password", "clientid", "locationid")
READ_FUNCTIONS = frozenset({"readByQuery", "readMore", "query", "read", "readByName", "lookup"})
WRITE_FUNCTIONS = frozenset({"create", "update", "delete"})
KNOWN_FUNCTIONS = READ_FUNCTIONS | WRITE_FUNCTIONS | {"getAPISession"}
READBYQUERY_MAX_PAGESIZE = 1000
QUERY_MAX_PAGESIZE = 2000
DEFAULT_PAGESIZE = 100
READ_MAX_KEYS = 100
MAX_FUNCTIONS_PER_REQUEST = 100  # no documented maximum; ours (note §2.7)


# ---- printing --------------------------------------------------------------------------------------------------


# What XML 1.0's Char production excludes (C0 controls but tab, newline, carriage return; surrogates; U+FFFE/FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_escape(text: str) -> str:
    """Text as element content or attribute value. Characters XML 1.0 cannot carry, raw or as references, are
    dropped (as libxml2's xmlEncodeEntitiesReentrant skips them): a value holding them never breaks the reply."""
    if not text.isprintable():  # a C-speed check that passes nearly every value
        text = _NOT_XML_CHAR.sub("", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#039;"))


class XmlWriter:
    """Builds the reply text; indented like the real gateway unless the request set includewhitespace=false."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty
        self.parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
        self.depth = 0

    def _newline(self) -> None:
        if self.pretty or self.depth == 0:
            self.parts.append("\n" + "      " * self.depth if self.pretty else "\n")

    @staticmethod
    def _attrs(attrs: dict[str, Any] | None) -> str:
        return "".join(f' {k}="{xml_escape(str(v))}"' for k, v in (attrs or {}).items())

    def open(self, tag: str, attrs: dict[str, Any] | None = None) -> None:
        self._newline()
        self.parts.append(f"<{tag}{self._attrs(attrs)}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        if self.pretty:
            self._newline()
        self.parts.append(f"</{tag}>")

    def leaf(self, tag: str, text: Any) -> None:
        if self.pretty:
            self._newline()
        self.parts.append(f"<{tag}>{xml_escape(str(text))}</{tag}>")

    def empty(self, tag: str, attrs: dict[str, Any] | None = None) -> None:
        if self.pretty:
            self._newline()
        self.parts.append(f"<{tag}{self._attrs(attrs)}/>")

    def errors(self, details: list[ErrorDetail]) -> None:
        self.open("errormessage")
        for detail in details:
            self.open("error")
            self.leaf("errorno", detail.errorno)
            self.leaf("description", detail.description)
            self.leaf("description2", detail.description2)
            self.leaf("correction", detail.correction)
            self.close("error")
        self.close("errormessage")

    def text(self) -> bytes:
        return ("".join(self.parts) + "\n").encode("utf-8")


def gateway_error_body(errorno: str, description: str) -> bytes:
    """GW-nnnn replies (rate limit, invalid request): control status failure and one error, no echo (DOC-ERR)."""
    out = XmlWriter(pretty=True)
    out.open("response")
    out.open("control")
    out.leaf("status", "failure")
    out.close("control")
    out.open("errormessage")
    out.open("error")
    out.leaf("errorno", errorno)
    out.leaf("description", description)
    out.close("error")
    out.close("errormessage")
    out.close("response")
    return out.text()


# ---- the request ------------------------------------------------------------------------------------------------


@dataclass
class Control:
    senderid: str = ""
    password: str = ""
    controlid: str = ""
    uniqueid: str = "true"
    dtdversion: str = "3.0"
    includewhitespace: bool = True


@dataclass
class FunctionCall:
    controlid: str
    name: str
    element: Element


@dataclass
class Operation:
    transaction: bool
    login: dict[str, str] | None
    sessionid: str | None
    functions: list[FunctionCall]


@dataclass
class Outcome:
    """What a function produced: status, the data printer, errors; `written` counts records changed."""

    function: str
    controlid: str
    status: str = "success"
    data: Callable[[XmlWriter], None] | None = None
    errors: list[ErrorDetail] = field(default_factory=list)
    written: int = 0


@dataclass
class GatewayReply:
    body: bytes
    written: int = 0
    wrote: bool = False
    opened_session: bool = False


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _check_sequence(parent: Element, order: tuple[str, ...], required: tuple[str, ...]) -> None:
    position = -1
    for child in parent:
        if child.tag not in order or order.index(child.tag) <= position:
            raise schema_error(f"Error 1871: Element '{child.tag}': This element is not expected.")
        position = order.index(child.tag)
    present = {child.tag for child in parent}
    for name in required:
        if name not in present:
            raise schema_error(f"Error 1871: Element '{parent.tag}': Missing child element(s). Expected is ( {name} ).")


def _bool(text: str, default: bool) -> bool:
    return default if text == "" else text.lower() == "true"


def parse_request(body: bytes) -> tuple[Control, list[Operation]]:
    control = Control()
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise schema_error(f"Fatal Error: {exc}") from exc
    if root.tag != "request":
        raise schema_error(f"Error 1845: Element '{root.tag}': No matching global declaration available for the "
                           "validation root.")
    children = list(root)
    if not children or children[0].tag != "control":
        raise schema_error("Error 1871: Element 'request': Missing child element(s). Expected is ( control ).")
    control_element = children[0]
    values = {child.tag: _text(child) for child in control_element}
    control.senderid = values.get("senderid", "")
    control.controlid = values.get("controlid", "")
    control.password = values.get("password", "")
    # "When set to true, which is the default, a request cannot be repeated" (DOC-REQ): absent means true.
    control.uniqueid = (values.get("uniqueid") or "true").lower()
    control.dtdversion = values.get("dtdversion") or "3.0"
    control.includewhitespace = _bool(values.get("includewhitespace", ""), True)
    try:
        _check_sequence(control_element, CONTROL_ORDER, ("senderid", "controlid"))
        if len(control.controlid) > 256:
            raise schema_error("Error 1824: Element 'controlid': is longer than 256 characters.")
        if control.uniqueid not in ("true", "false"):
            raise schema_error(f"Error 1824: Element 'uniqueid': '{control.uniqueid}' is not a valid value of the "
                               "atomic type 'xs:boolean'.")
        if len(children) < 2:
            raise schema_error("Error 1871: Element 'request': Missing child element(s). Expected is ( operation ).")
        operations = [_parse_operation(element) for element in children[1:]]
    except IntacctError as exc:
        exc.control = control  # type: ignore[attr-defined]
        raise
    return control, operations


def _parse_operation(element: Element) -> Operation:
    if element.tag != "operation":
        raise schema_error(f"Error 1871: Element '{element.tag}': This element is not expected. Expected is "
                           "( operation ).")
    children = list(element)
    if not children or children[0].tag != "authentication":
        raise schema_error("Error 1871: Element 'operation': Missing child element(s). Expected is ( authentication ).")
    for child in children[1:]:
        if child.tag not in ("preferences", "content"):
            raise schema_error(f"Error 1871: Element '{child.tag}': This element is not expected.")
    auth = list(children[0])
    if len(auth) != 1 or auth[0].tag not in ("login", "sessionid", "oauth"):
        raise schema_error("Error 1871: Element 'authentication': Missing child element(s). Expected is one of "
                           "( login, sessionid, oauth ).")
    login = None
    sessionid = None
    if auth[0].tag == "login":
        _check_sequence(auth[0], LOGIN_ORDER, ("userid", "companyid", "password"))
        login = {child.tag: _text(child) for child in auth[0]}
    elif auth[0].tag == "sessionid":
        sessionid = _text(auth[0])
    functions: list[FunctionCall] = []
    for content in element.findall("content"):
        for function in content:
            if function.tag != "function":
                raise schema_error(f"Error 1871: Element '{function.tag}': This element is not expected. Expected "
                                   "is ( function ).")
            controlid = function.get("controlid")
            if controlid is None:
                raise schema_error("Error 1868: Element 'function': The attribute 'controlid' is required but "
                                   "missing.")
            if len(controlid) > 256:
                raise schema_error("Error 1824: Element 'function', attribute 'controlid': longer than 256.")
            inner = list(function)
            if len(inner) != 1:
                raise schema_error("Error 1871: Element 'function': exactly one function element is expected.")
            if inner[0].tag not in KNOWN_FUNCTIONS:
                raise schema_error(f"Error 1871: Element '{inner[0].tag}': This element is not expected.")
            _check_function_schema(inner[0])
            functions.append(FunctionCall(controlid, inner[0].tag, inner[0]))
    if len(functions) > MAX_FUNCTIONS_PER_REQUEST:
        raise control_error("EMU-TOOMANYFUNCTIONS",
                            f"A request may hold at most {MAX_FUNCTIONS_PER_REQUEST} functions; this one has "
                            f"{len(functions)}.")
    transaction = (element.get("transaction") or "false").lower() == "true"
    return Operation(transaction, login, sessionid, functions)


_REQUIRED_CHILDREN = {"readByQuery": ("object", "query"), "read": ("object", "keys"),
                      "readByName": ("object", "keys"), "query": ("object", "select"), "delete": ("object", "keys"),
                      "lookup": ("object",)}


def _check_function_schema(element: Element) -> None:
    present = {child.tag for child in element}
    for name in _REQUIRED_CHILDREN.get(element.tag, ()):
        if name not in present:
            raise schema_error(f"Error 1871: Element '{element.tag}': Missing child element(s). Expected is "
                               f"( {name} ).")
    if element.tag == "query":
        filter_element = element.find("filter")
        if filter_element is not None:
            if len(filter_element) != 1:
                raise schema_error("Error 1871: Element 'filter': only one top-level operator is allowed.")
            try:
                biggest = count_in_values(filter_from_xml(filter_element[0]))
            except QuerySyntaxError:
                biggest = 0  # reported as a function failure when the query runs
            if biggest > MAX_IN_VALUES:
                raise schema_error("Error 1871: Element 'value': This element is not expected.")
    if element.tag == "readMore" and not present & {"object", "view", "reportId", "resultId"}:
        raise schema_error("Error 1871: Element 'readMore': Missing child element(s). Expected is one of ( object, "
                           "view, reportId, resultId ).")


# ---- running a request ------------------------------------------------------------------------------------------


@dataclass
class CallContext:
    model: IntacctCompany
    session: Session
    user_recordno: int
    origin: str
    endpoint_path: str
    auth_sessionid: str | None
    function_count: int
    opened_session: bool = False


def run_gateway_request(model: IntacctCompany, body: bytes, origin: str, endpoint_path: str = GATEWAY_PATH) -> (
    GatewayReply
):
    try:
        control, operations = parse_request(body)
    except IntacctError as exc:
        return GatewayReply(_control_failure(getattr(exc, "control", Control()), exc))
    if control.dtdversion != "3.0":
        return GatewayReply(_control_failure(control, control_error(
            "EMU-DTDVERSION", f"dtdversion {control.dtdversion} is not supported by this emulator; use 3.0.")))
    if not model.check_sender(control.senderid, control.password):
        return GatewayReply(_control_failure(control, control_error(
            "XL03000006", "Incorrect Intacct XML Partner ID or password.")))
    out = XmlWriter(control.includewhitespace)
    out.open("response")
    _control_block(out, control, "success")
    reply = GatewayReply(b"")
    for operation in operations:
        _run_operation(model, control, operation, origin, endpoint_path, out, reply)
    out.close("response")
    reply.body = out.text()
    return reply


def _control_block(out: XmlWriter, control: Control, status: str) -> None:
    out.open("control")
    out.leaf("status", status)
    out.leaf("senderid", control.senderid)
    out.leaf("controlid", control.controlid)
    out.leaf("uniqueid", control.uniqueid)
    out.leaf("dtdversion", control.dtdversion)
    out.close("control")


def _control_failure(control: Control, error: IntacctError) -> bytes:
    out = XmlWriter(control.includewhitespace)
    out.open("response")
    _control_block(out, control, "failure")
    out.errors(error.errors)
    out.close("response")
    return out.text()


def _run_operation(model: IntacctCompany, control: Control, operation: Operation, origin: str, endpoint_path: str,
                   out: XmlWriter, reply: GatewayReply) -> None:
    out.open("operation")
    with model.lock:
        try:
            if operation.login is not None:
                login = operation.login
                session = model.login(control.senderid, login.get("userid", ""), login.get("companyid", ""),
                                      login.get("password", ""), login.get("locationid", ""))
            elif operation.sessionid is not None:
                session = model.resume(control.senderid, operation.sessionid)
            else:
                raise IntacctError([ErrorDetail("XL03000006", "", "OAuth authentication is not supported by this "
                                                "emulator; use login or sessionid.", "")], "authentication")
        except IntacctError as exc:
            known = operation.login or {}
            out.open("authentication")
            out.leaf("status", "failure")
            out.leaf("userid", known.get("userid", ""))
            out.leaf("companyid", known.get("companyid", ""))
            out.leaf("locationid", known.get("locationid", ""))
            out.close("authentication")
            out.errors(exc.errors)
            out.close("operation")
            return
        context = CallContext(model, session, model.users[session.user_id][1], origin, endpoint_path,
                              operation.sessionid, len(operation.functions))
        outcomes = _run_functions(context, control, operation, reply)
    out.open("authentication")
    out.leaf("status", "success")
    out.leaf("userid", session.user_id)
    out.leaf("companyid", session.company_id)
    out.leaf("locationid", session.location_id)
    out.leaf("sessiontimestamp", format_session_stamp(session.timestamp))
    out.leaf("sessiontimeout", format_session_stamp(session.timeout))
    out.close("authentication")
    for outcome in outcomes:
        out.open("result")
        out.leaf("status", outcome.status)
        out.leaf("function", outcome.function)
        out.leaf("controlid", outcome.controlid)
        if outcome.data is not None and outcome.status != "aborted":
            outcome.data(out)
        if outcome.errors:
            out.errors(outcome.errors)
        out.close("result")
    out.close("operation")
    reply.opened_session = reply.opened_session or context.opened_session


def _run_functions(context: CallContext, control: Control, operation: Operation, reply: GatewayReply) -> list[
    Outcome
]:
    model = context.model
    outcomes: list[Outcome] = []
    if operation.transaction:
        model.begin()
    failed = False
    for call in operation.functions:
        outcome = Outcome(call.name, call.controlid)
        if call.name in WRITE_FUNCTIONS:
            reply.wrote = True
        if failed:
            outcome.status = "aborted"
            outcome.errors = [ErrorDetail(ROLLBACK_ERRORNO, "", ROLLBACK_TEXT, "")]
            outcomes.append(outcome)
            continue
        try:
            if control.uniqueid == "true" and call.name in WRITE_FUNCTIONS and model.replayed(call.controlid):
                raise function_error(
                    "EMU-DUPCTRLID",
                    f"A function with controlid '{call.controlid}' was already executed and completed for this "
                    "company; with uniqueid=true it is not executed again.",
                    "Duplicate function controlid",
                    "Use a new controlid, or send uniqueid=false to allow the function to run again.",
                )
            FUNCTIONS[call.name](context, call.element, outcome)
            if control.uniqueid == "true" and call.name in WRITE_FUNCTIONS:
                model.remember_controlid(call.controlid)
        except IntacctError as exc:
            outcome.status = "failure"
            outcome.errors = list(exc.errors)
            if operation.transaction:
                failed = True
                outcome.errors.append(ErrorDetail(ROLLBACK_ERRORNO, "", ROLLBACK_TEXT, ""))
            elif outcome.written and control.uniqueid == "true":
                # Its earlier objects stay written, so it counts as executed: a replay must not write them again.
                model.remember_controlid(call.controlid)
        outcomes.append(outcome)
    if operation.transaction:
        if failed:
            model.rollback()
            for outcome in outcomes:
                if outcome.status == "success":
                    outcome.status = "aborted"
                    outcome.errors = [ErrorDetail(ROLLBACK_ERRORNO, "", ROLLBACK_TEXT, "")]
                    outcome.written = 0
        else:
            model.commit()
    reply.written += sum(o.written for o in outcomes)
    return outcomes


# ---- functions ----------------------------------------------------------------------------------------------------


def _schema_for(context: CallContext, object_name: str) -> ObjectSchema:
    return context.model.schema(object_name.strip())


def _field_list(schema: ObjectSchema, text: str) -> tuple[str, ...]:
    text = text.strip()
    if text in ("", "*"):
        return schema.fields
    by_upper = {name.upper(): name for name in schema.fields}
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name.upper() not in by_upper]
    if unknown:
        raise query_failed(f"Invalid field(s) {', '.join(unknown)} for object {schema.name}")
    return tuple(by_upper[name.upper()] for name in chosen)


def _pagesize(text: str, maximum: int) -> int:
    if not text:
        return DEFAULT_PAGESIZE
    if not text.lstrip("-").isdigit() or not 1 <= int(text) <= maximum:
        raise query_failed(f"Invalid pagesize {text}: the page size must be between 1 and {maximum}.")
    return int(text)


def _rows_printer(context: CallContext, schema: ObjectSchema, rows: list[dict[str, Any]], fields: tuple[str, ...],
                  tag: str, attrs: dict[str, Any]) -> Callable[[XmlWriter], None]:
    model = context.model
    types = [schema.type_of(name) for name in fields]
    name = schema.name

    def print_rows(out: XmlWriter) -> None:
        if not rows:
            out.empty("data", attrs)
            return
        out.open("data", attrs)
        for record in rows:
            out.open(tag)
            for field_name, field_type in zip(fields, types, strict=True):
                out.leaf(field_name, wire_text(field_type, model.value(name, record, field_name)))
            out.close(tag)
        out.close("data")

    return print_rows


def run_get_api_session(context: CallContext, element: Element, outcome: Outcome) -> None:
    model = context.model
    if context.function_count > 1:
        raise function_error("EMU-GETAPISESSION", "getAPISession must be the only function in its request.",
                             correction="Send getAPISession in a request of its own.")
    location_element = element.find("locationid")
    location_id = context.session.location_id if location_element is None else _text(location_element)
    if location_id and not model.is_entity(location_id):
        # The sign-in refusal a login naming an unknown entity gets (our choice for getAPISession; see docs).
        raise IntacctError([ErrorDetail(
            "XL03000006", "", "Sign-in information is incorrect",
            f"Use the LOCATIONID of an entity (LOCATIONENTITY) of company {model.company_id}, or an empty "
            "locationid for the top level.")])
    existing = model.sessions.get(context.auth_sessionid or "")
    if existing is not None and existing.location_id == location_id:
        session = existing
    else:
        session = model.open_session(context.session.user_id, location_id)
    context.opened_session = True
    endpoint = context.origin + context.endpoint_path

    def print_session(out: XmlWriter) -> None:
        out.open("data")
        out.open("api")
        out.leaf("sessionid", session.session_id)
        out.leaf("endpoint", endpoint)
        out.leaf("locationid", session.location_id)
        out.close("api")
        out.close("data")

    outcome.data = print_session


def run_read_by_query(context: CallContext, element: Element, outcome: Outcome) -> None:
    model = context.model
    schema = _schema_for(context, _text(element.find("object")))
    fields = _field_list(schema, _text(element.find("fields")))
    pagesize = _pagesize(_text(element.find("pagesize")), READBYQUERY_MAX_PAGESIZE)
    return_format = _text(element.find("returnFormat")) or "xml"
    if return_format != "xml":
        raise function_error("EMU-RETURNFORMAT", f"returnFormat {return_format} is not supported by this emulator.")
    try:
        condition = parse_where(element.findtext("query") or "")
    except QuerySyntaxError as exc:
        raise query_failed(f"Invalid query: {exc}") from exc
    rows = model.select(schema, condition, context.session.location_id, True, coded_literals=True)
    page = rows[:pagesize]
    remaining = len(rows) - len(page)
    result_id = ""
    if remaining:
        cursor = model.open_cursor(schema.name, fields, rows, pagesize, context.session.session_id)
        cursor.position = len(page)
        result_id = cursor.result_id
    attrs = {"listtype": schema.row_tag, "count": len(page), "totalcount": len(rows), "numremaining": remaining,
             "resultId": result_id}
    outcome.data = _rows_printer(context, schema, page, fields, schema.row_tag, attrs)


def run_read_more(context: CallContext, element: Element, outcome: Outcome) -> None:
    model = context.model
    result_id = _text(element.find("resultId"))
    object_name = _text(element.find("object"))
    cursor = model.find_cursor(result_id or None, object_name or None, context.session.session_id)
    if cursor is None:
        detail = (f"Attempt to readMore with an invalid or expired resultId: {result_id}" if result_id else
                  f"Attempt to readMore with no pending readByQuery results for object {object_name}")
        raise IntacctError([ErrorDetail("readMore failed", "", detail, "")])
    schema = SCHEMAS[cursor.object_name]
    page = cursor.rows[cursor.position:cursor.position + cursor.pagesize]
    cursor.position += len(page)
    remaining = len(cursor.rows) - cursor.position
    cursor.expires = time.monotonic() + model.cursor_lifetime_seconds
    if remaining <= 0:
        model.cursors.pop(cursor.result_id, None)
    attrs = {"listtype": schema.row_tag, "count": len(page), "totalcount": len(cursor.rows),
             "numremaining": remaining, "resultId": cursor.result_id}
    outcome.data = _rows_printer(context, schema, page, cursor.fields, schema.row_tag, attrs)


_AGGREGATES = ("count", "avg", "min", "max", "sum")


def run_query(context: CallContext, element: Element, outcome: Outcome) -> None:
    model = context.model
    schema = _schema_for(context, _text(element.find("object")))
    select = element.find("select")
    selected: list[tuple[str, str]] = []  # (aggregate or "", field)
    for child in select if select is not None else []:
        name = _text(child)
        if child.tag == "field" and name == "*":
            raise query_failed("Returning all fields is not supported; list the fields in <select>.")
        selected.append(("" if child.tag == "field" else child.tag, name))
    by_upper = {name.upper(): name for name in schema.fields}
    unknown = [name for _, name in selected if name.upper() not in by_upper]
    if unknown:
        raise query_failed(f"The following field(s) are not valid for object {schema.name}: {', '.join(unknown)}")
    selected = [(aggregate, by_upper[name.upper()]) for aggregate, name in selected]
    condition: Condition | None = None
    filter_element = element.find("filter")
    if filter_element is not None and len(filter_element):
        try:
            condition = filter_from_xml(filter_element[0])
        except QuerySyntaxError as exc:
            raise query_failed(f"Invalid filter: {exc}") from exc
    orderby: list[tuple[str, bool]] = []
    for order in element.findall("orderby/order"):
        name = _text(order.find("field"))
        if name.upper() not in by_upper:
            raise query_failed(f"The following field(s) are not valid for object {schema.name}: {name}")
        orderby.append((by_upper[name.upper()], order.find("descending") is None))
    options = element.find("options")
    case_insensitive = _bool(_text(options.find("caseinsensitive")) if options is not None else "", False)
    show_private = _bool(_text(options.find("showprivate")) if options is not None else "", False)
    pagesize = _pagesize(_text(element.find("pagesize")), QUERY_MAX_PAGESIZE)
    offset_text = _text(element.find("offset")) or "0"
    if not offset_text.isdigit():
        raise query_failed(f"Invalid offset {offset_text}.")
    offset = int(offset_text)
    rows = model.select(schema, condition, context.session.location_id, show_private, tuple(orderby),
                        case_insensitive)
    if any(aggregate for aggregate, _ in selected):
        rows = _aggregate(model, schema, rows, selected)
        fields = tuple(f"{a.upper()}.{n}" if a else n for a, n in selected)
        types = {f: ("DECIMAL" if "." in f and f.split(".")[0] in ("COUNT", "AVG", "SUM") else schema.type_of(
            f.split(".", 1)[-1])) for f in fields}
        schema = ObjectSchema(schema.name, fields, None, types)
    else:
        fields = tuple(name for _, name in selected)
    page = rows[offset:offset + pagesize]
    remaining = max(len(rows) - offset - len(page), 0)
    attrs = {"listtype": schema.name, "totalcount": len(rows), "offset": offset, "count": len(page),
             "numremaining": remaining}
    outcome.data = _rows_printer(context, schema, page, fields, schema.name, attrs)


def _aggregate(model: IntacctCompany, schema: ObjectSchema, rows: list[dict[str, Any]],
               selected: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """count/sum/avg/min/max grouped by the plain fields selected with them."""
    group_fields = [name for aggregate, name in selected if not aggregate]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in rows:
        key = tuple(model.value(schema.name, record, name) for name in group_fields)
        groups.setdefault(key, []).append(record)
    if not groups and not group_fields:
        groups[()] = []
    out: list[dict[str, Any]] = []
    for key, members in groups.items():
        row: dict[str, Any] = dict(zip(group_fields, key, strict=True))
        for aggregate, name in selected:
            if not aggregate:
                continue
            values = [model.value(schema.name, r, name) for r in members]
            present = [v for v in values if v not in (None, "")]
            numbers = [float(v) for v in present if _is_number(v)]
            label = f"{aggregate.upper()}.{name}"
            if aggregate == "count":
                row[label] = len(present)
            elif aggregate == "sum":
                row[label] = f"{sum(numbers):.2f}"
            elif aggregate == "avg":
                row[label] = f"{sum(numbers) / len(numbers):.2f}" if numbers else ""
            else:
                pick = min if aggregate == "min" else max
                row[label] = pick(present) if present else ""
        out.append(row)
    return out


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _read_rows(context: CallContext, schema: ObjectSchema, keys: list[str], by_name: bool) -> list[dict[str, Any]]:
    model = context.model
    if len(keys) > READ_MAX_KEYS:
        raise function_error("BL01001973", f"Too many keys: at most {READ_MAX_KEYS} may be read at once.")
    rows = []
    for key in keys:
        if by_name:
            if schema.name == "TASK":
                record = next((t for t in model.tables["TASK"].values() if t.get("TASKID") == key), None)
            elif schema.id_field:
                record = model.by_id(schema.name, key)
            else:
                record = None
        else:
            record = model.get(schema.name, int(key)) if key.isdigit() else None
        if record is not None and model.visible(schema.name, record, context.session.location_id, True):
            rows.append(record)
    return rows


def _run_read(context: CallContext, element: Element, outcome: Outcome, by_name: bool) -> None:
    schema = _schema_for(context, _text(element.find("object")))
    fields = _field_list(schema, _text(element.find("fields")))
    keys = [k.strip() for k in _text(element.find("keys")).split(",") if k.strip()]
    rows = _read_rows(context, schema, keys, by_name)
    attrs = {"listtype": schema.name, "count": len(rows)}
    outcome.data = _rows_printer(context, schema, rows, fields, schema.name, attrs)


def run_read(context: CallContext, element: Element, outcome: Outcome) -> None:
    _run_read(context, element, outcome, by_name=False)


def run_read_by_name(context: CallContext, element: Element, outcome: Outcome) -> None:
    _run_read(context, element, outcome, by_name=True)


def run_lookup(context: CallContext, element: Element, outcome: Outcome) -> None:
    schema = _schema_for(context, _text(element.find("object")))

    def print_definition(out: XmlWriter) -> None:
        out.open("data", {"listtype": "All", "count": 1})
        out.open("Type", {"Name": schema.name, "DocumentType": ""})
        out.open("Fields")
        for name in schema.fields:
            out.open("Field")
            out.leaf("ID", name)
            out.leaf("LABEL", schema.labels.get(name, name.replace("_", " ").title()))
            out.leaf("DESCRIPTION", schema.labels.get(name, name))
            out.leaf("REQUIRED", "true" if schema.shown_required(name) else "false")
            out.leaf("READONLY", "true" if name in schema.readonly else "false")
            out.leaf("DATATYPE", schema.type_of(name))
            valid = schema.valid_values.get(name)
            if valid:
                out.open("VALIDVALUES")
                for value in valid:
                    out.leaf("VALIDVALUE", value)
                out.close("VALIDVALUES")
            out.leaf("ISCUSTOM", "true" if name in schema.custom else "false")
            out.close("Field")
        out.close("Fields")
        out.close("Type")
        out.close("data")

    outcome.data = print_definition


def record_values(element: Element) -> dict[str, Any]:
    """An object element's children as field values: nested groups become dotted names (DISPLAYCONTACT.PRINTAS),
    <TIMESHEETENTRIES> a list of entry dicts."""
    values: dict[str, Any] = {}
    for child in element:
        if child.tag == "TIMESHEETENTRIES":
            values["TIMESHEETENTRIES"] = [record_values(entry) for entry in child]
        elif len(child):
            for name, value in record_values(child).items():
                values[f"{child.tag}.{name}"] = value
        else:
            values[child.tag] = (child.text or "").strip()
    return values


def _write_objects(context: CallContext, element: Element, outcome: Outcome, verb: str) -> None:
    model = context.model
    done: list[tuple[ObjectSchema, dict[str, Any]]] = []

    def print_objects(out: XmlWriter) -> None:
        if not done:
            out.empty("data", {"listtype": "objects", "count": 0})
            return
        out.open("data", {"listtype": "objects", "count": len(done)})
        for schema, record in done:
            out.open(schema.row_tag)
            out.leaf("RECORDNO", record["RECORDNO"])
            if schema.id_field and record.get(schema.id_field):
                out.leaf(schema.id_field, record[schema.id_field])
            out.close(schema.row_tag)
        out.close("data")

    outcome.data = print_objects
    for object_element in element:
        schema = SCHEMAS.get(object_element.tag)
        if schema is None:
            raise query_failed(f"Object definition {object_element.tag} not found")
        values = record_values(object_element)
        action = model.create if verb == "create" else model.update
        record = action(schema.name, values, context.session.location_id, context.user_recordno)
        done.append((schema, record))
        outcome.written += 1


def run_create(context: CallContext, element: Element, outcome: Outcome) -> None:
    _write_objects(context, element, outcome, "create")


def run_update(context: CallContext, element: Element, outcome: Outcome) -> None:
    _write_objects(context, element, outcome, "update")


def run_delete(context: CallContext, element: Element, outcome: Outcome) -> None:
    schema = _schema_for(context, _text(element.find("object")))
    keys = [k.strip() for k in _text(element.find("keys")).split(",") if k.strip()]
    outcome.written += context.model.delete(schema.name, keys, context.session.location_id)


FUNCTIONS: dict[str, Callable[[CallContext, Element, Outcome], None]] = {
    "getAPISession": run_get_api_session, "readByQuery": run_read_by_query, "readMore": run_read_more,
    "query": run_query, "read": run_read, "readByName": run_read_by_name, "lookup": run_lookup,
    "create": run_create, "update": run_update, "delete": run_delete,
}
