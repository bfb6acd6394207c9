"""End-to-end helpers for the ESP+ -> QuickBooks Online sync: ESP+'s API as a user's tool would call it, QBO through
python-quickbooks on the token the staging store holds, the emulators' counts, the dry-run plan."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from crosswalk.clients.quickbooks import refresh_token_credential
from crosswalk.sandbox import Sandbox
from crosswalk.staging import StagingStore
from tests.e2e.conftest import REPO, admin
from tests.e2e.projects_support import CROSSWALK

SYSTEMS = ("esp", "quickbooks")


def records(sandbox: Sandbox, system: str, object_name: str) -> list[dict[str, Any]]:
    return admin(sandbox, system, "GET", f"records/{object_name}").json()["records"]


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {system: admin(sandbox, system, "GET", "stats").json()["writes"] for system in SYSTEMS}


def reset_stats(sandbox: Sandbox) -> None:
    for system in SYSTEMS:
        admin(sandbox, system, "DELETE", "stats")


def plan_json(env: dict[str, str], *, check: bool = True) -> dict[str, Any]:
    result = subprocess.run([str(CROSSWALK), "plan", "--sync", "quickbooks", "--json", "--all"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if not check:
        return {"returncode": result.returncode, "stderr": result.stderr}
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Esp:
    """ESP+'s REST API with the sandbox's client credentials, as any tool of the tenant would call it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.base = env["ESP_URL"].rstrip("/")
        origin = self.base.split("/babou/")[0]
        token = httpx.post(f"{origin}/oauth2/token", data={"grant_type": "client_credentials"},
                           auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]), timeout=30)  # fmt: skip
        token.raise_for_status()
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=60)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"{self.base}/{path}", params=params)
        response.raise_for_status()
        return response.json()

    def put(self, path: str, body: Any) -> Any:
        response = self.client.put(f"{self.base}/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(f"{self.base}/{path}", json=body)

    def search(self, resource: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get(f"{resource}/search", **{"from": page, "size": 100, "view": "full"})
            rows.extend(body["Results"])
            if not body["Results"] or len(rows) >= body["ResultsTotal"]:
                return rows
            page += 1

    def settings(self, **changes: Any) -> dict[str, Any]:
        current = self.get("settings/integrations/quickbooks")
        return self.put("settings/integrations/quickbooks", {**current, **changes})

    def close(self) -> None:
        self.client.close()


@contextmanager
def esp_api(env: Mapping[str, str]) -> Iterator[Esp]:
    api = Esp(env)
    try:
        yield api
    finally:
        api.close()


@contextmanager
def quickbooks_as_crosswalk(env: Mapping[str, str], database_url: str) -> Iterator[QuickBooks]:
    """python-quickbooks on the refresh token Crosswalk keeps (each refresh rotates it: the new one is stored back,
    as Crosswalk's own client does, so the next run still connects)."""
    store = StagingStore(database_url)
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"]  # requests' way to trust the sandbox's CA
    credential = refresh_token_credential(env["QBO_REALM_ID"])
    token = store.get_credential("quickbooks", credential) or env["QBO_REFRESH_TOKEN"]
    auth = AuthClient(env["QBO_CLIENT_ID"], env["QBO_CLIENT_SECRET"], "http://localhost/callback",
                      env["QBO_DISCOVERY_URL"])  # fmt: skip
    qb = QuickBooks(auth_client=auth, refresh_token=token, company_id=env["QBO_REALM_ID"], minorversion=75)
    qb.api_url_v3 = env["QBO_BASE_URL"]
    try:
        auth.refresh(refresh_token=token)
        store.set_credential("quickbooks", credential, auth.refresh_token)
        qb = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=env["QBO_REALM_ID"],
                        minorversion=75)  # fmt: skip
        qb.api_url_v3 = env["QBO_BASE_URL"]
        yield qb
    finally:
        qb.session.close()
        auth.close()
        store.dispose()
        if ca_bundle is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle


def sent_invoices(esp: Esp) -> list[dict[str, Any]]:
    return [o for o in esp.search("orders") if o["Type"] == "invoice" and o.get("ExternalId")]
