"""QuickBooks Online streams extracted by the real clients (python-quickbooks and intuit-oauth over HTTPS) from the
emulator over a socket, through the shared extract loop, into SQLite and PostgreSQL staging stores; the rotating
refresh token is kept in the staging store and survives a crash between refresh and save."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest
from quickbooks import QuickBooks
from quickbooks.objects import Customer, Invoice, Item
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

from crosswalk.clients.quickbooks import refresh_token_credential
from crosswalk.extract.errors import CredentialsError, ExtractError
from crosswalk.staging import StagingStore
from tests.integration.extract_support import (
    Harness,
    HarnessFactory,
    secrets_of,
)
from tests.quickbooks_client import connected_quickbooks

SYSTEM = "quickbooks"
NAME_LISTS = ("Customer", "Vendor", "Item", "Account", "TaxCode", "Term", "Class")

warnings.filterwarnings("ignore", category=DeprecationWarning, module="quickbooks")


@pytest.fixture
def quickbooks(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


@pytest.fixture
def writer(quickbooks: Harness) -> Iterator[QuickBooks]:
    """python-quickbooks connected the documented way (its own grant token rotation is the emulator's business)."""
    with connected_quickbooks(quickbooks.env) as qb:
        yield qb


def current_refresh_token(harness: Harness) -> str:
    """The emulator's live refresh token of the sandbox grant (the one a client must keep)."""
    grants = list(harness.emulator.backend.oauth.grants.values())  # type: ignore[attr-defined]
    assert len(grants) == 1
    return grants[0].refresh_token


def admin_keys(harness: Harness, object_name: str) -> tuple[set[str], set[str]]:
    """(every record's Id, the Ids of active ones): name-list records with Active=false count as deleted."""
    records = harness.admin_records(object_name)
    every = {str(r["Id"]) for r in records}
    active = {str(r["Id"]) for r in records if r.get("Active") is not False}
    return every, active


def test_first_run_stages_every_record_and_a_second_run_reads_little_and_writes_nothing(quickbooks: Harness) -> None:
    source = quickbooks.source()
    quickbooks.reset_stats()
    for spec in quickbooks.streams:
        result = quickbooks.run(spec.object, source, "first")
        every, active = admin_keys(quickbooks, spec.object)
        assert every, spec.name
        assert quickbooks.staged_keys(spec.object, include_deleted=True) == every, spec.name
        assert quickbooks.staged_keys(spec.object) == active, spec.name
        assert result.rows_read == len(every)
    assert quickbooks.stats()["writes"] == 0

    # A new run: a new client, its token refreshed from the store's copy.
    quickbooks.assert_a_second_run_reads_little_and_writes_nothing()


def test_first_run_reads_within_the_page_budget(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"invoices": 2600})
    source = harness.source()
    for object_name in ("Invoice", "Customer"):
        every, _active = admin_keys(harness, object_name)
        harness.assert_first_run_within_page_budget(source, object_name, every, include_deleted=True)
    assert len(harness.admin_records("Invoice")) > 2 * harness.spec("Invoice").page_size


def test_a_customer_created_updated_and_made_inactive_follows_in_staging(
    quickbooks: Harness, writer: QuickBooks
) -> None:
    source = quickbooks.source()
    quickbooks.run("Customer", source)

    customer = Customer()
    customer.DisplayName = "Live Customer"
    customer = customer.save(qb=writer)
    appeared = quickbooks.run("Customer", source)
    assert appeared.counts.new == 1
    row = quickbooks.store.staged_record(SYSTEM, "Customer", customer.Id)
    assert row is not None and row["payload"]["DisplayName"] == "Live Customer" and not row["deleted"]

    customer.DisplayName = "Renamed Customer"
    customer = customer.save(qb=writer)
    changed = quickbooks.run("Customer", source)
    assert changed.counts.changed == 1 and changed.counts.new == 0
    row = quickbooks.store.staged_record(SYSTEM, "Customer", customer.Id)
    assert row is not None and row["payload"]["DisplayName"] == "Renamed Customer" and not row["deleted"]

    customer.Active = False  # QBO's way to delete a name-list object
    customer.save(qb=writer)
    gone = quickbooks.run("Customer", source)
    assert gone.counts.deleted == 1
    row = quickbooks.store.staged_record(SYSTEM, "Customer", customer.Id)
    assert row is not None and row["deleted"] is True and row["payload"]["Active"] is False


def test_an_invoice_created_updated_and_deleted_follows_in_staging_through_cdc(
    quickbooks: Harness, writer: QuickBooks
) -> None:
    source = quickbooks.source()
    quickbooks.run("Invoice", source)

    invoice = Invoice()
    line = SalesItemLine()
    line.Amount = 150.5
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.all(qb=writer, max_results=1)[0].to_ref()
    line.SalesItemLineDetail.Qty = 2
    line.SalesItemLineDetail.UnitPrice = 75.25
    invoice.Line = [line]
    invoice.CustomerRef = Customer.filter(Active=True, max_results=1, qb=writer)[0].to_ref()
    invoice = invoice.save(qb=writer)
    appeared = quickbooks.run("Invoice", source)
    assert appeared.counts.new == 1
    row = quickbooks.store.staged_record(SYSTEM, "Invoice", invoice.Id)
    assert row is not None and row["payload"]["TotalAmt"] == 150.5 and not row["deleted"]

    invoice.PrivateNote = "Changed in QuickBooks"
    invoice = invoice.save(qb=writer)
    changed = quickbooks.run("Invoice", source)
    assert changed.counts.changed == 1 and changed.counts.new == 0
    row = quickbooks.store.staged_record(SYSTEM, "Invoice", invoice.Id)
    assert row is not None and row["payload"]["PrivateNote"] == "Changed in QuickBooks"

    invoice.delete(qb=writer)
    quickbooks.reset_stats()
    gone = quickbooks.run("Invoice", source)  # the watermark is minutes old: CDC answers, no key scan is due
    assert gone.counts.deleted == 1 and not gone.key_scan
    assert any("/cdc" in route for route in quickbooks.stats()["per_route"])
    row = quickbooks.store.staged_record(SYSTEM, "Invoice", invoice.Id)
    assert row is not None and row["deleted"] is True
    assert quickbooks.staged_keys("Invoice") == admin_keys(quickbooks, "Invoice")[1]


def test_an_expired_access_token_is_refreshed_and_the_new_refresh_token_kept(quickbooks: Harness) -> None:
    source = quickbooks.source()
    quickbooks.run("Vendor", source)
    quickbooks.reset_stats()
    quickbooks.fault(kind="expire_session", path="/query$", count=1)
    result = quickbooks.run("Customer", source)
    assert result.error is None
    assert quickbooks.stats()["sessions"] == 1 and source.refreshes == 2  # type: ignore[attr-defined]
    assert quickbooks.staged_keys("Customer", include_deleted=True) == admin_keys(quickbooks, "Customer")[0]
    credential = quickbooks.store.get_credential(SYSTEM, refresh_token_credential(quickbooks.env["QBO_REALM_ID"]))
    assert credential == current_refresh_token(quickbooks)


class WatchedStore(StagingStore):
    """A staging store that notes, at each credential save, how many API data calls the emulator had served."""

    def __init__(self, url: str, harness: Harness, fail_saves: int = 0) -> None:
        super().__init__(url)
        self.harness = harness
        self.fail_saves = fail_saves
        self.saves: list[tuple[str, int]] = []

    def set_credential(self, system: str, name: str, value: str) -> None:
        stats = self.harness.stats()
        self.saves.append((value, stats["reads"] + stats["writes"]))
        if self.fail_saves:
            self.fail_saves -= 1
            raise RuntimeError("process killed between the token refresh and its save")
        super().set_credential(system, name, value)


def test_the_rotated_refresh_token_is_stored_before_it_is_used(quickbooks: Harness, store: StagingStore) -> None:
    watched = WatchedStore(store.url, quickbooks)
    try:
        quickbooks.reset_stats()
        source = quickbooks.source(store=watched)
        quickbooks.run("Customer", source, store=watched)
        rotated = current_refresh_token(quickbooks)
        assert rotated != quickbooks.env["QBO_REFRESH_TOKEN"]
        assert watched.saves == [(rotated, 0)]  # saved once, before any API call used the new tokens
        credential = refresh_token_credential(quickbooks.env["QBO_REALM_ID"])
        assert store.get_credential(SYSTEM, credential) == rotated

        # The next run starts from the store's copy, not the environment's (long since replaced) first token.
        quickbooks.run("Vendor", quickbooks.source(), store=store)
        assert store.get_credential(SYSTEM, credential) == current_refresh_token(quickbooks) != rotated
    finally:
        watched.dispose()


@pytest.mark.parametrize("earlier_run", [True, False], ids=["token_in_store", "token_in_env_only"])
def test_a_token_refreshed_but_not_saved_before_a_kill_still_connects(
    quickbooks: Harness, store: StagingStore, earlier_run: bool
) -> None:
    credential = refresh_token_credential(quickbooks.env["QBO_REALM_ID"])
    if earlier_run:
        quickbooks.run("Customer", quickbooks.source())
    saved = store.get_credential(SYSTEM, credential)
    assert saved == (current_refresh_token(quickbooks) if earlier_run else None)

    killed = WatchedStore(store.url, quickbooks, fail_saves=1)
    try:
        with pytest.raises(ExtractError, match="killed"):
            quickbooks.run("Vendor", quickbooks.source(store=killed), store=killed)
    finally:
        killed.dispose()
    lost = current_refresh_token(quickbooks)
    assert lost not in (saved, quickbooks.env["QBO_REFRESH_TOKEN"])
    assert store.get_credential(SYSTEM, credential) == saved  # the rotated token never reached disk
    assert store.get_watermark(SYSTEM, "Vendor") is None

    # A fresh process: the token it starts from (the store's, else the environment's) was replaced by the lost one
    # but is still honoured within the emulator's 24 h grace, as Intuit documents.
    result = quickbooks.run("Vendor", quickbooks.source())
    assert result.error is None
    assert quickbooks.staged_keys("Vendor", include_deleted=True) == admin_keys(quickbooks, "Vendor")[0]
    assert store.get_credential(SYSTEM, credential) == current_refresh_token(quickbooks) not in (saved, lost)


@pytest.mark.parametrize("variable", ["QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN"])
def test_refused_credentials_raise_without_any_secret_in_the_text(quickbooks: Harness, variable: str) -> None:
    wrong = f"AB11{uuid.uuid4().hex}"
    source = quickbooks.source(**{variable: wrong})
    with pytest.raises(CredentialsError) as raised:
        quickbooks.run("Customer", source)
    text = str(raised.value)
    for secret in [*secrets_of(SYSTEM, quickbooks.env), wrong]:
        assert secret not in text
    assert quickbooks.store.get_watermark(SYSTEM, "Customer") is None
