"""Text the XML 1.0 Char production excludes (C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF),
seeded into an Intacct record through the admin API: the gateway's replies stay well-formed for a strict parser and
carry the value without those characters, over a socket and with the SDK-shaped client of test_intacct."""

from __future__ import annotations

import xml.etree.ElementTree as StrictElementTree
from typing import Any

import httpx
import pytest

from tests.emulators.test_intacct import Gateway, admin_records, read_by_query

CONTROLLED = "ctrl\u0000\u0001\u001b end"
KEPT = "tab\tline\ncr\r kept \ufffd \U0001f600"


@pytest.fixture
def intacct(start_emulator: Any) -> Any:
    emulator = start_emulator("intacct")
    seeded = emulator.admin("POST", "seed", json={"records": {"CUSTOMER": [
        {"CUSTOMERID": "C-CTRL", "NAME": CONTROLLED, "TERMNAME": "Net\u000b30\ufffe\uffff"},
        {"CUSTOMERID": "C-KEPT", "NAME": KEPT},
    ]}})
    assert seeded.status_code == 200, seeded.text
    return emulator


def query_customers(gateway: Gateway, whitespace: bool) -> bytes:
    function = ("<query><object>CUSTOMER</object><select><field>RECORDNO</field><field>CUSTOMERID</field>"
                "<field>NAME</field><field>TERMNAME</field></select><filter><in><field>CUSTOMERID</field>"
                "<value>C-CTRL</value><value>C-KEPT</value></in></filter><orderby><order><field>CUSTOMERID</field>"
                "<ascending/></order></orderby></query>")
    xml = gateway.envelope([("f1", function)], whitespace=whitespace)
    response = httpx.post(gateway.url, content=xml.encode(), headers={"content-type": "application/xml"})
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize("whitespace", [False, True])
def test_query_reply_is_well_formed_and_drops_only_characters_xml_cannot_carry(intacct: Any, whitespace: bool) -> None:
    gateway = Gateway(intacct.env)
    gateway.open_session()
    body = query_customers(gateway, whitespace)
    assert b"\x00" not in body and b"\x01" not in body and b"\x1b" not in body and b"&#" not in body

    root = StrictElementTree.fromstring(body)  # expat, no recovery: fails on any character XML 1.0 excludes
    rows = {row.findtext("CUSTOMERID"): row for row in root.iterfind("operation/result/data/CUSTOMER")}
    assert rows["C-CTRL"].findtext("NAME") == "ctrl end"
    assert rows["C-CTRL"].findtext("TERMNAME") == "Net30"
    # Tab and newline survive; a carriage return reaches a parser as a newline (XML end-of-line handling).
    assert rows["C-KEPT"].findtext("NAME") == KEPT.replace("\r", "\n")

    # The model keeps what was seeded: only the wire drops what XML cannot carry.
    stored = {r["CUSTOMERID"]: r for r in admin_records(intacct, "CUSTOMER")}
    assert stored["C-CTRL"]["NAME"] == CONTROLLED


def test_read_by_query_reply_is_well_formed_too(intacct: Any) -> None:
    gateway = Gateway(intacct.env)
    gateway.open_session()
    result = gateway.result(read_by_query("CUSTOMER", "CUSTOMERID = 'C-CTRL'", "CUSTOMERID,NAME"))
    assert result.findtext("data/customer/NAME") == "ctrl end"
