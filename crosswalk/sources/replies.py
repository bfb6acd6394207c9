"""Checks on raw HTTP replies and transport defaults shared by the clients built on `requests` (simple-salesforce,
python-quickbooks): the JSON label of API replies and a default timeout."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from crosswalk.extract.errors import MalformedResponseError


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
