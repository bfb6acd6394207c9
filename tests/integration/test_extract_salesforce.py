"""Salesforce streams extracted by the real client (simple-salesforce over HTTPS, client-credentials OAuth) from the
emulator over a socket, through the shared extract loop, into SQLite and PostgreSQL staging stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from crosswalk.extract.errors import CredentialsError
from tests.integration.extract_support import (
    Harness,
    HarnessFactory,
    page_budget,
    secrets_of,
)

SYSTEM = "salesforce"
MY_DOMAIN = "crosswalk-sandbox.my"


class InstanceRedirect(HTTPAdapter):
    """Sends what simple-salesforce addresses to https://{domain}.salesforce.com to the emulator instead."""

    def __init__(self, instance_url: str) -> None:
        super().__init__()
        self.instance_url = instance_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = self.instance_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


@pytest.fixture
def salesforce(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


@pytest.fixture
def writer(salesforce: Harness) -> Iterator[Salesforce]:
    """simple-salesforce logged in by client credentials, as a Salesforce user's integration writes."""
    env = salesforce.env
    session = requests.Session()
    session.verify = env["SALESFORCE_CA_BUNDLE"]
    session.trust_env = False
    session.mount(f"https://{MY_DOMAIN}.salesforce.com", InstanceRedirect(env["SALESFORCE_INSTANCE_URL"]))
    yield Salesforce(
        consumer_key=env["SALESFORCE_CLIENT_ID"],
        consumer_secret=env["SALESFORCE_CLIENT_SECRET"],
        domain=MY_DOMAIN,
        session=session,
        version="59.0",
    )
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

    before = {spec.object: salesforce.staged_rows(spec.object) for spec in salesforce.streams}
    second_source = salesforce.source()  # a new run: a new client and token
    for spec in salesforce.streams:
        salesforce.reset_stats()
        result = salesforce.run(spec.object, second_source, "second")
        stats = salesforce.stats()
        assert stats["writes"] == 0, spec.name
        assert stats["reads"] <= 2, (spec.name, stats)
        assert result.counts.new == result.counts.changed == result.counts.deleted == 0
        assert salesforce.staged_rows(spec.object) == before[spec.object], spec.name
    assert salesforce.rows_written_by("second") == 0


def test_first_run_reads_within_the_page_budget(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"projects": 300, "tasks": 5000})
    source = harness.source()
    for object_name in ("ia_crm__Task__c", "ia_crm__Project__c"):
        harness.reset_stats()
        result = harness.run(object_name, source)
        stats = harness.stats()
        records = len(harness.admin_records(object_name))
        budget = page_budget(records, harness.spec(object_name).page_size)
        assert result.rows_read == records
        assert stats["reads"] <= budget, (object_name, stats, budget)
        assert result.api_calls <= budget + stats["sessions"], (object_name, result.api_calls)
        assert harness.staged_keys(object_name) == admin_keys(harness, object_name)
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
