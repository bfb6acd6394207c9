"""Checks on raw HTTP replies and transport defaults shared by the clients: the JSON label of API replies, a default
timeout for the vendor clients built on `requests`, and what a usable token-endpoint reply is; and what every
client's writes share: failed results, lookups that could not be answered, secrets scrubbed from error text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from crosswalk.extract.errors import MalformedResponseError, TransientError
from crosswalk.sync.writer import WriteRequest, WriteResult


def require_json_reply(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """`requests` response hook: a successful reply not labelled JSON is a bad response, not data.

    Both client libraries parse any body as JSON whatever its content type, so the check has to happen here.
    """
    if response.status_code != 200:
        return
    _ = response.content  # the whole body first: a connection dropped mid-reply is a transport error (retried)
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type:
        raise MalformedResponseError(f"HTTP 200 with content type {content_type or 'none'!r}, not JSON")


class DefaultTimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request sent without a timeout this one (connect and read).

    simple-salesforce and python-quickbooks pass no timeout to their `requests` session, so without it a stalled
    server is waited on for ever instead of failing as a transport error the shared retry handles.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        timeout = self.timeout if timeout is None else timeout
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def use_default_timeout(session: requests.Session, timeout: float) -> None:
    """Every request of `session` without its own timeout gets `timeout` seconds."""
    adapter = DefaultTimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def endpoint_of(url: str) -> str:
    """The URL without user info, query or fragment: safe to name in errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


MALFORMED_TOKEN_REPLY = "malformed token reply"


class MalformedTokenReplyError(TransientError):
    """A token endpoint (or the discovery document naming it) answered something that is not a usable reply: an HTML
    page, truncated JSON, no access_token. That is damage on the way, not a refusal of the credentials, so it is
    retried. The text names the endpoint and never the body: a truncated token reply still holds part of a token.
    """

    def __init__(self, endpoint: str, problem: str, what: str = "token endpoint") -> None:
        super().__init__(MALFORMED_TOKEN_REPLY)
        self.endpoint = endpoint_of(endpoint)
        self.problem = problem
        self.what = what

    def __str__(self) -> str:
        return f"{self.what} {self.endpoint} answered a malformed reply: {self.problem}"


def not_json(error: ValueError, content_type: str | None = None) -> str:
    """Why a reply body is not JSON, from its parse error and content type (never from its text)."""
    label = f"content type {content_type or 'none'!r}, " if content_type is not None else ""
    where = f" ({error.msg}: char {error.pos})" if isinstance(error, json.JSONDecodeError) else ""
    return f"{label}not valid JSON{where}"


def parse_token_reply(endpoint: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """A successful token reply's JSON object; MalformedTokenReplyError unless it is one with an access_token."""
    try:
        token = json.loads(body)
    except ValueError as exc:
        raise MalformedTokenReplyError(endpoint, not_json(exc, content_type)) from None
    if not isinstance(token, dict) or not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise MalformedTokenReplyError(endpoint, "the reply has no access_token")
    return token


# ---- writes ------------------------------------------------------------------------------------------------------


class LookupFailedError(Exception):
    """A client's find() could not be answered: the text names system, object and field (never a secret)."""

    def __init__(self, system: str, object_name: str, field_name: str, problem: str) -> None:
        self.system = system
        self.object_name = object_name
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{system} {object_name}: finding records by {field_name} failed: {problem}")


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret (passwords, client secrets, tokens, session ids) replaced by ***; longest first, so
    a secret that contains another is replaced whole."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def failed(
    request: WriteRequest, errors: Iterable[str], retryable: bool = False, key: str | None = None
) -> WriteResult:
    """A failed write: `errors` are "CODE: message" strings naming what went wrong."""
    return WriteResult(request=request, ok=False, key=key, errors=tuple(errors), retryable=retryable)


def all_failed(requests: Iterable[WriteRequest], error: str, retryable: bool) -> list[WriteResult]:
    """The same failure for every request of a call that failed as a whole."""
    return [failed(request, (error,), retryable) for request in requests]
