"""The Intacct XML gateway emulator, driven over a socket with httpx the way the Intacct SDKs build requests
(PHP SDK ControlBlock order, one <function controlid=...> per call) and parsed with defusedxml."""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from emulators.intacct.generate import SALESFORCE_PROJECT_PREFIX, SALESFORCE_TASK_PREFIX
from emulators.world import World, intacct_recordno, salesforce_id

TIMESTAMP = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
ISO_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


class Gateway:
    """A minimal XML API client: envelope as the PHP SDK writes it, responses parsed with defusedxml."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = env["INTACCT_URL"]
        self.http = httpx.Client(timeout=30)
        self.session_id: str | None = None

    def envelope(self, functions: list[tuple[str, str]], *, session: str | None = None, login: bool = False,
                 transaction: bool = False, uniqueid: bool = False, whitespace: bool = False,
                 sender_password: str | None = None, user_password: str | None = None, locationid: str = "",
                 dtdversion: str = "3.0") -> str:
        control = (
            f"<control><senderid>{self.env['INTACCT_SENDER_ID']}</senderid>"
            f"<password>{escape(sender_password or self.env['INTACCT_SENDER_PASSWORD'])}</password>"
            f"<controlid>{uuid.uuid4()}</controlid><uniqueid>{str(uniqueid).lower()}</uniqueid>"
            f"<dtdversion>{dtdversion}</dtdversion><includewhitespace>{str(whitespace).lower()}</includewhitespace>"
            "</control>"
        )
        if login or not (session or self.session_id):
            location = f"<locationid>{locationid}</locationid>" if locationid else ""
            auth = (f"<login><userid>{self.env['INTACCT_USER_ID']}</userid><companyid>{self.env['INTACCT_COMPANY_ID']}"
                    f"</companyid><password>{escape(user_password or self.env['INTACCT_USER_PASSWORD'])}</password>"
                    f"{location}</login>")
        else:
            auth = f"<sessionid>{session or self.session_id}</sessionid>"
        content = "".join(f'<function controlid="{cid}">{body}</function>' for cid, body in functions)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<request>{control}<operation transaction='
                f'"{str(transaction).lower()}"><authentication>{auth}</authentication><content>{content}</content>'
                "</operation></request>")

    def post(self, xml: str, expect_status: int = 200) -> Element:
        response = self.http.post(self.url, content=xml.encode(), headers={"content-type": "application/xml"})
        assert response.status_code == expect_status, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return fromstring(response.content)

    def call(self, *bodies: str, **options: Any) -> Element:
        functions = [(f"f{i}-{uuid.uuid4().hex[:8]}", body) for i, body in enumerate(bodies)]
        return self.post(self.envelope(functions, **options))

    def open_session(self, locationid: str | None = None) -> str:
        inner = "<getAPISession/>" if locationid is None else f"<getAPISession><locationid>{locationid}</locationid>" \
            "</getAPISession>"
        root = self.call(inner, login=True)
        self.session_id = root.findtext("operation/result/data/api/sessionid")
        assert self.session_id
        return self.session_id

    def result(self, *bodies: str, **options: Any) -> Element:
        root = self.call(*bodies, **options)
        assert root.findtext("control/status") == "success", _dump(root)
        assert root.findtext("operation/authentication/status") == "success", _dump(root)
        return root.find("operation/result")  # type: ignore[return-value]


def _dump(element: Element) -> str:
    from xml.etree.ElementTree import tostring

    return tostring(element, encoding="unicode")


def tags(element: Element | None) -> list[str]:
    assert element is not None
    return [child.tag for child in element]


def admin_records(emulator: Any, object_name: str) -> list[dict[str, str]]:
    return emulator.admin("GET", f"records/{object_name}").json()["records"]


def read_by_query(object_name: str, query: str, fields: str = "*", pagesize: int = 100) -> str:
    return (f"<readByQuery><object>{object_name}</object><fields>{fields}</fields><query>{escape(query)}</query>"
            f"<pagesize>{pagesize}</pagesize></readByQuery>")


@pytest.fixture
def intacct(start_emulator: Any) -> Any:
    return start_emulator("intacct")


@pytest.fixture
def gateway(intacct: Any) -> Gateway:
    client = Gateway(intacct.env)
    client.open_session()
    return client


# ---- envelope, sessions --------------------------------------------------------------------------------------------


def test_get_api_session_reply_has_the_real_envelope_order(intacct: Any) -> None:
    client = Gateway(intacct.env)
    assert set(intacct.env) == {"INTACCT_URL", "INTACCT_SENDER_ID", "INTACCT_SENDER_PASSWORD", "INTACCT_COMPANY_ID",
                                "INTACCT_USER_ID", "INTACCT_USER_PASSWORD"}
    assert intacct.env["INTACCT_URL"] == intacct.origin + "/ia/xml/xmlgw.phtml"
    root = client.call("<getAPISession/>", login=True, whitespace=True)
    assert root.tag == "response" and tags(root) == ["control", "operation"]
    assert tags(root.find("control")) == ["status", "senderid", "controlid", "uniqueid", "dtdversion"]
    assert tags(root.find("operation")) == ["authentication", "result"]
    auth = root.find("operation/authentication")
    assert tags(auth) == ["status", "userid", "companyid", "locationid", "sessiontimestamp", "sessiontimeout"]
    assert ISO_STAMP.match(auth.findtext("sessiontimestamp", "")) and ISO_STAMP.match(auth.findtext("sessiontimeout",
                                                                                                     ""))
    result = root.find("operation/result")
    assert tags(result) == ["status", "function", "controlid", "data"]
    assert result.findtext("function") == "getAPISession" and result.findtext("controlid", "").startswith("f0-")
    api = result.find("data/api")
    assert tags(api) == ["sessionid", "endpoint", "locationid"]
    assert api.findtext("sessionid", "").endswith("..") and api.findtext("endpoint") == intacct.env["INTACCT_URL"]
    assert api.findtext("locationid") == ""
    assert intacct.admin("GET", "stats").json()["sessions"] == 1


def test_includewhitespace_false_gives_compact_xml(intacct: Any) -> None:
    client = Gateway(intacct.env)
    compact = client.http.post(client.url, content=client.envelope([("c", "<getAPISession/>")], login=True))
    pretty = client.http.post(client.url, content=client.envelope([("c", "<getAPISession/>")], login=True,
                                                                   whitespace=True))
    assert "><control><status>" in compact.text.replace("\n", "", 1)
    assert "\n" in pretty.text.split("<response>", 1)[1]


def test_expired_session_is_an_authentication_failure_without_results(intacct: Any, gateway: Gateway) -> None:
    assert gateway.result(read_by_query("PROJECT", "", "RECORDNO", 1)).findtext("status") == "success"
    intacct.admin("POST", "faults", json={"faults": [{"kind": "expire_session"}]})
    root = gateway.call(read_by_query("PROJECT", "", "RECORDNO", 1))
    assert root.findtext("control/status") == "success"
    operation = root.find("operation")
    assert tags(operation) == ["authentication", "errormessage"]
    assert tags(operation.find("authentication"))[:1] == ["status"]
    assert operation.findtext("authentication/status") == "failure"
    error = operation.find("errormessage/error")
    assert tags(error) == ["errorno", "description", "description2", "correction"]
    assert error.findtext("errorno") == "XL03000006"
    assert error.findtext("description2") == "Sign-in information is incorrect"
    gateway.open_session()  # logging in again works
    assert gateway.result(read_by_query("PROJECT", "", "RECORDNO", 1)).findtext("status") == "success"


def test_bad_user_password_and_unauthorized_sender(intacct: Any) -> None:
    client = Gateway(intacct.env)
    root = client.call("<getAPISession/>", login=True, user_password="wrong")
    assert root.findtext("operation/authentication/status") == "failure"
    assert root.find("operation/result") is None
    assert root.findtext("operation/errormessage/error/errorno") == "XL03000006"
    intacct.backend.model.senders.entries["other_sender"] = ("pw", frozenset())
    other = Gateway({**intacct.env, "INTACCT_SENDER_ID": "other_sender", "INTACCT_SENDER_PASSWORD": "pw"})
    root = other.call("<getAPISession/>", login=True)
    error = root.find("operation/errormessage/error")
    assert error.findtext("description") == "Invalid Web Services Authorization"
    assert "is not authorized to make Web Services requests to company ID" in error.findtext("description2", "")


def test_control_level_errors_execute_nothing(intacct: Any, gateway: Gateway) -> None:
    before = len(admin_records(intacct, "PROJECT"))
    broken = gateway.http.post(gateway.url, content=b"<request><control><senderid>x</control></request>")
    root = fromstring(broken.content)
    assert broken.status_code == 200 and tags(root) == ["control", "errormessage"]
    assert root.findtext("control/status") == "failure"
    assert root.findtext("errormessage/error/errorno") == "XL03000003"
    assert root.findtext("errormessage/error/description2", "").startswith("XML Parse schema error:")
    assert "[Support ID: " in root.findtext("errormessage/error/description2", "")

    root = gateway.post(gateway.envelope([("x", "<getAPISession/>")], login=True, sender_password="nope"))
    assert tags(root) == ["control", "errormessage"]
    assert root.findtext("errormessage/error/errorno") == "XL03000006"
    assert "Incorrect Intacct XML Partner ID or password." in root.findtext("errormessage/error/description2", "")

    missing_controlid = gateway.envelope([("x", "<getAPISession/>")]).replace(' controlid="x"', "")
    assert gateway.post(missing_controlid).findtext("errormessage/error/errorno") == "XL03000003"

    assert gateway.post(gateway.envelope([("x", "<getAPISession/>")], dtdversion="2.1")).findtext(
        "errormessage/error/errorno") == "EMU-DTDVERSION"

    values = "".join(f"<value>{i}</value>" for i in range(1001))
    too_many = (f"<query><object>PROJECT</object><select><field>RECORDNO</field></select><filter><in><field>RECORDNO"
                f"</field>{values}</in></filter></query>")
    create = ("<create><PROJECT><PROJECTID>NEVER</PROJECTID><NAME>n</NAME><PROJECTCATEGORY>Contract</PROJECTCATEGORY>"
              "<LOCATIONID>E100</LOCATIONID></PROJECT></create>")
    root = gateway.call(create, too_many)
    assert root.findtext("control/status") == "failure" and root.find("operation") is None
    assert root.findtext("errormessage/error/errorno") == "XL03000003"
    assert len(admin_records(intacct, "PROJECT")) == before


# ---- reads and paging ---------------------------------------------------------------------------------------------


def test_read_by_query_pages_with_read_more_until_numremaining_is_zero(intacct: Any, gateway: Gateway) -> None:
    expected = {r["RECORDNO"] for r in admin_records(intacct, "TASK")}
    result = gateway.result(read_by_query("TASK", "", "RECORDNO,WHENMODIFIED", 7))
    data = result.find("data")
    assert list(data.attrib) == ["listtype", "count", "totalcount", "numremaining", "resultId"]
    assert data.get("listtype") == "task" and data.get("count") == "7"
    assert int(data.get("totalcount")) == len(expected)
    result_id = data.get("resultId")
    assert result_id and int(data.get("numremaining")) == len(expected) - 7
    seen = [row.findtext("RECORDNO") for row in data]
    assert all(tags(row) == ["RECORDNO", "WHENMODIFIED"] for row in data)
    assert all(TIMESTAMP.match(row.findtext("WHENMODIFIED", "")) for row in data)
    remaining = int(data.get("numremaining"))
    while remaining:
        page = gateway.result(f"<readMore><resultId>{result_id}</resultId></readMore>")
        assert page.findtext("function") == "readMore"
        data = page.find("data")
        assert data.get("resultId") == result_id and int(data.get("numremaining")) < remaining
        remaining = int(data.get("numremaining"))
        seen += [row.findtext("RECORDNO") for row in data]
    assert sorted(seen, key=int) == seen and set(seen) == expected and len(seen) == len(expected)
    expired = gateway.call(f"<readMore><resultId>{result_id}</resultId></readMore>").find("operation/result")
    assert expired.findtext("status") == "failure" and tags(expired) == ["status", "function", "controlid",
                                                                         "errormessage"]
    assert expired.findtext("errormessage/error/errorno") == "readMore failed"
    assert expired.findtext("errormessage/error/description2") == (
        f"Attempt to readMore with an invalid or expired resultId: {result_id}")


def test_read_by_query_full_row_matches_the_real_project_row_layout(gateway: Gateway) -> None:
    row = gateway.result(read_by_query("PROJECT", "", "*", 1)).find("data/project")
    names = tags(row)
    real_order = ["RECORDNO", "PROJECTID", "NAME", "DESCRIPTION", "CURRENCY", "PROJECTCATEGORY", "PROJECTSTATUSKEY",
                  "PROJECTSTATUS", "PREVENTTIMESHEET", "PREVENTEXPENSE", "PREVENTAPPO", "PREVENTGENINVOICE", "STATUS",
                  "BEGINDATE", "ENDDATE", "BUDGETAMOUNT", "CONTRACTAMOUNT", "ACTUALAMOUNT", "BUDGETQTY", "ESTQTY",
                  "ACTUALQTY", "APPROVEDQTY", "REMAININGQTY", "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "BILLINGTYPE"]
    assert names[: len(real_order)] == real_order
    assert names.index("WHENCREATED") < names.index("WHENMODIFIED") < names.index("MEGAENTITYKEY")
    assert names[-1] == "RECORD_URL" and "SFDCKEY" in names
    assert row.findtext("DESCRIPTION") is not None and row.find("CONTRACTAMOUNT").text in (None, "")
    assert TIMESTAMP.match(row.findtext("WHENMODIFIED", "")) and row.findtext("ROOTPARENTID") == row.findtext(
        "PROJECTID")


def test_read_by_query_where_clause_operators(intacct: Any, gateway: Gateway) -> None:
    projects = admin_records(intacct, "PROJECT")

    def numbers(query: str) -> set[str]:
        data = gateway.result(read_by_query("PROJECT", query, "RECORDNO", 1000)).find("data")
        return {row.findtext("RECORDNO", "") for row in data}

    pivot = sorted(p["WHENMODIFIED"][6:10] + p["WHENMODIFIED"][:5] + p["WHENMODIFIED"][10:] for p in projects)[4]
    pivot_text = f"{pivot[4:9]}/{pivot[:4]}{pivot[9:]}"

    def when(p: dict[str, str]) -> str:
        return p["WHENMODIFIED"][6:10] + p["WHENMODIFIED"][:5] + p["WHENMODIFIED"][10:]

    assert numbers(f"WHENMODIFIED >= '{pivot_text}'") == {p["RECORDNO"] for p in projects if when(p) >= pivot}
    assert numbers(f"WHENMODIFIED < '{pivot_text}'") == {p["RECORDNO"] for p in projects if when(p) < pivot}
    assert numbers("PROJECTSTATUS = 'In Progress' AND MEGAENTITYID IS NULL") == {
        p["RECORDNO"] for p in projects if p["PROJECTSTATUS"] == "In Progress" and not p["MEGAENTITYID"]}
    assert numbers("PROJECTSTATUS = 'Completed' OR LOCATIONID IN ('E200','E300')") == {
        p["RECORDNO"] for p in projects if p["PROJECTSTATUS"] == "Completed" or p["LOCATIONID"] in ("E200", "E300")}
    assert numbers("NAME LIKE 'Cedar%'") == {p["RECORDNO"] for p in projects if p["NAME"].startswith("Cedar")}
    assert numbers("RECORDNO <= 3 AND NOT (RECORDNO = 2)") == {p["RECORDNO"] for p in projects
                                                                if int(p["RECORDNO"]) <= 3 and p["RECORDNO"] != "2"}
    assert numbers("SFDCKEY IS NOT NULL") == {p["RECORDNO"] for p in projects if p["SFDCKEY"]}
    assert numbers("RECORDNO > 1000000") == set()
    bad = gateway.call(read_by_query("PROJECT", "NOSUCHFIELD = 'x'")).find("operation/result")
    assert bad.findtext("status") == "failure" and bad.findtext("errormessage/error/errorno") == "Query Failed"
    bad = gateway.call(read_by_query("NOTANOBJECT", "")).find("operation/result")
    assert "Object definition NOTANOBJECT not found" in bad.findtext("errormessage/error/description2", "")
    empty = gateway.result(read_by_query("PROJECT", "RECORDNO > 1000000", "RECORDNO")).find("data")
    assert dict(empty.attrib) == {"listtype": "project", "count": "0", "totalcount": "0", "numremaining": "0",
                                  "resultId": ""}


def test_page_size_limits(gateway: Gateway) -> None:
    too_big = gateway.call(read_by_query("PROJECT", "", "RECORDNO", 1001)).find("operation/result")
    assert too_big.findtext("status") == "failure"
    query = ("<query><object>PROJECT</object><select><field>RECORDNO</field></select><pagesize>{}</pagesize>"
             "</query>")
    assert gateway.call(query.format(2001)).findtext("operation/result/status") == "failure"
    assert gateway.result(query.format(2000)).findtext("status") == "success"


def test_query_filter_orderby_offset_and_showprivate(intacct: Any, gateway: Gateway) -> None:
    projects = admin_records(intacct, "PROJECT")
    since = "01/01/2025 00:00:00"
    body = ("<query><object>PROJECT</object><select><field>RECORDNO</field><field>WHENMODIFIED</field>"
            "<field>MEGAENTITYID</field></select><filter><greaterthanorequalto><field>WHENMODIFIED</field>"
            f"<value>{since}</value></greaterthanorequalto></filter><orderby><order><field>WHENMODIFIED</field>"
            "<ascending/></order><order><field>RECORDNO</field><ascending/></order></orderby>"
            "<options><showprivate>{private}</showprivate></options><pagesize>4</pagesize><offset>{offset}</offset>"
            "</query>")
    rows: list[Element] = []
    offset = 0
    while True:
        data = gateway.result(body.format(private="true", offset=offset)).find("data")
        assert list(data.attrib) == ["listtype", "totalcount", "offset", "count", "numremaining"]
        assert data.get("listtype") == "PROJECT" and data.get("offset") == str(offset)
        assert all(row.tag == "PROJECT" and tags(row) == ["RECORDNO", "WHENMODIFIED", "MEGAENTITYID"] for row in data)
        rows += list(data)
        offset += int(data.get("count"))
        if data.get("numremaining") == "0":
            break
    assert len(rows) == len(projects) == int(data.get("totalcount"))
    keys = [(r.findtext("WHENMODIFIED", "")[6:10] + r.findtext("WHENMODIFIED", ""), int(r.findtext("RECORDNO", "")))
            for r in rows]
    assert keys == sorted(keys)
    shared = gateway.result(body.format(private="false", offset=0)).find("data")
    assert int(shared.get("totalcount")) == sum(1 for p in projects if not p["MEGAENTITYID"]) < len(projects)


def test_query_unknown_field_and_aggregate_count(gateway: Gateway) -> None:
    bad = gateway.call("<query><object>PROJECT</object><select><field>RECORDNO</field><field>CFDA</field></select>"
                       "</query>").find("operation/result")
    assert bad.findtext("status") == "failure" and "CFDA" in bad.findtext("errormessage/error/description2", "")
    ordered = "<orderby><order><field>WHENMODIFIED</field><ascending/></order></orderby>"
    for bound, orderby in itertools.product(("not a time", "13/45/2025 99:00:00"), ("", ordered)):
        # A value the field's type cannot hold fails the function, with or without an order on that field.
        bad = gateway.call("<query><object>PROJECT</object><select><field>RECORDNO</field></select><filter>"
                           f"<greaterthanorequalto><field>WHENMODIFIED</field><value>{bound}</value>"
                           f"</greaterthanorequalto></filter>{orderby}</query>").find("operation/result")
        assert bad.findtext("status") == "failure"
        assert bad.findtext("errormessage/error/errorno") == "Query Failed"
        assert "WHENMODIFIED" in bad.findtext("errormessage/error/description2", "")
    total = gateway.result("<query><object>TASK</object><select><field>RECORDNO</field></select><pagesize>1"
                           "</pagesize></query>").find("data").get("totalcount")
    counted = gateway.result("<query><object>TASK</object><select><count>RECORDNO</count></select></query>")
    assert counted.findtext("data/TASK/COUNT.RECORDNO") == total


def test_read_read_by_name_and_lookup(intacct: Any, gateway: Gateway) -> None:
    project = admin_records(intacct, "PROJECT")[0]
    data = gateway.result(f"<read><object>PROJECT</object><keys>{project['RECORDNO']},999999</keys><fields>RECORDNO,"
                          "PROJECTID</fields></read>").find("data")
    assert dict(data.attrib) == {"listtype": "PROJECT", "count": "1"}
    assert data.findtext("PROJECT/PROJECTID") == project["PROJECTID"]
    by_name = gateway.result(f"<readByName><object>PROJECT</object><keys>{project['PROJECTID']}</keys><fields>*"
                             "</fields></readByName>").find("data")
    assert by_name.findtext("PROJECT/RECORDNO") == project["RECORDNO"]
    too_many = ",".join(str(i) for i in range(1, 102))
    assert gateway.call(f"<read><object>PROJECT</object><keys>{too_many}</keys></read>").findtext(
        "operation/result/status") == "failure"
    definition = gateway.result("<lookup><object>TASK</object></lookup>").find("data/Type")
    assert definition.get("Name") == "TASK"
    fields = {f.findtext("ID"): f for f in definition.iter("Field")}
    assert fields["NAME"].findtext("REQUIRED") == "true" and fields["ACTUALQTY"].findtext("READONLY") == "true"
    assert [v.text for v in fields["TASKSTATUS"].iter("VALIDVALUE")] == [
        "Not Started", "Planned", "In Progress", "Completed", "On Hold"]


# ---- writes, progress, transactions, idempotency -------------------------------------------------------------------


def _project_xml(project_id: str, **extra: str) -> str:
    fields = {"PROJECTID": project_id, "NAME": f"Name {project_id}", "PROJECTCATEGORY": "Contract",
              "LOCATIONID": "E100", **extra}
    return "<PROJECT>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</PROJECT>"


def test_create_task_timesheet_drives_progress_then_delete(intacct: Any, gateway: Gateway) -> None:
    created = gateway.result(f"<create>{_project_xml('PRJ-NEW-1', CUSTOMERID='C-000001')}</create>")
    data = created.find("data")
    assert dict(data.attrib) == {"listtype": "objects", "count": "1"} and tags(data) == ["project"]
    assert tags(data.find("project")) == ["RECORDNO", "PROJECTID"]
    project_no = data.findtext("project/RECORDNO")
    task = gateway.result("<create><TASK><NAME>Design</NAME><PROJECTID>PRJ-NEW-1</PROJECTID><TASKID>D1</TASKID>"
                          "<ESTQTY>10</ESTQTY></TASK></create>").find("data/task")
    task_no = task.findtext("RECORDNO")
    employee = admin_records(intacct, "EMPLOYEE")[0]["EMPLOYEEID"]
    sheet = gateway.result(
        f"<create><TIMESHEET><EMPLOYEEID>{employee}</EMPLOYEEID><BEGINDATE>03/02/2026</BEGINDATE><STATE>Submitted"
        "</STATE><TIMESHEETENTRIES><TIMESHEETENTRY><ENTRYDATE>03/02/2026</ENTRYDATE><QTY>4</QTY><PROJECTID>PRJ-NEW-1"
        f"</PROJECTID><TASKKEY>{task_no}</TASKKEY></TIMESHEETENTRY></TIMESHEETENTRIES></TIMESHEET></create>"
    ).find("data/timesheet")
    sheet_no = sheet.findtext("RECORDNO")

    def task_row() -> Element:
        return gateway.result(f"<read><object>TASK</object><keys>{task_no}</keys><fields>*</fields></read>").find(
            "data/TASK")

    def project_row() -> Element:
        return gateway.result(f"<read><object>PROJECT</object><keys>{project_no}</keys><fields>*</fields></read>"
                              ).find("data/PROJECT")

    row = task_row()
    assert (row.findtext("ACTUALQTY"), row.findtext("APPROVEDQTY"), row.findtext("PERCENTCOMPLETE"),
            row.findtext("REMAININGQTY")) == ("4.00", "0.00", "40.00", "6.00")
    assert row.findtext("ABEGINDATE") == "03/02/2026" and row.findtext("PROJECTID") == "PRJ-NEW-1"
    assert project_row().findtext("PERCENTCOMPLETE") == "40.00"
    assert project_row().findtext("CUSTOMERNAME") != ""
    before = project_row().findtext("WHENMODIFIED")
    gateway.result(f"<update><TIMESHEET><RECORDNO>{sheet_no}</RECORDNO><STATE>Approved</STATE></TIMESHEET></update>")
    assert task_row().findtext("APPROVEDQTY") == "4.00"
    assert project_row().findtext("APPROVEDQTY") == "4.00"
    assert TIMESTAMP.match(project_row().findtext("WHENMODIFIED", "")) and project_row().findtext(
        "WHENMODIFIED") >= before
    refused = gateway.call(f"<delete><object>TASK</object><keys>{task_no}</keys></delete>").find("operation/result")
    assert refused.findtext("status") == "failure"
    deleted = gateway.result(f"<delete><object>TIMESHEET</object><keys>{sheet_no}</keys></delete>")
    assert tags(deleted) == ["status", "function", "controlid"]
    assert task_row().findtext("ACTUALQTY") == "0.00"
    gateway.result(f"<update><TASK><RECORDNO>{task_no}</RECORDNO><TASKSTATUS>Completed</TASKSTATUS></TASK></update>")
    completed = gateway.call(
        f"<create><TIMESHEET><EMPLOYEEID>{employee}</EMPLOYEEID><BEGINDATE>03/02/2026</BEGINDATE><TIMESHEETENTRIES>"
        f"<TIMESHEETENTRY><ENTRYDATE>03/02/2026</ENTRYDATE><QTY>1</QTY><TASKKEY>{task_no}</TASKKEY></TIMESHEETENTRY>"
        "</TIMESHEETENTRIES></TIMESHEET></create>").find("operation/result")
    assert completed.findtext("status") == "failure" and "Completed" in completed.findtext(
        "errormessage/error/description2", "")
    gateway.result(f"<delete><object>TASK</object><keys>{task_no}</keys></delete>")
    gateway.result(f"<delete><object>PROJECT</object><keys>{project_no}</keys></delete>")
    assert all(p["PROJECTID"] != "PRJ-NEW-1" for p in admin_records(intacct, "PROJECT"))
    stats = intacct.admin("GET", "stats").json()
    assert stats["writes"] >= 8 and stats["records_written"] >= 8 and stats["reads"] >= 5


def test_create_validation_errors_follow_the_intacct_pattern(gateway: Gateway) -> None:
    gateway.result(f"<create>{_project_xml('PRJ-DUP')}</create>")
    duplicate = gateway.call(f"<create>{_project_xml('PRJ-DUP')}</create>").find("operation/result")
    assert duplicate.findtext("status") == "failure"
    assert tags(duplicate) == ["status", "function", "controlid", "data", "errormessage"]
    assert dict(duplicate.find("data").attrib) == {"listtype": "objects", "count": "0"}
    errors = duplicate.findall("errormessage/error")
    assert [e.findtext("errorno") for e in errors] == ["BL34000061", "BL01001973"]
    assert errors[0].findtext("correction") == "Use a unique value instead."
    assert errors[1].findtext("description2") == "Could not create Project record!"
    missing = gateway.call("<create><PROJECT><PROJECTID>X1</PROJECTID><NAME>x</NAME></PROJECT></create>")
    assert "PROJECTCATEGORY" in missing.findtext("operation/result/errormessage/error/description2", "")
    invalid = gateway.call(f"<create>{_project_xml('X2', PROJECTCATEGORY='Nope')}</create>")
    assert invalid.findtext("operation/result/status") == "failure"
    no_location = gateway.call("<create><PROJECT><PROJECTID>X3</PROJECTID><NAME>x</NAME><PROJECTCATEGORY>Contract"
                               "</PROJECTCATEGORY></PROJECT></create>")
    assert "LOCATIONID" in no_location.findtext("operation/result/errormessage/error/description2", "")
    update_missing = gateway.call("<update><PROJECT><PROJECTID>NOPE</PROJECTID><NAME>y</NAME></PROJECT></update>")
    assert update_missing.findtext("operation/result/errormessage/error/errorno") == (
        "Cannot update non-existing PROJECT with PROJECTID=NOPE.")


def test_transaction_rolls_back_with_xl03000009(intacct: Any, gateway: Gateway) -> None:
    root = gateway.call(f"<create>{_project_xml('PRJ-TX')}</create>",
                        "<create><TASK><NAME>t</NAME><PROJECTID>NO-SUCH</PROJECTID></TASK></create>",
                        f"<create>{_project_xml('PRJ-TX-3')}</create>", transaction=True)
    results = root.findall("operation/result")
    assert [r.findtext("status") for r in results] == ["aborted", "failure", "aborted"]
    assert [e.findtext("errorno") for e in results[0].findall("errormessage/error")] == ["XL03000009"]
    assert results[0].findtext("errormessage/error/description2") == (
        "The entire transaction in this operation has been rolled back due to an error.")
    assert [e.findtext("errorno") for e in results[1].findall("errormessage/error")][-1] == "XL03000009"
    assert results[0].find("data") is None
    ids = {p["PROJECTID"] for p in admin_records(intacct, "PROJECT")}
    assert "PRJ-TX" not in ids and "PRJ-TX-3" not in ids
    independent = gateway.call(f"<create>{_project_xml('PRJ-NOTX')}</create>",
                               "<create><TASK><NAME>t</NAME><PROJECTID>NO-SUCH</PROJECTID></TASK></create>")
    assert [r.findtext("status") for r in independent.findall("operation/result")] == ["success", "failure"]
    assert "PRJ-NOTX" in {p["PROJECTID"] for p in admin_records(intacct, "PROJECT")}


def test_uniqueid_true_refuses_a_replayed_function_controlid(intacct: Any, gateway: Gateway) -> None:
    body = [("create-prj-replay", f"<create>{_project_xml('PRJ-REPLAY')}</create>")]
    first = gateway.post(gateway.envelope(body, uniqueid=True)).find("operation/result")
    assert first.findtext("status") == "success"
    replay = gateway.post(gateway.envelope(body, uniqueid=True)).find("operation/result")
    assert replay.findtext("status") == "failure"
    assert replay.findtext("errormessage/error/errorno") == "EMU-DUPCTRLID"
    again = gateway.post(gateway.envelope(body, uniqueid=False)).find("operation/result")
    assert again.findtext("errormessage/error/errorno") == "BL34000061"  # executed again, hit the duplicate id
    assert sum(p["PROJECTID"] == "PRJ-REPLAY" for p in admin_records(intacct, "PROJECT")) == 1


# ---- multi-entity -------------------------------------------------------------------------------------------------


def test_entity_sessions_see_and_write_only_their_entity(intacct: Any) -> None:
    projects = admin_records(intacct, "PROJECT")
    client = Gateway(intacct.env)
    root = client.call("<getAPISession><locationid>E100</locationid></getAPISession>", login=True)
    assert root.findtext("operation/result/data/api/locationid") == "E100"
    client.session_id = root.findtext("operation/result/data/api/sessionid")
    data = client.result(read_by_query("PROJECT", "", "RECORDNO,MEGAENTITYID", 1000)).find("data")
    assert {r.findtext("MEGAENTITYID") or "" for r in data} <= {"", "E100"}
    assert int(data.get("totalcount")) == sum(1 for p in projects if p["MEGAENTITYID"] in ("", "E100"))
    created = client.result("<create><PROJECT><PROJECTID>PRJ-E100</PROJECTID><NAME>Entity one</NAME>"
                            "<PROJECTCATEGORY>Contract</PROJECTCATEGORY></PROJECT></create>")
    row = next(p for p in admin_records(intacct, "PROJECT") if p["PROJECTID"] == "PRJ-E100")
    assert (row["MEGAENTITYID"], row["MEGAENTITYNAME"], row["LOCATIONID"]) == ("E100", "United States", "E100")
    assert created.findtext("data/project/RECORDNO") == row["RECORDNO"]
    shared = next(p for p in projects if not p["MEGAENTITYID"])
    refused = client.call(f"<update><PROJECT><RECORDNO>{shared['RECORDNO']}</RECORDNO><NAME>x</NAME></PROJECT>"
                          "</update>").find("operation/result")
    assert refused.findtext("status") == "failure"
    top = Gateway(intacct.env)
    top.open_session()
    auth = top.call(read_by_query("PROJECT", "", "RECORDNO", 1)).find("operation/authentication")
    assert auth.findtext("locationid") == ""


# ---- limits and faults --------------------------------------------------------------------------------------------


def test_rate_limit_answers_gw_0010_with_http_429(intacct: Any, gateway: Gateway) -> None:
    intacct.backend.limits.max_requests = 2
    intacct.backend.limits.window_seconds = 60
    intacct.backend.limits.reset()
    body = gateway.envelope([("r", read_by_query("PROJECT", "", "RECORDNO", 1))])
    statuses = [gateway.http.post(gateway.url, content=body).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = gateway.http.post(gateway.url, content=body)
    root = fromstring(refused.content)
    assert refused.status_code == 429 and tags(root) == ["control", "errormessage"]
    assert root.findtext("control/status") == "failure" and root.findtext("errormessage/error/errorno") == "GW-0010"
    intacct.backend.limits.max_requests = None
    intacct.backend.limits.max_concurrent = 0
    assert gateway.http.post(gateway.url, content=body).status_code == 429
    intacct.backend.limits.max_concurrent = 4
    assert gateway.http.post(gateway.url, content=body).status_code == 200


def test_injected_throttle_and_server_errors_have_the_gateway_shape(intacct: Any, gateway: Gateway) -> None:
    body = gateway.envelope([("r", read_by_query("PROJECT", "", "RECORDNO", 1))])
    intacct.admin("POST", "faults", json={"faults": [
        {"kind": "throttle", "count": 1, "retry_after": 5},
        {"kind": "server_error", "count": 1},
        {"kind": "server_error", "count": 1, "status": 502},
    ]})
    throttled = gateway.http.post(gateway.url, content=body)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "5"
    assert fromstring(throttled.content).findtext("errormessage/error/errorno") == "GW-0010"
    offline = gateway.http.post(gateway.url, content=body)
    assert offline.status_code == 503 and "Temporarily Off-line" in offline.text
    cloudflare = gateway.http.post(gateway.url, content=body)
    assert cloudflare.status_code == 502 and "cf-error-details" in cloudflare.text
    assert gateway.http.post(gateway.url, content=body).status_code == 200
    assert intacct.admin("GET", "stats").json()["faults_injected"] == {"throttle": 1, "server_error": 2}


def test_record_error_fault_fails_one_record_like_intacct(intacct: Any, gateway: Gateway) -> None:
    intacct.admin("POST", "faults", json={"faults": [{"kind": "record_error", "object": "PROJECT", "count": 1,
                                                      "message": "Injected refusal"}]})
    failed = gateway.call(f"<create>{_project_xml('PRJ-F1')}</create>").find("operation/result")
    assert failed.findtext("status") == "failure"
    errors = failed.findall("errormessage/error")
    assert errors[0].findtext("description2", "").startswith("Injected refusal")
    assert errors[-1].findtext("description2") == "Could not create Project record!"
    assert gateway.result(f"<create>{_project_xml('PRJ-F1')}</create>").findtext("status") == "success"


# ---- admin and generated data ------------------------------------------------------------------------------------


def test_admin_seed_records_and_record_url(intacct: Any, gateway: Gateway) -> None:
    seeded = intacct.admin("POST", "seed", json={"records": {
        "PROJECT": [{"PROJECTID": "PRJ-SEED", "NAME": "Seeded", "PROJECTCATEGORY": "Contract", "LOCATIONID": "E200",
                     "WHENMODIFIED": "12/31/2025 23:59:59"}],
        "TASK": [{"PROJECTID": "PRJ-SEED", "NAME": "Seeded task", "TASKID": "S1", "ESTQTY": "8"}],
    }})
    assert seeded.json() == {"seeded": {"PROJECT": 1, "TASK": 1}}
    row = next(p for p in admin_records(intacct, "PROJECT") if p["PROJECTID"] == "PRJ-SEED")
    assert row["WHENMODIFIED"] == "12/31/2025 23:59:59" and row["ESTQTY"] == "8.00" and row["RECORDNO"]
    assert intacct.admin("POST", "seed", json={"records": {"NOPE": []}}).status_code == 404
    assert intacct.admin("GET", "records/NOPE").status_code == 404
    page = httpx.get(row["RECORD_URL"].replace("http://127.0.0.1", intacct.origin, 1) if row["RECORD_URL"].startswith(
        "http://127.0.0.1/") else row["RECORD_URL"])
    assert page.status_code == 200 and "PRJ-SEED" in page.text
    url = gateway.result(read_by_query("PROJECT", "PROJECTID = 'PRJ-SEED'", "RECORD_URL")).findtext(
        "data/project/RECORD_URL")
    assert url.startswith(intacct.origin + "/ia/acct/ur.phtml?.r=") and httpx.get(url).status_code == 200


def test_generated_world_is_coherent_with_shared_ids(start_emulator: Any) -> None:
    world = World(seed=3, scale="demo", overrides={"projects": 40, "tasks": 120, "customers": 30})
    emulator = start_emulator("intacct", seed=3, counts={"projects": 40, "tasks": 120, "customers": 30})
    projects = {int(p["RECORDNO"]): p for p in admin_records(emulator, "PROJECT")}
    left = [world.project(i) for i in range(40) if world.project(i).presence.on_left]
    assert set(projects) == {intacct_recordno(p.index) for p in left}
    for project in left:
        row = projects[intacct_recordno(project.index)]
        assert row["PROJECTID"] == project.project_id and row["MEGAENTITYID"] == (project.entity_id or "")
        linked_id = salesforce_id(SALESFORCE_PROJECT_PREFIX, project.index + 1) if project.presence.linked else ""
        assert row["SFDC_PROJECT_ID"] == linked_id
        if project.presence.linked and project.opportunity_index is not None:
            assert row["SFDCKEY"] == salesforce_id("006", project.opportunity_index + 1)
    tasks = {int(t["RECORDNO"]): t for t in admin_records(emulator, "TASK")}
    hours: dict[str, float] = {}
    for entry in admin_records(emulator, "TIMESHEETENTRY"):
        if entry["STATE"] in ("Approved", "Submitted"):
            hours[entry["TASKKEY"]] = hours.get(entry["TASKKEY"], 0.0) + float(entry["QTY"])
    for i in range(120):
        task = world.task(i)
        row = tasks.get(intacct_recordno(i))
        assert (row is not None) == world.project(task.project_index).presence.on_left
        if row is None:
            continue
        assert float(row["ACTUALQTY"]) == pytest.approx(task.actual_hours)
        assert float(row["ACTUALQTY"]) == pytest.approx(hours.get(row["RECORDNO"], 0.0))
        assert float(row["PERCENTCOMPLETE"]) == pytest.approx(task.percent_complete, abs=0.01)
        assert row["SFDC_TASK_ID"] == (salesforce_id(SALESFORCE_TASK_PREFIX, i + 1)
                                      if world.project(task.project_index).presence.linked else "")
        assert row["WHENCREATED"] <= row["WHENMODIFIED"] or row["WHENCREATED"][6:] < row["WHENMODIFIED"][6:]
    for number, project in projects.items():
        own = [t for t in tasks.values() if int(t["PROJECTKEY"]) == number]
        if own:
            assert float(project["ACTUALQTY"]) == pytest.approx(sum(float(t["ACTUALQTY"]) for t in own))
    seconds = [p["WHENMODIFIED"] for p in projects.values()]
    assert len(seconds) > len(set(seconds))  # records share a second on purpose
    customers = {c["CUSTOMERID"] for c in admin_records(emulator, "CUSTOMER")}
    assert {p["CUSTOMERID"] for p in projects.values()} <= customers
    assert [e["LOCATIONID"] for e in admin_records(emulator, "LOCATIONENTITY")] == ["E100", "E200", "E300"]
