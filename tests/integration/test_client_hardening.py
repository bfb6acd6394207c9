"""The system clients against damaged, stalled and partial answers, over real sockets with the real vendor clients:
a QuickBooks key scan larger than one page, a Salesforce page without `done`, a stalled call cut short by
request_timeout_seconds, and damaged token-endpoint replies told apart from refused credentials."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from quickbooks import QuickBooks
from quickbooks.objects import Invoice

from crosswalk.clients.quickbooks import MAX_RESULTS, id_ordered_key_pages
from crosswalk.extract.errors import BadResponseError, CredentialsError, ExtractError
from crosswalk.extract.source import StreamSource
from resources.systems import resource_from_values
from tests.integration.extract_support import SETTINGS, Harness, HarnessFactory, secrets_of
from tests.quickbooks_client import connected_quickbooks

warnings.filterwarnings("ignore", category=DeprecationWarning, module="quickbooks")


def source_with_timeout(harness: Harness, seconds: float) -> StreamSource:
    settings = replace(SETTINGS, request_timeout_seconds=seconds)
    source = resource_from_values(harness.system, harness.env).build_source(harness.store, settings)
    harness.sources.append(source)
    return source


# ---- QuickBooks key scan ----------------------------------------------------------------------------------------


@pytest.fixture
def qbo_writer(extract_harness: HarnessFactory) -> Iterator[tuple[Harness, QuickBooks]]:
    harness = extract_harness("quickbooks", counts={"invoices": 1500})
    with connected_quickbooks(harness.env) as qb:
        yield harness, qb


def test_a_quickbooks_key_scan_past_one_page_finds_a_deleted_invoice(
    qbo_writer: tuple[Harness, QuickBooks],
) -> None:
    harness, writer = qbo_writer
    source = harness.source()
    assert harness.run("Invoice", source).error is None
    staged = harness.staged_keys("Invoice")
    assert len(staged) > MAX_RESULTS
    # On the key scan's second page (Ids are scanned in numeric order).
    victim = sorted(staged, key=int)[MAX_RESULTS + 50]
    Invoice.get(victim, qb=writer).delete(qb=writer)

    # The stream's watermark is older than CDC's 30 days (a first read killed long ago, or a quiet stream): CDC
    # cannot answer, so only a key scan over every Id sees the delete.
    old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    harness.store.set_watermark("quickbooks", "Invoice", old, "killed")
    harness.reset_stats()
    result = harness.run("Invoice", source, key_scan_every=timedelta(0))
    assert result.error is None and result.key_scan
    assert not any("/cdc" in route for route in harness.stats()["per_route"])
    assert result.counts.deleted == 1
    assert victim not in harness.staged_keys("Invoice")
    assert harness.staged_keys("Invoice") == {str(r["Id"]) for r in harness.admin_records("Invoice")}


def test_quickbooks_key_pages_see_every_live_id_when_rows_vanish_between_pages() -> None:
    """Offset pages slide when rows before the offset are deleted meanwhile; the one-row overlap notices and steps
    back, so no surviving Id is skipped (a skipped Id would be marked deleted)."""
    rows = [str(n) for n in range(1, 3501)]
    calls: list[int] = []

    def fetch(start: int) -> list[str]:
        calls.append(start)
        if len(calls) in (2, 3):
            del rows[10:400]  # deleted behind the reader while it pages
        return rows[start - 1 : start - 1 + MAX_RESULTS]

    seen = {key for page in id_ordered_key_pages(fetch) for key in page}
    assert set(rows) <= seen


# ---- Salesforce pages without `done` ----------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "path"), [(1, "/queryAll/$"), (2, "/queryAll/.+")])
def test_a_salesforce_page_without_done_is_a_bad_response(
    extract_harness: HarnessFactory, page: int, path: str
) -> None:
    harness = extract_harness("salesforce", counts={"projects": 50, "tasks": 5500})
    source = harness.source()
    harness.fault(kind="drop_field", field="done", path=path, count=1)
    with pytest.raises(BadResponseError) as raised:
        harness.run("ia_crm__Task__c", source)
    assert (raised.value.system, raised.value.object_name, raised.value.page) == ("salesforce", "ia_crm__Task__c", page)
    assert "done" in str(raised.value)
    assert harness.store.get_watermark("salesforce", "ia_crm__Task__c") is None

    result = harness.run("ia_crm__Task__c", source)
    assert result.error is None and result.rows_read == len(harness.admin_records("ia_crm__Task__c")) > 4000


# ---- request_timeout_seconds ------------------------------------------------------------------------------------

STALLS = {
    "salesforce_query": ("salesforce", "Account", "/queryAll"),
    "salesforce_token": ("salesforce", "Account", "/services/oauth2/token"),
    "quickbooks_query": ("quickbooks", "Customer", "/query$"),
    "quickbooks_token": ("quickbooks", "Customer", "/oauth2/v1/tokens/bearer"),
    "quickbooks_discovery": ("quickbooks", "Customer", "/.well-known/openid"),
    "esp_search": ("esp", "companies", "/companies/search"),
}


@pytest.mark.parametrize("case", list(STALLS))
def test_a_stalled_call_times_out_and_is_retried(extract_harness: HarnessFactory, case: str) -> None:
    system, stream, path = STALLS[case]
    harness = extract_harness(system)
    source = source_with_timeout(harness, 0.5)
    harness.fault(kind="slow", delay_seconds=20, path=path, count=2)
    started = time.monotonic()
    result = harness.run(stream, source)
    elapsed = time.monotonic() - started
    assert result.error is None
    assert result.retries >= 2 and sum(result.retry_reasons.values()) == result.retries, result.retry_reasons
    assert any("Timeout" in reason for reason in result.retry_reasons), result.retry_reasons
    assert elapsed < 10, elapsed
    assert harness.staged_keys(stream, include_deleted=True)


# ---- damaged token-endpoint replies -----------------------------------------------------------------------------

TOKEN_ENDPOINTS = {
    "salesforce": ("Account", "/services/oauth2/token"),
    "quickbooks": ("Customer", "/oauth2/v1/tokens/bearer"),
    "esp": ("companies", "/oauth2/token"),
}


def token_endpoint_url(harness: Harness, path: str) -> str:
    return harness.emulator.origin + path


@pytest.mark.parametrize("damage", ["html", "truncated"])
@pytest.mark.parametrize("system", list(TOKEN_ENDPOINTS))
def test_a_damaged_token_reply_is_retried(extract_harness: HarnessFactory, system: str, damage: str) -> None:
    stream, path = TOKEN_ENDPOINTS[system]
    harness = extract_harness(system)
    harness.fault(kind=damage, path=f"{path}$", count=2)
    result = harness.run(stream, harness.source())
    assert result.error is None
    assert result.retries >= 2 and result.retry_reasons.get("malformed token reply", 0) >= 2, result.retry_reasons
    assert harness.staged_keys(stream, include_deleted=True)


@pytest.mark.parametrize("damage", ["html", "truncated"])
@pytest.mark.parametrize("system", list(TOKEN_ENDPOINTS))
def test_a_token_reply_damaged_on_every_try_names_the_endpoint_not_the_credentials(
    extract_harness: HarnessFactory, system: str, damage: str
) -> None:
    stream, path = TOKEN_ENDPOINTS[system]
    harness = extract_harness(system)
    harness.fault(kind=damage, path=f"{path}$", rate=1.0)
    with pytest.raises(ExtractError) as raised:
        harness.run(stream, harness.source())
    text = str(raised.value)
    assert not isinstance(raised.value, CredentialsError)
    assert token_endpoint_url(harness, path) in text and "malformed" in text, text
    assert "refused" not in text and "credentials" not in text, text
    for secret in secrets_of(system, harness.env):
        assert secret not in text
    assert harness.store.get_watermark(system, stream) is None


def test_a_damaged_quickbooks_discovery_document_is_retried_and_named(extract_harness: HarnessFactory) -> None:
    harness = extract_harness("quickbooks")
    harness.fault(kind="html", path="/.well-known/openid", count=2)
    result = harness.run("Customer", harness.source())
    assert result.error is None and result.retry_reasons.get("malformed token reply", 0) >= 2, result.retry_reasons

    harness.fault(kind="truncated", path="/.well-known/openid", rate=1.0)
    with pytest.raises(ExtractError) as raised:
        harness.run("Customer", harness.source())
    text = str(raised.value)
    assert harness.env["QBO_DISCOVERY_URL"] in text and "malformed" in text, text


@pytest.mark.parametrize(("kind", "status"), [("throttle", 429), ("server_error", 500)])
def test_a_throttled_or_failing_quickbooks_discovery_document_is_retried(
    extract_harness: HarnessFactory, kind: str, status: int
) -> None:
    harness = extract_harness("quickbooks")
    harness.fault(kind=kind, path="/.well-known/openid", count=2)
    result = harness.run("Customer", harness.source())
    reason = f"discovery document HTTP {status}"
    assert result.error is None and result.retry_reasons.get(reason, 0) >= 2, result.retry_reasons
    assert harness.staged_keys("Customer", include_deleted=True)


@pytest.mark.parametrize("system", list(TOKEN_ENDPOINTS))
def test_refused_credentials_stay_a_credentials_error(extract_harness: HarnessFactory, system: str) -> None:
    stream, _path = TOKEN_ENDPOINTS[system]
    harness = extract_harness(system)
    variable = {"salesforce": "SALESFORCE_CLIENT_SECRET", "quickbooks": "QBO_CLIENT_SECRET", "esp": "ESP_CLIENT_SECRET"}
    with pytest.raises(CredentialsError):
        harness.run(stream, harness.source(**{variable[system]: "wrong-secret"}))
