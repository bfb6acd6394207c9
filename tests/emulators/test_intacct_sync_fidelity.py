"""What the projects sync and outside Intacct clients need from the Intacct emulator, over a socket with httpx
posting XML the way the public SDKs do: the standard fields of the live `lookup` fixtures on CUSTOMER, EMPLOYEE and
LOCATIONENTITY; the LOCATION object and the LOCATIONID checks it drives; entity-level sessions; functions answered
one by one, uniqueid, and the duplicate PROJECTID error a client relies on after a crash; the SFDC_* custom fields."""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import pytest

from tests.emulators.test_intacct import Gateway, admin_records, read_by_query, tags

# Standard (non-custom) fields in the live lookup fixtures (CPAanalytics/intacct_sdk fixtures/lookup/*.xml): how
# many, the first and last few, and some from the middle, in lookup order.
FIXTURE_FIELDS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "CUSTOMER": (
        215,
        ("RECORDNO", "CUSTOMERID", "NAME", "ENTITY", "PARENTKEY", "PARENTID", "PARENTNAME",
         "DISPLAYCONTACT.CONTACTNAME", "DISPLAYCONTACT.COMPANYNAME", "DISPLAYCONTACT.PREFIX"),
        ("CUSTMESSAGE.MESSAGE", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID", "MEGAENTITYKEY", "MEGAENTITYID",
         "MEGAENTITYNAME", "RECORD_URL"),
        ("CONTACTINFO.CONTACTNAME", "SHIPTO.MAILADDRESS.ZIP", "BILLTO.PRINTAS", "ARACCOUNT", "DELIVERY_OPTIONS",
         "OBJECTRESTRICTION", "RETAINAGEPERCENTAGE", "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE"),
    ),
    "EMPLOYEE": (
        93,
        ("RECORDNO", "EMPLOYEEID", "SSN", "TITLE", "LOCATIONID", "LOCATIONKEY", "DEPARTMENTID"),
        ("DEFAULTEXPENSEDISTRIBUTIONID", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID", "MEGAENTITYKEY", "MEGAENTITYID",
         "MEGAENTITYNAME", "RECORD_URL"),
        ("PERSONALINFO.PRINTAS", "PERSONALINFO.MAILADDRESS.CITY", "GENDER", "EARNINGTYPENAME", "ACHENABLED",
         "DEFAULTCUSTOMERID", "CLASSID"),
    ),
    "LOCATIONENTITY": (
        136,
        ("LOCATIONID", "RECORDNO", "NAME", "PARENTID", "PARENTNAME", "SUPERVISORNAME", "SUPERVISORID"),
        ("PAYMENTTAXCAPTURE", "CURRENCYKEY", "ELECTRONICADDRESS", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID",
         "RECORD_URL"),
        ("SHIPTO.PRINTAS", "FEDERALID", "IEPAYABLE.ACCOUNT", "HAS_IE_RELATION", "LEGALNAME", "OPCOUNTRY",
         "LOCATIONTYPE", "ENTITY"),
    ),
    "LOCATION": (
        107,
        ("LOCATIONID", "RECORDNO", "NAME", "PARENTID", "PARENTNAME", "SUPERVISORNAME", "SUPERVISORID"),
        ("ADDRESSCOUNTRYDEFAULT", "LOCATIONTYPE", "ENTITYNAME", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID",
         "RECORD_URL"),
        ("STATUS", "ENTITY", "ISROOT", "CUSTTITLE", "PARENTKEY", "REPORTPRINTAS"),
    ),
}
COUNTRY_CODES = {"USA": "US", "United States": "US", "Canada": "CA", "UK": "GB", "United Kingdom": "GB"}
ENTITY_NAMES = {"E100": "United States", "E200": "Canada", "E300": "United Kingdom"}


@pytest.fixture
def intacct(start_emulator: Any) -> Any:
    return start_emulator("intacct")


@pytest.fixture
def gateway(intacct: Any) -> Gateway:
    client = Gateway(intacct.env)
    client.open_session()
    return client


def entity_gateway(intacct: Any, entity: str) -> Gateway:
    client = Gateway(intacct.env)
    client.open_session(entity)
    return client


def record_xml(object_name: str, **fields: str) -> str:
    """One object element; dotted names become nested groups (DISPLAYCONTACT.MAILADDRESS.ZIP)."""
    def nest(items: dict[str, str]) -> str:
        groups: dict[str, dict[str, str]] = {}
        out = ""
        for name, value in items.items():
            head, dot, rest = name.partition(".")
            if dot:
                groups.setdefault(head, {})[rest] = value
            else:
                out += f"<{name}>{escape(value)}</{name}>" if value != "" else f"<{name}/>"
        return out + "".join(f"<{head}>{nest(inner)}</{head}>" for head, inner in groups.items())

    return f"<{object_name}>{nest(fields)}</{object_name}>"


def project_xml(project_id: str, **extra: str) -> str:
    return record_xml("PROJECT", PROJECTID=project_id, NAME=f"Name {project_id}", PROJECTCATEGORY="Contract", **extra)


def errors_of(result: Element) -> list[tuple[str, str]]:
    return [(e.findtext("errorno", ""), e.findtext("description2", "")) for e in result.findall("errormessage/error")]


def star_row(gateway: Gateway, object_name: str, query: str) -> Element:
    data = gateway.result(read_by_query(object_name, query, "*", 1)).find("data")
    assert data is not None and len(data) == 1, query
    return data[0]


# ---- standard fields of the lookup fixtures ------------------------------------------------------------------------


@pytest.mark.parametrize("object_name", sorted(FIXTURE_FIELDS))
def test_lookup_and_star_reads_carry_every_standard_field_of_the_fixture(gateway: Gateway, object_name: str) -> None:
    count, first, last, middle = FIXTURE_FIELDS[object_name]
    definition = gateway.result(f"<lookup><object>{object_name}</object></lookup>").find("data/Type")
    assert definition is not None and definition.get("Name") == object_name
    standard = [f.findtext("ID", "") for f in definition.iter("Field") if f.findtext("ISCUSTOM") == "false"]
    assert len(standard) == count
    assert tuple(standard[:len(first)]) == first and tuple(standard[-len(last):]) == last
    assert set(middle) <= set(standard)
    # A `*` read prints every field, empty ones included, in lookup order.
    row = gateway.result(read_by_query(object_name, "", "*", 1)).find("data")
    assert row is not None and len(row) == 1
    assert tags(row[0]) == [f.findtext("ID") for f in definition.iter("Field")]
    by_id = {f.findtext("ID"): f for f in definition.iter("Field")}
    assert by_id["RECORD_URL"].findtext("READONLY") == "true"
    if object_name == "CUSTOMER":
        assert by_id["OBJECTRESTRICTION"].findtext("DATATYPE") == "ENUM"
        assert by_id["DISPLAYCONTACT.PRINTAS"].findtext("REQUIRED") == "true"
        assert [v.text for v in by_id["DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE"].iter("VALIDVALUE")][:3] == [
            "US", "AF", "AX"]


def test_generated_records_fill_the_new_fields_the_world_has(intacct: Any, gateway: Gateway) -> None:
    customers = admin_records(intacct, "CUSTOMER")
    for customer in customers:
        country = customer["DISPLAYCONTACT.MAILADDRESS.COUNTRY"]
        assert customer["DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE"] == COUNTRY_CODES[country]
        assert customer["CONTACTINFO.CONTACTNAME"] == customer["DISPLAYCONTACT.CONTACTNAME"] != ""
        assert customer["CONTACTINFO.PRINTAS"] == customer["DISPLAYCONTACT.PRINTAS"] == customer["NAME"]
    row = star_row(gateway, "CUSTOMER", f"CUSTOMERID = '{customers[0]['CUSTOMERID']}'")
    assert row.findtext("DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE") == customers[0][
        "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE"]
    assert row.findtext("BILLTO.CONTACTNAME") == row.findtext("SHIPTO.CONTACTNAME") == row.findtext(
        "DISPLAYCONTACT.CONTACTNAME")
    assert row.findtext("TERRITORYID") == "" and row.find("TERRITORYID") is not None
    for employee in admin_records(intacct, "EMPLOYEE"):
        assert employee["PERSONALINFO.PRINTAS"] == employee["PERSONALINFO.CONTACTNAME"] != ""
        assert employee["LOCATIONKEY"] != ""
    for entity in admin_records(intacct, "LOCATIONENTITY"):
        assert entity["LOCATIONTYPE"] == "E" and entity["NAME"] == ENTITY_NAMES[entity["LOCATIONID"]]
        assert entity["CONTACTINFO.MAILADDRESS.COUNTRYCODE"] == COUNTRY_CODES[entity["NAME"]]
        assert entity["ENTITY"] == f"{entity['LOCATIONID']}--{entity['NAME']}"


def test_the_new_fields_are_written_read_and_validated(intacct: Any, gateway: Gateway) -> None:
    created = gateway.result("<create>" + record_xml(
        "CUSTOMER", CUSTOMERID="C-FIELDS", NAME="Fields Ltd", **{
            "DISPLAYCONTACT.FIRSTNAME": "Ada", "DISPLAYCONTACT.LASTNAME": "Okafor",
            "DISPLAYCONTACT.MAILADDRESS.ZIP": "98101", "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE": "US",
            "SHIPTO.MAILADDRESS.CITY": "Leeds", "DELIVERY_OPTIONS": "E-Mail", "RETAINAGEPERCENTAGE": "5",
        }) + "</create>")
    recordno = created.findtext("data/customer/RECORDNO")
    row = gateway.result(f"<read><object>CUSTOMER</object><keys>{recordno}</keys><fields>*</fields></read>").find(
        "data/CUSTOMER")
    assert row is not None
    assert (row.findtext("DISPLAYCONTACT.FIRSTNAME"), row.findtext("DISPLAYCONTACT.MAILADDRESS.ZIP"),
            row.findtext("SHIPTO.MAILADDRESS.CITY"), row.findtext("DELIVERY_OPTIONS")) == (
        "Ada", "98101", "Leeds", "E-Mail")
    found = gateway.result("<query><object>CUSTOMER</object><select><field>CUSTOMERID</field></select><filter>"
                           "<greaterthan><field>RETAINAGEPERCENTAGE</field><value>4.5</value></greaterthan></filter>"
                           "</query>").find("data")
    assert found is not None and [r.findtext("CUSTOMERID") for r in found] == ["C-FIELDS"]
    bad = gateway.call("<create>" + record_xml("CUSTOMER", CUSTOMERID="C-BAD", NAME="Bad", **{
        "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE": "ZZ"}) + "</create>").find("operation/result")
    assert bad is not None and bad.findtext("status") == "failure"
    assert "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE" in errors_of(bad)[0][1]
    employee = gateway.result("<create>" + record_xml("EMPLOYEE", EMPLOYEEID="EMP-NEW", LOCATIONID="E100", **{
        "PERSONALINFO.CONTACTNAME": "Kira Silva", "PERSONALINFO.MAILADDRESS.CITY": "Austin", "GENDER": "female"})
        + "</create>").findtext("data/employee/RECORDNO")
    row = gateway.result(f"<read><object>EMPLOYEE</object><keys>{employee}</keys><fields>*</fields></read>").find(
        "data/EMPLOYEE")
    assert row is not None and (row.findtext("PERSONALINFO.MAILADDRESS.CITY"), row.findtext("GENDER"),
                                row.findtext("PERSONALINFO.PRINTAS")) == ("Austin", "female", "Kira Silva")


# ---- LOCATION and LOCATIONID ---------------------------------------------------------------------------------------


def test_location_holds_the_entities_and_their_sub_locations(intacct: Any, gateway: Gateway) -> None:
    entities = {e["LOCATIONID"]: e for e in admin_records(intacct, "LOCATIONENTITY")}
    data = gateway.result(read_by_query("LOCATION", "", "*", 100)).find("data")
    assert data is not None and data.get("listtype") == "location"
    locations = {r.findtext("LOCATIONID"): r for r in data}
    assert set(entities) < set(locations)
    for entity_id, entity in entities.items():
        row = locations[entity_id]
        assert row.findtext("RECORDNO") == entity["RECORDNO"] and row.findtext("NAME") == entity["NAME"]
        assert (row.findtext("LOCATIONTYPE"), row.findtext("PARENTID"), row.findtext("ENTITY")) == (
            "E", "", f"{entity_id}--{entity['NAME']}")
    subs = {k: r for k, r in locations.items() if k not in entities}
    assert subs
    for location_id, row in subs.items():
        parent = row.findtext("PARENTID", "")
        assert parent in entities and location_id.startswith(parent + "-")
        assert row.findtext("PARENTNAME") == entities[parent]["NAME"]
        assert row.findtext("PARENTKEY") == entities[parent]["RECORDNO"]
        assert row.findtext("ENTITY") == f"{parent}--{entities[parent]['NAME']}"
        assert row.findtext("LOCATIONTYPE") == "N" and row.findtext("STATUS") == "active"
    # The same records through query, read, readByName; LOCATIONENTITY stays the entities alone.
    in_e100 = gateway.result("<query><object>LOCATION</object><select><field>LOCATIONID</field></select><filter>"
                             "<equalto><field>PARENTID</field><value>E100</value></equalto></filter><orderby><order>"
                             "<field>LOCATIONID</field><ascending/></order></orderby></query>").find("data")
    assert in_e100 is not None
    assert [r.findtext("LOCATIONID") for r in in_e100] == sorted(k for k, r in subs.items()
                                                                  if r.findtext("PARENTID") == "E100")
    sub_id, sub = sorted(subs.items())[0]
    read = gateway.result(f"<read><object>LOCATION</object><keys>{sub.findtext('RECORDNO')}</keys><fields>LOCATIONID"
                          "</fields></read>")
    assert read.findtext("data/LOCATION/LOCATIONID") == sub_id
    by_name = gateway.result(f"<readByName><object>LOCATION</object><keys>{sub_id},E200</keys><fields>RECORDNO"
                             "</fields></readByName>").find("data")
    assert by_name is not None and [r.findtext("RECORDNO") for r in by_name] == [
        sub.findtext("RECORDNO"), entities["E200"]["RECORDNO"]]
    entity_rows = gateway.result(read_by_query("LOCATIONENTITY", "", "LOCATIONID", 100)).find("data")
    assert entity_rows is not None and sorted(r.findtext("LOCATIONID") for r in entity_rows) == sorted(entities)
    # A location created under an entity is a LOCATION, not an entity.
    gateway.result("<create>" + record_xml("LOCATION", LOCATIONID="E300-MAN", NAME="Manchester", PARENTID="E300")
                   + "</create>")
    assert "E300-MAN" in {r["LOCATIONID"] for r in admin_records(intacct, "LOCATION")}
    assert "E300-MAN" not in {r["LOCATIONID"] for r in admin_records(intacct, "LOCATIONENTITY")}
    orphan = gateway.call("<create>" + record_xml("LOCATION", LOCATIONID="X-1", NAME="x", PARENTID="NOPE")
                          + "</create>").find("operation/result")
    assert orphan is not None and orphan.findtext("status") == "failure" and "NOPE" in errors_of(orphan)[0][1]
    # A location in use (here: an entity with locations under it) is not deleted; an unused one is.
    manchester = next(r["RECORDNO"] for r in admin_records(intacct, "LOCATION") if r["LOCATIONID"] == "E300-MAN")
    in_use = gateway.call(f"<delete><object>LOCATION</object><keys>{entities['E300']['RECORDNO']}</keys></delete>")
    assert in_use.findtext("operation/result/status") == "failure"
    gateway.result(f"<delete><object>LOCATION</object><keys>{manchester}</keys></delete>")
    assert "E300-MAN" not in {r["LOCATIONID"] for r in admin_records(intacct, "LOCATION")}
    assert "E300" in {r["LOCATIONID"] for r in admin_records(intacct, "LOCATIONENTITY")}


def test_locationid_on_project_employee_and_time_is_checked_against_location(intacct: Any, gateway: Gateway) -> None:
    subs = {r["LOCATIONID"]: r for r in admin_records(intacct, "LOCATION") if r["LOCATIONTYPE"] != "E"}
    e100_sub = next(k for k, r in subs.items() if r["PARENTID"] == "E100")
    e200_sub = next(k for k, r in subs.items() if r["PARENTID"] == "E200")
    # Top level: any existing location; an unknown one is refused naming it.
    gateway.result(f"<create>{project_xml('PRJ-LOC-1', LOCATIONID=e100_sub)}</create>")
    row = star_row(gateway, "PROJECT", "PROJECTID = 'PRJ-LOC-1'")
    assert (row.findtext("LOCATIONID"), row.findtext("LOCATIONNAME"), row.findtext("PROJECTLOCATIONKEY")) == (
        e100_sub, subs[e100_sub]["NAME"], subs[e100_sub]["RECORDNO"])
    unknown = gateway.call(f"<create>{project_xml('PRJ-LOC-2', LOCATIONID='NOWHERE')}</create>").find(
        "operation/result")
    assert unknown is not None and "NOWHERE" in errors_of(unknown)[0][1]
    moved = gateway.call(f"<update>{record_xml('PROJECT', PROJECTID='PRJ-LOC-1', LOCATIONID='NOWHERE')}</update>")
    assert moved.findtext("operation/result/status") == "failure"
    # An entity session: its own entity and the locations under it; another entity's location is refused.
    e200 = entity_gateway(intacct, "E200")
    created = e200.result(f"<create>{project_xml('PRJ-LOC-3', LOCATIONID=e200_sub)}</create>")
    assert created.findtext("status") == "success"
    elsewhere = e200.call(f"<create>{project_xml('PRJ-LOC-4', LOCATIONID=e100_sub)}</create>").find(
        "operation/result")
    assert elsewhere is not None and elsewhere.findtext("status") == "failure"
    assert "E200" in errors_of(elsewhere)[0][1] and e100_sub in errors_of(elsewhere)[0][1]
    # Employees: create and update.
    gateway.result("<create>" + record_xml("EMPLOYEE", EMPLOYEEID="EMP-LOC", LOCATIONID=e200_sub,
                                           **{"PERSONALINFO.CONTACTNAME": "Luca Rossi"}) + "</create>")
    employee = next(e for e in admin_records(intacct, "EMPLOYEE") if e["EMPLOYEEID"] == "EMP-LOC")
    assert employee["LOCATIONKEY"] == subs[e200_sub]["RECORDNO"]
    bad_employee = gateway.call("<update>" + record_xml("EMPLOYEE", EMPLOYEEID="EMP-LOC", LOCATIONID="NOWHERE")
                                + "</update>").find("operation/result")
    assert bad_employee is not None and bad_employee.findtext("status") == "failure"
    assert "NOWHERE" in errors_of(bad_employee)[0][1]
    # Time entries: a LOCATIONID given on an entry must exist too.
    task = gateway.result("<create><TASK><NAME>Design</NAME><PROJECTID>PRJ-LOC-1</PROJECTID></TASK></create>")
    taskkey = task.findtext("data/task/RECORDNO")
    sheet = ("<create><TIMESHEET><EMPLOYEEID>EMP-LOC</EMPLOYEEID><BEGINDATE>03/02/2026</BEGINDATE><TIMESHEETENTRIES>"
             f"<TIMESHEETENTRY><ENTRYDATE>03/02/2026</ENTRYDATE><QTY>2</QTY><TASKKEY>{taskkey}</TASKKEY>"
             "<LOCATIONID>{location}</LOCATIONID></TIMESHEETENTRY></TIMESHEETENTRIES></TIMESHEET></create>")
    refused = gateway.call(sheet.replace("{location}", "NOWHERE")).find("operation/result")
    assert refused is not None and refused.findtext("status") == "failure" and "NOWHERE" in errors_of(refused)[0][1]
    gateway.result(sheet.replace("{location}", e100_sub))
    entry = next(e for e in admin_records(intacct, "TIMESHEETENTRY") if e["TASKKEY"] == taskkey)
    assert (entry["LOCATIONID"], entry["LOCATIONNAME"]) == (e100_sub, subs[e100_sub]["NAME"])


def test_a_project_created_in_an_entity_session_is_private_to_that_entity(intacct: Any, gateway: Gateway) -> None:
    entities = {e["LOCATIONID"]: e for e in admin_records(intacct, "LOCATIONENTITY")}
    e200_sub = next(r["LOCATIONID"] for r in admin_records(intacct, "LOCATION") if r["PARENTID"] == "E200")
    e200 = entity_gateway(intacct, "E200")
    created = e200.result(f"<create>{project_xml('PRJ-PRIV', LOCATIONID=e200_sub)}</create>")
    recordno = created.findtext("data/project/RECORDNO")
    assert created.findtext("data/project/PROJECTID") == "PRJ-PRIV"
    mine = e200.result("<readByName><object>PROJECT</object><keys>PRJ-PRIV</keys><fields>MEGAENTITYID,MEGAENTITYKEY,"
                       "MEGAENTITYNAME,LOCATIONID</fields></readByName>").find("data/PROJECT")
    assert mine is not None and (mine.findtext("MEGAENTITYID"), mine.findtext("MEGAENTITYKEY"),
                                 mine.findtext("MEGAENTITYNAME"), mine.findtext("LOCATIONID")) == (
        "E200", entities["E200"]["RECORDNO"], "Canada", e200_sub)
    # Another entity sees nothing of it and cannot change it.
    e100 = entity_gateway(intacct, "E100")
    assert e100.result(f"<read><object>PROJECT</object><keys>{recordno}</keys></read>").find("data").get(
        "count") == "0"
    assert e100.result("<readByName><object>PROJECT</object><keys>PRJ-PRIV</keys></readByName>").find("data").get(
        "count") == "0"
    assert e100.result(read_by_query("PROJECT", "PROJECTID = 'PRJ-PRIV'", "RECORDNO")).find("data").get(
        "totalcount") == "0"
    assert e100.call(f"<update>{record_xml('PROJECT', RECORDNO=recordno, NAME='x')}</update>").findtext(
        "operation/result/status") == "failure"
    # Top level: query shows it only with showprivate; readByQuery shows it.
    select = ("<query><object>PROJECT</object><select><field>PROJECTID</field><field>MEGAENTITYID</field></select>"
              "<filter><equalto><field>PROJECTID</field><value>PRJ-PRIV</value></equalto></filter>{options}</query>")
    assert gateway.result(select.replace("{options}", "")).find("data").get("totalcount") == "0"
    shown = gateway.result(select.replace("{options}", "<options><showprivate>true</showprivate></options>"))
    assert shown.findtext("data/PROJECT/MEGAENTITYID") == "E200"
    assert gateway.result(read_by_query("PROJECT", "PROJECTID = 'PRJ-PRIV'", "RECORDNO")).findtext(
        "data/project/RECORDNO") == recordno
    # PROJECTID stays unique across the company: another entity cannot reuse it.
    reused = e100.call(f"<create>{project_xml('PRJ-PRIV')}</create>").find("operation/result")
    assert reused is not None and [e[0] for e in errors_of(reused)] == ["BL34000061", "BL01001973"]


def test_entity_sessions_must_name_an_existing_entity(intacct: Any, gateway: Gateway) -> None:
    sub = next(r["LOCATIONID"] for r in admin_records(intacct, "LOCATION") if r["LOCATIONTYPE"] != "E")
    for location in ("E999", sub):
        refused = gateway.call(f"<getAPISession><locationid>{location}</locationid></getAPISession>").find(
            "operation/result")
        assert refused is not None and refused.findtext("status") == "failure"
        assert refused.findtext("errormessage/error/errorno") == "XL03000006"
        assert refused.find("data") is None
        login = Gateway(intacct.env).call("<getAPISession/>", login=True, locationid=location)
        assert login.findtext("operation/authentication/status") == "failure"
        assert login.findtext("operation/errormessage/error/errorno") == "XL03000006"
        assert login.find("operation/result") is None
    # The SDKs' "company|entity" slide-in form (intacct-sdk-php #135) opens an entity session, checked the same way.
    piped = Gateway({**intacct.env, "INTACCT_COMPANY_ID": intacct.env["INTACCT_COMPANY_ID"] + "|E300"})
    root = piped.call("<getAPISession/>", login=True)
    assert root.findtext("operation/authentication/locationid") == "E300"
    assert root.findtext("operation/result/data/api/locationid") == "E300"
    wrong = Gateway({**intacct.env, "INTACCT_COMPANY_ID": intacct.env["INTACCT_COMPANY_ID"] + "|E999"})
    assert wrong.call("<getAPISession/>", login=True).findtext("operation/authentication/status") == "failure"
    assert entity_gateway(intacct, "E100").result(read_by_query("PROJECT", "", "RECORDNO", 1)) is not None


# ---- functions one by one, uniqueid, duplicate PROJECTID -----------------------------------------------------------


def test_functions_without_a_transaction_answer_one_by_one_and_uniqueid_defaults_to_true(
    intacct: Any, gateway: Gateway
) -> None:
    existing = admin_records(intacct, "PROJECT")[0]["PROJECTID"]
    functions = [
        ("c-ok", f"<create>{project_xml('PRJ-MULTI-1', LOCATIONID='E100')}</create>"),
        ("c-dup", f"<create>{project_xml(existing, LOCATIONID='E100')}</create>"),
        ("u-ok", f"<update>{record_xml('PROJECT', PROJECTID='PRJ-MULTI-1', DESCRIPTION='renamed')}</update>"),
        ("u-missing", f"<update>{record_xml('PROJECT', PROJECTID='PRJ-NOT-THERE', NAME='x')}</update>"),
        ("t-ok", "<create><TASK><NAME>Kickoff</NAME><PROJECTID>PRJ-MULTI-1</PROJECTID></TASK></create>"),
    ]
    # No <uniqueid>: DOC-REQ says true is the default.
    xml = gateway.envelope([(f"{cid}-{uuid.uuid4().hex[:6]}", body) for cid, body in functions])
    xml = xml.replace("<uniqueid>false</uniqueid>", "")
    root = gateway.post(xml)
    assert root.findtext("control/uniqueid") == "true"
    results = root.findall("operation/result")
    assert [r.findtext("status") for r in results] == ["success", "failure", "success", "failure", "success"]
    assert [r.findtext("controlid", "").rsplit("-", 1)[0] for r in results] == [cid for cid, _ in functions]
    assert results[0].findtext("data/project/PROJECTID") == "PRJ-MULTI-1" and not errors_of(results[0])
    assert [e[0] for e in errors_of(results[1])] == ["BL34000061", "BL01001973"]
    assert results[1].find("data").get("count") == "0"
    assert errors_of(results[3])[0][0] == "Cannot update non-existing PROJECT with PROJECTID=PRJ-NOT-THERE."
    assert results[4].findtext("data/task/RECORDNO")
    row = star_row(gateway, "PROJECT", "PROJECTID = 'PRJ-MULTI-1'")
    assert row.findtext("DESCRIPTION") == "renamed"
    tasks_before = len(admin_records(intacct, "TASK"))
    # The same request again: the functions that completed are not run again, the failed ones are.
    again = gateway.post(xml).findall("operation/result")
    assert [r.findtext("status") for r in again] == ["failure"] * 5
    assert [errors_of(r)[0][0] for r in again] == [
        "EMU-DUPCTRLID", "BL34000061", "EMU-DUPCTRLID",
        "Cannot update non-existing PROJECT with PROJECTID=PRJ-NOT-THERE.", "EMU-DUPCTRLID"]
    assert len(admin_records(intacct, "TASK")) == tasks_before


def test_a_write_with_a_repeated_controlid_is_never_applied_twice(intacct: Any, gateway: Gateway) -> None:
    employee = admin_records(intacct, "EMPLOYEE")[0]["EMPLOYEEID"]
    sheet = (f"<TIMESHEET><EMPLOYEEID>{employee}</EMPLOYEEID><BEGINDATE>03/09/2026</BEGINDATE>"
             "<DESCRIPTION>{description}</DESCRIPTION></TIMESHEET>")
    sheets_before = len(admin_records(intacct, "TIMESHEET"))
    # Twice in one transaction: the second is refused, and the whole operation rolls back.
    twice = [("sheet-twice", "<create>" + sheet.replace("{description}", "twice") + "</create>")] * 2
    results = gateway.post(gateway.envelope(twice, uniqueid=True, transaction=True)).findall("operation/result")
    assert [r.findtext("status") for r in results] == ["aborted", "failure"]
    assert errors_of(results[1])[0][0] == "EMU-DUPCTRLID"
    assert len(admin_records(intacct, "TIMESHEET")) == sheets_before
    # A create whose second object fails keeps the first (no transaction); a replay must not write it again.
    partial = [("sheet-partial", "<create>" + sheet.replace("{description}", "partial") + record_xml(
        "TIMESHEET", EMPLOYEEID="NO-SUCH-EMPLOYEE", BEGINDATE="03/09/2026") + "</create>")]
    first = gateway.post(gateway.envelope(partial, uniqueid=True)).find("operation/result")
    assert first is not None and first.findtext("status") == "failure" and first.find("data").get("count") == "1"
    replay = gateway.post(gateway.envelope(partial, uniqueid=True)).find("operation/result")
    assert replay is not None and errors_of(replay)[0][0] == "EMU-DUPCTRLID"
    assert sum(s["DESCRIPTION"] == "partial" for s in admin_records(intacct, "TIMESHEET")) == 1


def test_a_client_that_chose_the_projectid_finds_the_project_after_a_crash(intacct: Any, gateway: Gateway) -> None:
    chosen = f"PRJ-{uuid.uuid4().hex[:8].upper()}"
    body = [(f"create-{chosen}", f"<create>{project_xml(chosen, LOCATIONID='E100')}</create>")]
    gateway.post(gateway.envelope(body, uniqueid=True))  # the reply is lost: the client crashed
    found = gateway.result(f"<readByName><object>PROJECT</object><keys>{chosen}</keys><fields>RECORDNO,PROJECTID"
                           "</fields></readByName>").find("data")
    assert found is not None and found.get("count") == "1"
    # Retried with the same controlid it is not run; with a new one it meets the real duplicate error.
    assert errors_of(gateway.post(gateway.envelope(body, uniqueid=True)).find("operation/result"))[0][0] == (
        "EMU-DUPCTRLID")
    retry = gateway.call(f"<create>{project_xml(chosen, LOCATIONID='E100')}</create>", uniqueid=True).find(
        "operation/result")
    assert retry is not None and retry.findtext("status") == "failure"
    assert tags(retry) == ["status", "function", "controlid", "data", "errormessage"]
    (dup_no, dup_text), (generic_no, generic_text) = errors_of(retry)
    assert dup_no == "BL34000061" and dup_text.startswith(f"Another Project with the given value(s) {chosen}  "
                                                          "already exists [Support ID: ")
    assert retry.findtext("errormessage/error/correction") == "Use a unique value instead."
    assert (generic_no, generic_text) == ("BL01001973", "Could not create Project record!")
    assert sum(p["PROJECTID"] == chosen for p in admin_records(intacct, "PROJECT")) == 1


# ---- SFDC custom fields -----------------------------------------------------------------------------------------


def test_sfdc_custom_fields_are_written_by_create_and_update(intacct: Any, gateway: Gateway) -> None:
    definition = {f.findtext("ID"): f for f in gateway.result("<lookup><object>PROJECT</object></lookup>").iter(
        "Field")}
    task_definition = {f.findtext("ID"): f for f in gateway.result("<lookup><object>TASK</object></lookup>").iter(
        "Field")}
    for field in (definition["SFDC_PROJECT_ID"], task_definition["SFDC_TASK_ID"]):
        assert (field.findtext("ISCUSTOM"), field.findtext("READONLY"), field.findtext("DATATYPE")) == (
            "true", "false", "TEXT")
    gateway.result(f"<create>{project_xml('PRJ-SF', LOCATIONID='E100', SFDC_PROJECT_ID='a0B5g0000000001AAA')}"
                   "</create>")
    task = gateway.result("<create>" + record_xml("TASK", NAME="Proofing", PROJECTID="PRJ-SF",
                                                  SFDC_TASK_ID="a0C5g0000000001AAA") + "</create>")
    taskkey = task.findtext("data/task/RECORDNO")
    gateway.result(f"<update>{record_xml('PROJECT', PROJECTID='PRJ-SF', SFDC_PROJECT_ID='a0B5g0000000002AAA')}"
                   "</update>")
    gateway.result(f"<update>{record_xml('TASK', RECORDNO=str(taskkey), SFDC_TASK_ID='a0C5g0000000002AAA')}</update>")
    assert gateway.result(read_by_query("PROJECT", "SFDC_PROJECT_ID = 'a0B5g0000000002AAA'", "PROJECTID")).findtext(
        "data/project/PROJECTID") == "PRJ-SF"
    assert gateway.result(f"<read><object>TASK</object><keys>{taskkey}</keys><fields>SFDC_TASK_ID</fields></read>"
                          ).findtext("data/TASK/SFDC_TASK_ID") == "a0C5g0000000002AAA"
    gateway.result(f"<update>{record_xml('TASK', RECORDNO=str(taskkey), SFDC_TASK_ID='')}</update>")
    assert next(t for t in admin_records(intacct, "TASK") if t["RECORDNO"] == taskkey)["SFDC_TASK_ID"] == ""
    # An entity session writes them on its own projects.
    e300 = entity_gateway(intacct, "E300")
    e300.result(f"<create>{project_xml('PRJ-SF-E300', SFDC_PROJECT_ID='a0B5g0000000003AAA')}</create>")
    row = next(p for p in admin_records(intacct, "PROJECT") if p["PROJECTID"] == "PRJ-SF-E300")
    assert (row["SFDC_PROJECT_ID"], row["MEGAENTITYID"]) == ("a0B5g0000000003AAA", "E300")
