"""The admin seed of every emulator refuses text no API reply could carry (a lone surrogate, sent as the JSON escape
`\\ud800`) with HTTP 400 naming object, record and field, and stores nothing of that seed: the API keeps answering
for the object instead of failing with HTTP 500 on every later read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import RunningEmulator

LONE = "\ud800 x"

# system: (object, a valid record, the text field set to a lone surrogate, the field naming the record in the error)
CASES: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "intacct": ("CUSTOMER", {"CUSTOMERID": "C-SURROGATE", "NAME": "ok"}, "NAME", "CUSTOMERID"),
    "salesforce": ("Account", {"Name": "Surrogate Account", "Description": "ok"}, "Description", "Name"),
    "quickbooks": ("Customer", {"Id": "990002", "DisplayName": "Surrogate", "CompanyName": "ok"}, "CompanyName", "Id"),
    "esp": ("Company", {"Name": "Surrogate Company", "Website": "ok"}, "Website", "Name"),
}


def seed_raw(emulator: RunningEmulator, records: dict[str, Any]) -> httpx.Response:
    """POST the seed as JSON text with \\u escapes (ensure_ascii), as a client that escapes every non-ASCII would."""
    body = json.dumps({"records": records}, ensure_ascii=True).encode("ascii")
    assert b"\\ud800" in body
    return emulator.admin("POST", "seed", content=body, headers={"content-type": "application/json"})


def seed_raw_ok(emulator: RunningEmulator, records: dict[str, Any]) -> bool:
    reply = emulator.admin("POST", "seed", json={"records": records})
    return reply.status_code == 200


def listed(emulator: RunningEmulator, object_name: str) -> list[dict[str, Any]]:
    reply = emulator.admin("GET", f"records/{object_name}")
    assert reply.status_code == 200, reply.text
    return reply.json()["records"]


@pytest.mark.parametrize("system", list(CASES))
def test_a_lone_surrogate_is_refused_at_the_seed_naming_record_and_field(
    start_emulator: Callable[..., RunningEmulator], system: str
) -> None:
    emulator = start_emulator(system)
    object_name, valid, text_field, name_field = CASES[system]
    before = len(listed(emulator, object_name))
    good = {**valid, text_field: "fine"}

    refused = seed_raw(emulator, {object_name: [good, {**valid, text_field: LONE}]})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error.startswith(f"{object_name} record 2 ({name_field} {valid[name_field]!r}): field {text_field} "), error
    assert "lone surrogate U+D800" in error

    # Nothing of the refused seed is stored (not even its good first record); the object still reads.
    assert len(listed(emulator, object_name)) == before
    assert seed_raw_ok(emulator, {object_name: [good]})
    assert len(listed(emulator, object_name)) == before + 1


def test_the_field_named_is_the_nested_one_and_a_field_name_counts_too(
    start_emulator: Callable[..., RunningEmulator],
) -> None:
    emulator = start_emulator("quickbooks")
    nested = seed_raw(emulator, {"Customer": [{"DisplayName": "Nested", "BillAddr": {"Line1": "ok", "City": LONE}}]})
    assert nested.status_code == 400
    assert nested.json()["error"].startswith("Customer record 1 (DisplayName 'Nested'): field BillAddr.City holds")
    named = seed_raw(emulator, {"Customer": [{"DisplayName": "Key", "\ud800": "x"}]})
    assert named.status_code == 400
    assert "field \\ud800 (its name) holds a lone surrogate" in named.json()["error"]
