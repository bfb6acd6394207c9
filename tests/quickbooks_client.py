"""python-quickbooks and intuit-oauth pointed at the QuickBooks Online emulator the documented way: an AuthClient on
the discovery document, a QuickBooks client on the realm, and the API root from the sandbox's exports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from intuitlib.client import AuthClient
from quickbooks import QuickBooks


@contextmanager
def connected_quickbooks(env: Mapping[str, str]) -> Iterator[QuickBooks]:
    """A client for the emulator the exports name (the sandbox CA comes from REQUESTS_CA_BUNDLE, as the env file
    sets it); its sessions are closed on exit, before the server stops (its shutdown otherwise waits on idle
    keep-alive sockets)."""
    auth = AuthClient(env["QBO_CLIENT_ID"], env["QBO_CLIENT_SECRET"], "http://localhost/callback",
                      env["QBO_DISCOVERY_URL"])  # fmt: skip
    qb = QuickBooks(auth_client=auth, refresh_token=env["QBO_REFRESH_TOKEN"], company_id=env["QBO_REALM_ID"],
                    minorversion=75)  # fmt: skip
    qb.api_url_v3 = env["QBO_BASE_URL"]
    try:
        yield qb
    finally:
        qb.session.close()
        auth.close()  # an AuthClient is a requests.Session with its own keep-alive connection
