"""ESP+ streams extracted by the real client (httpx with the client-credentials token flow) from the emulator over a
socket, through the shared extract loop, into SQLite and PostgreSQL staging stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from crosswalk.extract.errors import CredentialsError
from tests.integration.extract_support import (
    Harness,
    HarnessFactory,
    secrets_of,
)

SYSTEM = "esp"
# Streams whose records can be deactivated (IsActive=false): staged, but flagged deleted.
WITH_STATUS = ("companies", "contacts", "users")


@pytest.fixture
def esp(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


@pytest.fixture
def writer(esp: Harness) -> Iterator[httpx.Client]:
    """An httpx client holding an ESP+ token, the way an ESP+ integration writes."""
    env = esp.env
    origin = urlsplit(env["ESP_URL"])
    with httpx.Client(timeout=30) as token_client:
        reply = token_client.post(
            f"{origin.scheme}://{origin.netloc}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]),
        )
    assert reply.status_code == 200, reply.text
    headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
    with httpx.Client(base_url=env["ESP_URL"].rstrip("/") + "/", headers=headers, timeout=30) as client:
        yield client


def key_of(harness: Harness, object_name: str, record: dict[str, Any]) -> str:
    key = harness.spec(object_name).key_of(record)
    assert key is not None, record
    return key


def admin_keys(harness: Harness, object_name: str) -> tuple[set[str], set[str]]:
    """(every key the API serves for the stream, the keys of active records)."""
    records = harness.admin_records(object_name)
    if object_name == "quickbooks_links":
        records = [r for r in records if r.get("IsLinked")]  # the stream reads the links that are set
    every = {key_of(harness, object_name, r) for r in records}
    active = {key_of(harness, object_name, r) for r in records if r.get("IsActive") is not False}
    return every, active


def test_first_run_stages_every_record_and_a_second_run_reads_little_and_writes_nothing(esp: Harness) -> None:
    source = esp.source()
    esp.reset_stats()
    for spec in esp.streams:
        result = esp.run(spec.object, source, "first")
        every, active = admin_keys(esp, spec.object)
        assert every, spec.name
        assert esp.staged_keys(spec.object, include_deleted=True) == every, spec.name
        assert esp.staged_keys(spec.object) == active, spec.name
        assert result.rows_read == len(every)
    assert esp.stats()["writes"] == 0

    esp.assert_a_second_run_reads_little_and_writes_nothing()  # a new run: a new client and token


def test_first_run_reads_within_the_page_budget(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"contacts": 640, "invoices": 240})
    source = harness.source()
    for object_name in ("contacts", "orders"):
        every, _active = admin_keys(harness, object_name)
        harness.assert_first_run_within_page_budget(source, object_name, every, include_deleted=True)
    assert len(harness.admin_records("contacts")) > 5 * harness.spec("contacts").page_size


def test_a_company_created_updated_and_deleted_through_the_api_follows_in_staging(
    esp: Harness, writer: httpx.Client
) -> None:
    source = esp.source()
    esp.run("companies", source)

    created = writer.post("companies", json={"Name": "Live Company", "IsCustomer": True})
    assert created.status_code == 201, created.text
    company = created.json()
    key = str(company["Id"])
    appeared = esp.run("companies", source)
    assert appeared.counts.new == 1
    row = esp.store.staged_record(SYSTEM, "companies", key)
    assert row is not None and row["payload"]["Name"] == "Live Company" and not row["deleted"]

    updated = writer.put(f"companies/{key}", json={"Name": "Renamed Company", "Version": company["Version"]})
    assert updated.status_code == 200, updated.text
    changed = esp.run("companies", source)
    assert changed.counts.changed == 1 and changed.counts.new == 0
    row = esp.store.staged_record(SYSTEM, "companies", key)
    assert row is not None and row["payload"]["Name"] == "Renamed Company" and not row["deleted"]

    assert writer.delete(f"companies/{key}").status_code == 204
    # A soft delete too: a seeded company made inactive is flagged deleted by the same run.
    seeded = next(r for r in esp.admin_records("companies") if r["IsActive"] and str(r["Id"]) != key)
    deactivated = writer.put(f"companies/{seeded['Id']}", json={"IsActive": False, "Version": seeded["Version"]})
    assert deactivated.status_code == 200, deactivated.text
    gone = esp.run("companies", source)
    assert gone.counts.deleted == 2
    row = esp.store.staged_record(SYSTEM, "companies", key)
    assert row is not None and row["deleted"] is True
    inactive = esp.store.staged_record(SYSTEM, "companies", str(seeded["Id"]))
    assert inactive is not None and inactive["deleted"] is True and inactive["payload"]["IsActive"] is False
    assert esp.staged_keys("companies") == admin_keys(esp, "companies")[1]


def test_an_expired_token_is_replaced(esp: Harness) -> None:
    source = esp.source()
    esp.run("users", source)
    esp.reset_stats()
    esp.fault(kind="expire_session", path="/orders/search", count=1)
    result = esp.run("orders", source)
    assert result.error is None
    assert esp.stats()["sessions"] == 1 and source.tokens_fetched == 2  # type: ignore[attr-defined]
    assert esp.staged_keys("orders") == admin_keys(esp, "orders")[1]


def test_refused_client_credentials_raise_without_any_secret_in_the_text(esp: Harness) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    source = esp.source(ESP_CLIENT_SECRET=wrong)
    with pytest.raises(CredentialsError) as raised:
        esp.run("companies", source)
    text = str(raised.value)
    for secret in [*secrets_of(SYSTEM, esp.env), wrong]:
        assert secret not in text
    assert esp.store.get_watermark(SYSTEM, "companies") is None
