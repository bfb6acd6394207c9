"""Salesforce streams extracted by the real client (simple-salesforce over HTTPS, client-credentials OAuth) from the
emulator over a socket, through the shared extract loop, into SQLite and PostgreSQL staging stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from crosswalk.extract.errors import CredentialsError
from tests.integration.extract_support import (
    Harness,
    HarnessFactory,
    secrets_of,
)
from tests.salesforce_client import connect, sandbox_session

SYSTEM = "salesforce"
@pytest.fixture
def salesforce(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


@pytest.fixture
def writer(salesforce: Harness) -> Iterator[Salesforce]:
    """simple-salesforce logged in by client credentials, as a Salesforce user's integration writes."""
    session = sandbox_session(salesforce.env)
    yield connect(salesforce.env, session)
    session.close()


def admin_keys(harness: Harness, object_name: str) -> set[str]:
    """Ids of the emulator's current (not deleted) records."""
    return {record["Id"] for record in harness.admin_records(object_name)}


def test_first_run_stages_every_record_and_a_second_run_reads_little_and_writes_nothing(
    salesforce: Harness, writer: Salesforce
) -> None:
    source = salesforce.source()
    salesforce.reset_stats()
    for spec in salesforce.streams:
        result = salesforce.run(spec.object, source, "first")
        live = admin_keys(salesforce, spec.object)
        assert live, spec.name
        assert salesforce.staged_keys(spec.object) == live, spec.name
        # queryAll also returns the recycle bin: those rows are staged flagged deleted, and nothing else is.
        binned = {
            r["Id"]
            for r in writer.query_all(f"SELECT Id FROM {spec.object} WHERE IsDeleted = true", include_deleted=True)[
                "records"
            ]
        }
        assert salesforce.staged_keys(spec.object, include_deleted=True) == live | binned, spec.name
        assert result.rows_read == len(live | binned)
    assert salesforce.stats()["writes"] == 0

    salesforce.assert_a_second_run_reads_little_and_writes_nothing()  # a new run: a new client and token


def test_first_run_reads_within_the_page_budget(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"projects": 300, "tasks": 5000})
    source = harness.source()
    for object_name in ("ia_crm__Task__c", "ia_crm__Project__c"):
        harness.assert_first_run_within_page_budget(source, object_name, admin_keys(harness, object_name))
    assert len(harness.admin_records("ia_crm__Task__c")) > harness.spec("ia_crm__Task__c").page_size


def test_an_account_created_updated_and_deleted_through_the_api_follows_in_staging(
    salesforce: Harness, writer: Salesforce
) -> None:
    source = salesforce.source()
    salesforce.run("Account", source)

    account_id = writer.Account.create({"Name": "Live Account", "Industry": "Retail"})["id"]
    appeared = salesforce.run("Account", source)
    assert appeared.counts.new == 1
    row = salesforce.store.staged_record(SYSTEM, "Account", account_id)
    assert row is not None and row["payload"]["Name"] == "Live Account" and not row["deleted"]

    assert writer.Account.update(account_id, {"Name": "Renamed Account"}) == 204
    changed = salesforce.run("Account", source)
    assert changed.counts.changed == 1 and changed.counts.new == 0
    row = salesforce.store.staged_record(SYSTEM, "Account", account_id)
    assert row is not None and row["payload"]["Name"] == "Renamed Account" and not row["deleted"]

    assert writer.Account.delete(account_id) == 204
    gone = salesforce.run("Account", source)
    assert gone.counts.deleted == 1
    row = salesforce.store.staged_record(SYSTEM, "Account", account_id)
    assert row is not None and row["deleted"] is True and row["payload"]["IsDeleted"] is True
    assert salesforce.staged_keys("Account") == admin_keys(salesforce, "Account")


def test_an_expired_session_gets_a_new_token(salesforce: Harness) -> None:
    source = salesforce.source()
    salesforce.run("Contract", source)
    salesforce.reset_stats()
    salesforce.fault(kind="expire_session", path="/queryAll", count=1)
    result = salesforce.run("Opportunity", source)
    assert result.error is None
    assert salesforce.stats()["sessions"] == 1
    assert source.tokens_fetched == 2  # type: ignore[attr-defined]
    assert salesforce.staged_keys("Opportunity") == admin_keys(salesforce, "Opportunity")


def test_refused_client_credentials_raise_without_any_secret_in_the_text(salesforce: Harness) -> None:
    wrong = f"WRONGSECRET{uuid.uuid4().hex}"
    source = salesforce.source(SALESFORCE_CLIENT_SECRET=wrong)
    with pytest.raises(CredentialsError) as raised:
        salesforce.run("Account", source)
    text = str(raised.value)
    for secret in [*secrets_of(SYSTEM, salesforce.env), wrong]:
        assert secret not in text
    assert salesforce.store.get_watermark(SYSTEM, "Account") is None
