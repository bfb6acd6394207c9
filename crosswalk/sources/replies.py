"""Checks on raw HTTP replies shared by the clients built on `requests` (simple-salesforce, python-quickbooks)."""

from __future__ import annotations

from typing import Any

import requests

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
