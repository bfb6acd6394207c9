"""Intacct streams extracted by the real XML-gateway client (httpx, defusedxml) from the emulator over a socket,
through the shared extract loop, into SQLite and PostgreSQL staging stores."""

from __future__ import annotations

import uuid
from datetime import timedelta
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from crosswalk.extract.errors import CredentialsError
from tests.integration.extract_support import (
    Harness,
    HarnessFactory,
    secrets_of,
)

SYSTEM = "intacct"


class Writer:
    """Writes through the real gateway the way an Intacct user's integration would: one session, XML functions."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.http = httpx.Client(timeout=30)
        self.session_id = self.call("<getAPISession/>", login=True).findtext("data/api/sessionid")
        assert self.session_id

    def close(self) -> None:
        self.http.close()

    def call(self, function: str, login: bool = False) -> Element:
        env = self.env
        if login:
            auth = (
                f"<login><userid>{env['INTACCT_USER_ID']}</userid><companyid>{env['INTACCT_COMPANY_ID']}</companyid>"
                f"<password>{env['INTACCT_USER_PASSWORD']}</password></login>"
            )
        else:
            auth = f"<sessionid>{self.session_id}</sessionid>"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><request><control>'
            f"<senderid>{env['INTACCT_SENDER_ID']}</senderid><password>{env['INTACCT_SENDER_PASSWORD']}</password>"
            f"<controlid>{uuid.uuid4()}</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>"
            "<includewhitespace>false</includewhitespace></control><operation><authentication>"
            f'{auth}</authentication><content><function controlid="{uuid.uuid4()}">{function}</function>'
            "</content></operation></request>"
        )
        reply = self.http.post(env["INTACCT_URL"], content=body.encode(), headers={"Content-Type": "application/xml"})
        assert reply.status_code == 200, reply.text
        result = fromstring(reply.content).find("operation/result")
        assert result is not None and result.findtext("status") == "success", reply.text
        return result


def admin_keys(harness: Harness, object_name: str) -> set[str]:
    return {record["RECORDNO"] for record in harness.admin_records(object_name)}


@pytest.fixture
def intacct(extract_harness: HarnessFactory) -> Harness:
    return extract_harness(SYSTEM)


def test_first_run_stages_every_record_and_a_second_run_reads_little_and_writes_nothing(intacct: Harness) -> None:
    source = intacct.source()
    intacct.reset_stats()
    first = {spec.object: intacct.run(spec.object, source, "first") for spec in intacct.streams}
    for spec in intacct.streams:
        expected = admin_keys(intacct, spec.object)
        assert expected, spec.name
        assert intacct.staged_keys(spec.object) == expected, spec.name  # Intacct hard-deletes: nothing flagged
        assert intacct.staged_keys(spec.object, include_deleted=True) == expected, spec.name
        assert first[spec.object].counts.new == len(expected)
        assert intacct.store.get_watermark(SYSTEM, spec.object) == max(
            (r["WHENMODIFIED"] for r in intacct.admin_records(spec.object)), key=_stamp_order
        )
    assert intacct.stats()["writes"] == 0

    intacct.assert_a_second_run_reads_little_and_writes_nothing()  # a new run: a new client and API session


def _stamp_order(stamp: str) -> tuple[str, str, str, str]:
    month, day, rest = stamp.split("/")
    year, time = rest.split(" ")
    return year, month, day, time


def test_first_run_reads_within_the_page_budget(extract_harness: HarnessFactory) -> None:
    harness = extract_harness(SYSTEM, counts={"projects": 300, "tasks": 4500})
    source = harness.source()
    for object_name in ("TASK", "PROJECT"):
        harness.assert_first_run_within_page_budget(source, object_name, admin_keys(harness, object_name))
    assert len(harness.admin_records("TASK")) > harness.spec("TASK").page_size  # several pages were read


def test_a_customer_created_updated_and_deleted_through_the_api_follows_in_staging(intacct: Harness) -> None:
    source = intacct.source()
    intacct.run("CUSTOMER", source)
    writer = Writer(intacct.env)
    try:
        created = writer.call(
            "<create><CUSTOMER><CUSTOMERID>CW-LIVE-1</CUSTOMERID><NAME>Live Customer</NAME></CUSTOMER></create>"
        )
        recordno = created.findtext("data/customer/RECORDNO") or created.findtext("data/CUSTOMER/RECORDNO")
        assert recordno

        appeared = intacct.run("CUSTOMER", source)
        assert appeared.counts.new == 1
        row = intacct.store.staged_record(SYSTEM, "CUSTOMER", recordno)
        assert row is not None and row["payload"]["NAME"] == "Live Customer" and not row["deleted"]

        writer.call(
            f"<update><CUSTOMER><RECORDNO>{recordno}</RECORDNO><NAME>Renamed Customer</NAME></CUSTOMER></update>"
        )
        changed = intacct.run("CUSTOMER", source)
        assert changed.counts.changed == 1 and changed.counts.new == 0
        row = intacct.store.staged_record(SYSTEM, "CUSTOMER", recordno)
        assert row is not None and row["payload"]["NAME"] == "Renamed Customer" and not row["deleted"]

        writer.call(f"<delete><object>CUSTOMER</object><keys>{recordno}</keys></delete>")
    finally:
        writer.close()
    gone = intacct.run("CUSTOMER", source, key_scan_every=timedelta(0))
    assert gone.key_scan and gone.counts.deleted == 1
    row = intacct.store.staged_record(SYSTEM, "CUSTOMER", recordno)
    assert row is not None and row["deleted"] is True
    assert intacct.staged_keys("CUSTOMER") == admin_keys(intacct, "CUSTOMER")


def test_an_expired_session_is_renewed_with_a_new_login(intacct: Harness) -> None:
    source = intacct.source()
    intacct.run("LOCATIONENTITY", source)
    intacct.reset_stats()
    intacct.fault(kind="expire_session", path="/ia/xml/xmlgw", count=1)
    result = intacct.run("PROJECT", source)
    assert result.error is None
    assert intacct.stats()["sessions"] == 1  # one new getAPISession after the refused call
    assert source.gateway.sessions_opened == 2  # type: ignore[attr-defined]
    assert intacct.staged_keys("PROJECT") == admin_keys(intacct, "PROJECT")


@pytest.mark.parametrize("variable", ["INTACCT_USER_PASSWORD", "INTACCT_SENDER_PASSWORD"])
def test_refused_credentials_raise_without_any_secret_in_the_text(intacct: Harness, variable: str) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    source = intacct.source(**{variable: wrong})
    with pytest.raises(CredentialsError) as raised:
        intacct.run("PROJECT", source)
    text = str(raised.value)
    for secret in [*secrets_of(SYSTEM, intacct.env), wrong]:
        assert secret not in text
    assert intacct.store.get_watermark(SYSTEM, "PROJECT") is None
