"""simple-salesforce pointed at the Salesforce emulator the documented way: a requests session that trusts the
sandbox's CA, and an adapter that sends the My Domain host simple-salesforce builds to the emulator's address."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

MY_DOMAIN = "crosswalk-sandbox.my"


class InstanceRedirect(HTTPAdapter):
    """Sends what simple-salesforce addresses to https://{domain}.salesforce.com to the instance URL instead."""

    def __init__(self, instance_url: str) -> None:
        super().__init__()
        self.instance_url = instance_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = self.instance_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


def sandbox_session(env: dict[str, str]) -> requests.Session:
    """A session for the emulator named by the sandbox's exports (the caller closes it)."""
    session = requests.Session()
    session.verify = env["SALESFORCE_CA_BUNDLE"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would otherwise override verify
    session.mount(f"https://{MY_DOMAIN}.salesforce.com", InstanceRedirect(env["SALESFORCE_INSTANCE_URL"]))
    return session


def connect(env: dict[str, str], session: requests.Session) -> Salesforce:
    """The documented recipe: client credentials against the emulator's token endpoint, no library patching."""
    return Salesforce(
        consumer_key=env["SALESFORCE_CLIENT_ID"],
        consumer_secret=env["SALESFORCE_CLIENT_SECRET"],
        domain=MY_DOMAIN,
        session=session,
        version="59.0",
    )
