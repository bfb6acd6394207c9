"""Intacct values and replies XML cannot hold, end to end over a socket (the emulator, Crosswalk's gateway client, the
extract loop, SQLite and PostgreSQL): a value seeded with control characters extracts without them, and a reply that
is not well-formed stops the stream with an error naming the record the damage is in."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from crosswalk.extract.errors import BadResponseError
from tests.integration.extract_support import HarnessFactory

SYSTEM = "intacct"


def test_a_value_with_control_characters_extracts_without_them(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM)
    seeded = harness.emulator.admin("POST", "seed", json={"records": {"CUSTOMER": [
        {"CUSTOMERID": "C-CTRL", "NAME": "ctrl\u0000\u0001\u001b end"},
    ]}})
    assert seeded.status_code == 200, seeded.text
    source = harness.source()
    first = harness.run("CUSTOMER", source)
    assert first.error is None
    recordno = next(str(r["RECORDNO"]) for r in harness.admin_records("CUSTOMER") if r["CUSTOMERID"] == "C-CTRL")
    staged = harness.store.staged_record(SYSTEM, "CUSTOMER", recordno)
    assert staged is not None and staged["payload"]["NAME"] == "ctrl end"
    assert harness.run("CUSTOMER", source).error is None  # and on every later run


def test_a_reply_that_is_not_well_formed_names_the_record_the_damage_is_in(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"customers": 300})
    source = harness.source()
    assert harness.run("PROJECT", source).error is None  # the session is open: the fault hits a CUSTOMER page
    harness.fault(path="/ia/xml/xmlgw", count=1, kind="truncated")
    with pytest.raises(BadResponseError) as raised:
        harness.run("CUSTOMER", source)

    message = str(raised.value)
    assert message.startswith("intacct CUSTOMER: page 1: response is not well-formed XML"), message
    found = re.search(r"the damage is in record (\d+) of the reply \(CUSTOMER RECORDNO (\d+)\)", message)
    assert found, message
    ordinal, recordno = int(found.group(1)), found.group(2)
    # The reply lists records by WHENMODIFIED then RECORDNO: the named record is the one at that place.
    rows = sorted(
        harness.admin_records("CUSTOMER"),
        key=lambda r: (datetime.strptime(r["WHENMODIFIED"], "%m/%d/%Y %H:%M:%S"), int(r["RECORDNO"])),
    )
    assert 1 < ordinal < len(rows)
    assert str(rows[ordinal - 1]["RECORDNO"]) == recordno
