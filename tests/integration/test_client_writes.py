"""The Salesforce and Intacct clients as RecordWriters: real simple-salesforce and httpx clients writing to the
emulators over sockets (sObject Collections, Bulk API 2.0, the XML gateway), every item's result read on its own,
what landed checked through the emulators' admin API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from crosswalk.clients.intacct import IntacctSource
from crosswalk.clients.salesforce import SalesforceSource
from crosswalk.sync.writer import WriteOp, WriteRequest, WriteResult
from tests.conftest import RunningEmulator
from tests.integration.extract_support import RETRY

PROJECT = "ia_crm__Project__c"
PROJECT_ID = "ia_crm__Project_ID__c"
# Every seeded record is left alone: the written ones are told apart by these prefixes.
SF_PREFIX = "PRJ-W-"
IA_PREFIX = "P-W-"

Start = Callable[..., RunningEmulator]
Client = TypeVar("Client", SalesforceSource, IntacctSource)


def admin_records(emulator: RunningEmulator, object_name: str) -> list[dict[str, Any]]:
    reply = emulator.admin("GET", f"records/{object_name}")
    assert reply.status_code == 200, reply.text
    return reply.json()["records"]


def reset_stats(emulator: RunningEmulator) -> None:
    assert emulator.admin("DELETE", "stats").status_code == 200


def stats(emulator: RunningEmulator) -> dict[str, Any]:
    return emulator.admin("GET", "stats").json()


def fault(emulator: RunningEmulator, **rule: Any) -> None:
    reply = emulator.admin("POST", "faults", json={"seed": 1, "faults": [rule]})
    assert reply.status_code == 200, reply.text


def route_calls(emulator: RunningEmulator, fragment: str) -> int:
    return sum(n for route, n in stats(emulator)["per_route"].items() if fragment in route)


def leaked(results: list[WriteResult], secrets: list[str], scrub: Callable[[str], str]) -> list[str]:
    """Errors that name a secret of the environment, or one the client knows (tokens, session ids)."""
    return [e for r in results for e in r.errors if any(s and s in e for s in secrets) or scrub(e) != e]


# ---- Salesforce ---------------------------------------------------------------------------------------------------


@pytest.fixture
def salesforce(start_emulator: Start) -> RunningEmulator:
    return start_emulator("salesforce")


def closing_factory(make: Callable[..., Client]) -> Iterator[Callable[..., Client]]:
    """A fixture body: `make(**options)` builds a client; every client built is closed after the test."""
    opened: list[Client] = []

    def build(**options: Any) -> Client:
        client = make(**options)
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.close()


@pytest.fixture
def sf_client(salesforce: RunningEmulator) -> Iterator[Callable[..., SalesforceSource]]:
    env = salesforce.env
    yield from closing_factory(
        lambda **options: SalesforceSource(
            instance_url=env["SALESFORCE_INSTANCE_URL"],
            client_id=env["SALESFORCE_CLIENT_ID"],
            client_secret=env["SALESFORCE_CLIENT_SECRET"],
            ca_bundle=env["SALESFORCE_CA_BUNDLE"],
            retry=RETRY,
            timeout=30,
            **{"bulk_poll_seconds": 0.01, **options},
        )
    )


def sf_upsert(i: int, **fields: Any) -> WriteRequest:
    project_id = f"{SF_PREFIX}{i:05d}"
    return WriteRequest(
        WriteOp.UPSERT,
        PROJECT,
        {"Name": f"Written project {i}", **fields},
        marker=f"sf-{i}",
        external_id=(PROJECT_ID, project_id),
    )


def written_sf_projects(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {
        r[PROJECT_ID]: r for r in admin_records(emulator, PROJECT) if str(r.get(PROJECT_ID) or "").startswith(SF_PREFIX)
    }


def test_450_upserts_are_3_collection_calls_and_running_them_again_creates_nothing(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client()
    requests = [sf_upsert(i) for i in range(450)]
    reset_stats(salesforce)
    first = client.write(requests)

    assert [r.request for r in first] == requests
    assert all(r.ok and r.created is True and r.key for r in first), [r for r in first if not r.ok][:3]
    assert route_calls(salesforce, "composite/sobjects/{sobject}/{field}") == 3
    assert stats(salesforce)["writes"] == 3
    assert client.meter.calls == 4  # and the token
    landed = written_sf_projects(salesforce)
    assert {p: r["Id"] for p, r in landed.items()} == {r.request.external_id[1]: r.key for r in first}  # type: ignore[index]

    again = client.write(requests)
    assert all(r.ok and r.created is False for r in again)
    assert [r.key for r in again] == [r.key for r in first]
    assert len(written_sf_projects(salesforce)) == 450


def test_a_failing_record_fails_alone_with_its_own_errors(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client()
    requests = [
        sf_upsert(0),
        sf_upsert(1, Name="x" * 81),  # Name holds 80 characters
        sf_upsert(2, ia_crm__Customer__c="001-not-an-id"),
        sf_upsert(3, No_Such_Field__c="x"),
        WriteRequest(WriteOp.CREATE, PROJECT, {"ia_crm__Description__c": "no name"}, marker="sf-create"),
        WriteRequest(WriteOp.UPDATE, PROJECT, {"Name": "no key"}, marker="sf-update"),  # no key: never sent
        sf_upsert(4),
    ]
    results = client.write(requests)

    assert [r.ok for r in results] == [True, False, False, False, False, False, True]
    assert results[1].errors[0].startswith("STRING_TOO_LONG: ")
    assert results[2].errors[0].startswith("MALFORMED_ID: ") and "ia_crm__Customer__c" in results[2].errors[0]
    assert results[3].errors[0].startswith("INVALID_FIELD: ")
    assert results[4].errors[0].startswith("REQUIRED_FIELD_MISSING: ") and "Name" in results[4].errors[0]
    assert results[5].errors[0].startswith("INVALID_REQUEST: ") and "sf-update" in results[5].errors[0]
    assert not any(r.retryable for r in results)
    assert set(written_sf_projects(salesforce)) == {f"{SF_PREFIX}00000", f"{SF_PREFIX}00004"}


def test_a_locked_row_is_retryable_and_a_server_error_is_retried_for_the_whole_call(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client()
    client.write([sf_upsert(99)])  # signed in: the faults below hit the writes
    fault(salesforce, kind="record_error", object=PROJECT, count=1)
    locked = client.write([sf_upsert(0), sf_upsert(1)])
    assert [r.ok for r in locked] == [False, True]
    assert locked[0].retryable and locked[0].errors[0].startswith("UNABLE_TO_LOCK_ROW: ")

    fault(salesforce, kind="server_error", path="composite/sobjects", count=1)
    client.meter.reset()
    retried = client.write([sf_upsert(0)])
    assert retried[0].ok and retried[0].created is True
    assert client.meter.retries == 1 and client.meter.calls == 2

    fault(salesforce, kind="server_error", path="composite/sobjects", count=10)
    exhausted = client.write([sf_upsert(5), sf_upsert(6)])
    assert all(not r.ok and r.retryable and r.errors[0].startswith("RETRIES_EXHAUSTED: ") for r in exhausted)
    secrets = [salesforce.env["SALESFORCE_CLIENT_SECRET"]]
    assert not leaked(locked + retried + exhausted, secrets, client.scrub)


def test_a_session_refused_again_after_its_renewal_leaves_the_records_to_retry(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client()
    client.write([sf_upsert(98)])  # signed in: the fault below hits the write and its one renewal
    fault(salesforce, kind="expire_session", path="composite/sobjects", count=2)
    [result] = client.write([sf_upsert(7)])
    assert not result.ok and result.retryable, result.errors  # not the record's fault: never quarantined for it
    [again] = client.write([sf_upsert(7)])
    assert again.ok


def test_a_group_above_the_bulk_threshold_goes_through_bulk_2_with_per_row_results(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client(bulk_threshold=100)
    client.write([sf_upsert(i, ia_crm__Description__c="to be cleared") for i in range(3)])  # existing ones
    requests = [sf_upsert(i, ia_crm__Description__c=None) for i in range(150)]
    requests[40] = sf_upsert(40, Name="y" * 81)
    requests[77] = sf_upsert(77, ia_crm__Budget_Amount__c="not a number")
    requests[90] = sf_upsert(90, Name='Quoted, "comma"\nand a new line')
    reset_stats(salesforce)
    results = client.write(requests)

    assert route_calls(salesforce, "composite/sobjects") == 0
    assert route_calls(salesforce, "POST /services/data/v{version}/jobs/ingest") == 1
    failed = {i for i, r in enumerate(results) if not r.ok}
    assert failed == {40, 77}
    assert results[40].errors[0].startswith("STRING_TOO_LONG: ") and not results[40].retryable
    assert results[77].errors[0].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD: ")
    assert [r.created for r in results[:3]] == [False, False, False]
    assert all(r.created is True for r in results[3:] if r.ok)
    landed = written_sf_projects(salesforce)
    assert {r.request.external_id[1]: r.key for r in results if r.ok} == {  # type: ignore[index]
        p: r["Id"] for p, r in landed.items()
    }
    assert landed[f"{SF_PREFIX}00000"]["ia_crm__Description__c"] is None  # #N/A set it to null
    assert landed[f"{SF_PREFIX}00090"]["Name"] == 'Quoted, "comma"\nand a new line'

    # Creates and updates of a bulk group are matched back to their requests by the row each sent.
    creates = [
        WriteRequest(WriteOp.CREATE, PROJECT, {"Name": f"Bulk created {i}"}, marker=f"c-{i}") for i in range(101)
    ]
    creates[5] = WriteRequest(WriteOp.CREATE, PROJECT, {"Name": "z" * 81}, marker="c-5")
    created = client.write(creates)
    assert [i for i, r in enumerate(created) if not r.ok] == [5]
    names = {r["Id"]: r["Name"] for r in admin_records(salesforce, PROJECT)}
    assert all(names[r.key] == r.request.fields["Name"] for r in created if r.ok)  # type: ignore[index]
    updates = [
        WriteRequest(WriteOp.UPDATE, PROJECT, {"Name": f"Renamed {i}"}, marker=f"u-{i}", key=r.key)
        for i, r in enumerate(created)
        if r.ok
    ]
    updated = client.write(updates)
    assert all(u.ok and u.key == u.request.key and u.created is False for u in updated)
    names = {r["Id"]: r["Name"] for r in admin_records(salesforce, PROJECT)}
    assert all(names[u.key] == u.request.fields["Name"] for u in updated)  # type: ignore[index]


def test_a_bulk_job_refused_as_a_whole_falls_back_to_collections_so_the_bad_record_fails_alone(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client(bulk_threshold=10)
    requests = [sf_upsert(i) for i in range(12)]
    requests[3] = sf_upsert(3, No_Such_Field__c="x")  # a column the object lacks fails the whole job
    reset_stats(salesforce)
    results = client.write(requests)
    assert route_calls(salesforce, "POST /services/data/v{version}/jobs/ingest") == 1
    assert route_calls(salesforce, "composite/sobjects") == 1
    assert [i for i, r in enumerate(results) if not r.ok] == [3]
    assert results[3].errors[0].startswith("INVALID_FIELD: ")
    assert len(written_sf_projects(salesforce)) == 11


def test_find_by_external_id_escapes_quotes_and_backslashes(
    salesforce: RunningEmulator, sf_client: Callable[..., SalesforceSource]
) -> None:
    client = sf_client()
    odd = ["PRJ-W-O'Hara", "PRJ-W-back\\slash", "PRJ-W-plain"]
    written = client.write(
        [WriteRequest(WriteOp.UPSERT, PROJECT, {"Name": v}, marker=v, external_id=(PROJECT_ID, v)) for v in odd]
    )
    assert all(r.ok for r in written)
    found = client.find(PROJECT, PROJECT_ID, [*odd, "PRJ-W-absent", "prj-w-plain"])
    assert set(found) == set(odd)  # external ids match with case
    assert {v: found[v]["Id"] for v in odd} == {v: r.key for v, r in zip(odd, written, strict=True)}
    many = client.find(PROJECT, PROJECT_ID, [f"PRJ-W-none-{i}" for i in range(450)] + ["PRJ-W-plain"])
    assert set(many) == {"PRJ-W-plain"}
    assert client.find(PROJECT, "Id", [written[0].key or ""])[written[0].key or ""]["Id"] == written[0].key


# ---- Intacct ------------------------------------------------------------------------------------------------------


@pytest.fixture
def intacct(start_emulator: Start) -> RunningEmulator:
    return start_emulator("intacct")


@pytest.fixture
def ia_client(intacct: RunningEmulator) -> Iterator[Callable[..., IntacctSource]]:
    env = intacct.env
    yield from closing_factory(
        lambda **options: IntacctSource(
            url=env["INTACCT_URL"],
            sender_id=env["INTACCT_SENDER_ID"],
            sender_password=env["INTACCT_SENDER_PASSWORD"],
            company_id=env["INTACCT_COMPANY_ID"],
            user_id=env["INTACCT_USER_ID"],
            user_password=env["INTACCT_USER_PASSWORD"],
            retry=RETRY,
            timeout=30,
            **options,
        )
    )


def ia_create(i: int, scope: str | None = None, **fields: Any) -> WriteRequest:
    values: dict[str, Any] = {
        "PROJECTID": f"{IA_PREFIX}{i:04d}",
        "NAME": f"Written project {i}",
        "PROJECTCATEGORY": "Contract",
        "BEGINDATE": "01/31/2025",
    }
    if scope is None:
        values["LOCATIONID"] = "E100"
    values.update(fields)
    return WriteRequest(WriteOp.CREATE, "PROJECT", values, marker=f"ia-{i}-{scope}", scope=scope)


def written_ia_projects(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return {r["PROJECTID"]: r for r in admin_records(emulator, "PROJECT") if str(r["PROJECTID"]).startswith(IA_PREFIX)}


def test_150_creates_are_2_requests_and_a_duplicate_projectid_fails_alone(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    existing = admin_records(intacct, "PROJECT")[0]["PROJECTID"]
    requests = [ia_create(i) for i in range(150)]
    requests[70] = ia_create(70, PROJECTID=existing)
    requests[71] = ia_create(71, NAME="Ampersand & <angle> \"quotes\" 'apostrophes'")
    reset_stats(intacct)
    results = client.write(requests)

    assert stats(intacct)["writes"] == 2
    assert [r.request for r in results] == requests
    assert [i for i, r in enumerate(results) if not r.ok] == [70]
    assert results[70].errors[0].startswith("BL34000061: Another Project with the given value(s)")
    assert not results[70].retryable
    landed = written_ia_projects(intacct)
    assert len(landed) == 149
    assert {p: str(r["RECORDNO"]) for p, r in landed.items()} == {
        r.request.fields["PROJECTID"]: r.key for r in results if r.ok
    }
    assert landed[f"{IA_PREFIX}0071"]["NAME"] == "Ampersand & <angle> \"quotes\" 'apostrophes'"
    assert landed[f"{IA_PREFIX}0000"]["BEGINDATE"] == "01/31/2025"


def test_a_replayed_marker_is_not_applied_twice_and_answers_with_the_record_it_made(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    requests = [ia_create(i) for i in range(3)]
    first = client.write(requests)
    assert all(r.ok and r.created for r in first)
    update = WriteRequest(WriteOp.UPDATE, "PROJECT", {"NAME": "Renamed"}, marker="rename-0", key=first[0].key)
    assert client.write([update])[0].ok

    again = ia_client()  # a new client, as after a crash: same markers, new session
    replayed = again.write([*requests, update])
    assert all(r.ok for r in replayed)
    assert [r.key for r in replayed] == [r.key for r in first] + [first[0].key]
    assert len(written_ia_projects(intacct)) == 3
    assert written_ia_projects(intacct)[f"{IA_PREFIX}0000"]["NAME"] == "Renamed"


def test_a_damaged_reply_is_resent_and_the_functions_it_applied_are_not_applied_again(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    client.write([ia_create(900)])  # signed in: the faults below hit the writes
    fault(intacct, kind="truncated", path="xmlgw", count=1)  # applied, but the reply is cut in half
    client.meter.reset()
    results = client.write([ia_create(i) for i in range(4)])
    assert all(r.ok and r.created for r in results), results
    assert client.meter.retries == 1
    landed = written_ia_projects(intacct)
    assert len(landed) == 5
    assert [r.key for r in results] == [str(landed[f"{IA_PREFIX}{i:04d}"]["RECORDNO"]) for i in range(4)]

    fault(intacct, kind="truncated", path="xmlgw", count=10)
    damaged = client.write([ia_create(i) for i in range(4, 6)])
    assert all(not r.ok and r.retryable and r.errors[0].startswith("RETRIES_EXHAUSTED: ") for r in damaged)
    secrets = [intacct.env["INTACCT_SENDER_PASSWORD"], intacct.env["INTACCT_USER_PASSWORD"]]
    assert not leaked(damaged, secrets, client.scrub)
    fault(intacct, kind="truncated", path="xmlgw", count=0)
    resent = client.write([ia_create(i) for i in range(4, 6)])  # a later run: the same markers
    assert all(r.ok for r in resent)
    assert len(written_ia_projects(intacct)) == 7


def test_entity_scoped_writes_land_private_to_the_entity_through_one_session_per_entity(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    top = client.write([ia_create(0)])
    assert top[0].ok
    opened = client.gateway.sessions_opened
    first = client.write([ia_create(1, scope="E200"), ia_create(2, scope="E300"), ia_create(3, scope="E200")])
    assert all(r.ok for r in first)
    second = client.write([ia_create(4, scope="E200")])
    assert second[0].ok
    assert client.gateway.sessions_opened == opened + 2  # E200 and E300, each once

    landed = written_ia_projects(intacct)
    entities = {p: (r["MEGAENTITYID"], r["LOCATIONID"]) for p, r in landed.items()}
    assert entities == {
        f"{IA_PREFIX}0000": ("", "E100"),
        f"{IA_PREFIX}0001": ("E200", "E200"),
        f"{IA_PREFIX}0002": ("E300", "E300"),
        f"{IA_PREFIX}0003": ("E200", "E200"),
        f"{IA_PREFIX}0004": ("E200", "E200"),
    }
    # An entity changes only its own records; the refusal fails that update alone.
    updates = [
        WriteRequest(
            WriteOp.UPDATE, "PROJECT", {"NAME": "From E300"}, marker="u-e300-1", key=first[0].key, scope="E300"
        ),
        WriteRequest(
            WriteOp.UPDATE, "PROJECT", {"NAME": "From E300"}, marker="u-e300-2", key=first[1].key, scope="E300"
        ),
    ]
    assert [r.ok for r in client.write(updates)] == [False, True]
    unknown = client.write([ia_create(5, scope="E999")])
    assert not unknown[0].ok and "E999" in unknown[0].errors[0]


def test_a_value_xml_cannot_carry_fails_its_request_alone(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    requests = [ia_create(0), ia_create(1, DESCRIPTION="bell \x07 in text"), ia_create(2)]
    results = client.write(requests)
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].errors[0]
    assert error.startswith("INVALID_REQUEST: intacct PROJECT ia-1-None") and "DESCRIPTION" in error
    assert "'\\x07'" in error and not results[1].retryable
    assert set(written_ia_projects(intacct)) == {f"{IA_PREFIX}0000", f"{IA_PREFIX}0002"}


def test_find_by_projectid_sees_entity_records_and_quotes_values(
    intacct: RunningEmulator, ia_client: Callable[..., IntacctSource]
) -> None:
    client = ia_client()
    odd = ia_create(1, PROJECTID="P-W-O'Neil\\x")
    results = client.write([ia_create(0), odd, ia_create(2, scope="E200")])
    assert all(r.ok for r in results), results
    wanted = [f"{IA_PREFIX}0000", "P-W-O'Neil\\x", f"{IA_PREFIX}0002", "P-W-absent", "p-w-0000"]
    found = client.find("PROJECT", "PROJECTID", wanted)
    assert {v: r["RECORDNO"] for v, r in found.items()} == {
        f"{IA_PREFIX}0000": results[0].key,
        "P-W-O'Neil\\x": results[1].key,
        f"{IA_PREFIX}0002": results[2].key,
    }
    assert found[f"{IA_PREFIX}0002"]["MEGAENTITYID"] == "E200"
    tasks = admin_records(intacct, "TASK")[:3]
    by_task = client.find("TASK", "TASKID", [t["TASKID"] for t in tasks])
    assert {t["TASKID"] for t in tasks} == set(by_task)
    secrets = [intacct.env["INTACCT_SENDER_PASSWORD"], intacct.env["INTACCT_USER_PASSWORD"]]
    assert not leaked(results, secrets, client.scrub)
