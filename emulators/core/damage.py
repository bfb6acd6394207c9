"""How a bad-response fault damages a real reply: truncation, an HTML page, a wrong content type, a missing field."""

from __future__ import annotations

import json
import re
from typing import Any

from emulators.core.faults import Fault, FaultKind

Headers = list[tuple[bytes, bytes]]

MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service unavailable</title></head>"
    b"<body><h1>We'll be back soon</h1><p>The service is undergoing maintenance.</p></body></html>"
)


def _with_header(headers: Headers, name: bytes, value: bytes) -> Headers:
    kept = [(k, v) for k, v in headers if k.lower() != name]
    return [*kept, (name, value)]


def _drop_json_field(value: Any, field: str) -> bool:
    """Remove the first occurrence of key `field` (depth-first, document order); True when one was removed."""
    if isinstance(value, dict):
        if field in value:
            del value[field]
            return True
        return any(_drop_json_field(child, field) for child in value.values())
    if isinstance(value, list):
        return any(_drop_json_field(child, field) for child in value)
    return False


def _drop_field(body: bytes, field: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        # XML: remove the first <field>...</field> or <field/> element.
        pattern = re.compile(
            rb"<%s(?:\s[^>]*)?(?:/>|>.*?</%s>)" % (re.escape(field.encode()), re.escape(field.encode())), re.S
        )
        return pattern.sub(b"", body, count=1)
    _drop_json_field(document, field)
    return json.dumps(document).encode()


def damage_response(fault: Fault, status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
    if fault.kind is FaultKind.TRUNCATED:
        body = body[: max(len(body) // 2, 1)]
    elif fault.kind is FaultKind.HTML:
        status, body = 200, MAINTENANCE_PAGE
        headers = _with_header(headers, b"content-type", b"text/html; charset=utf-8")
    elif fault.kind is FaultKind.WRONG_CONTENT_TYPE:
        headers = _with_header(headers, b"content-type", b"text/plain; charset=utf-8")
    elif fault.kind is FaultKind.DROP_FIELD and fault.target_field:
        body = _drop_field(body, fault.target_field)
    return status, _with_header(headers, b"content-length", str(len(body)).encode()), body
