"""The shared generated world as Intacct records: entities and their locations, customers, employees, projects on
the Intacct side, their tasks, and approved timesheets whose hours are exactly each task's actual hours.

Ids agree with the other emulators: RECORDNO = intacct_recordno(world index); linked projects carry the Salesforce
opportunity they came from in SFDCKEY and the ia_crm__Project__c / ia_crm__Task__c ids in our custom fields, each
the Salesforce emulator's seeded id `salesforce_id(key_prefix, world index + 1)`.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.intacct.countries import CODE_OF_COUNTRY
from emulators.intacct.model import SEED_USER_RECORDNO, IntacctCompany, apply_project_rollup, apply_task_progress
from emulators.intacct.values import epoch_seconds, format_date, format_decimal
from emulators.world import ENTITIES, HISTORY_START, World, intacct_recordno, salesforce_id

SALESFORCE_PROJECT_PREFIX = "a0B"  # ia_crm__Project__c in the Salesforce emulator
SALESFORCE_TASK_PREFIX = "a0C"  # ia_crm__Task__c
SALESFORCE_OPPORTUNITY_PREFIX = "006"
TIE_GROUP = 50  # every fifth record of each run of 50 shares one WHENMODIFIED second (a bulk update)
ENTRIES_PER_TIMESHEET = 10
# Locations under the entities, one per city of the world's addresses: (LOCATIONID, NAME, entity, state).
SUB_LOCATIONS = (("E100-SEA", "Seattle", "E100", "WA"), ("E100-AUS", "Austin", "E100", "TX"),
                 ("E200-TOR", "Toronto", "E200", "ON"), ("E300-LDS", "Leeds", "E300", ""))
# The world's short country names as Intacct's address country list spells them.
_INTACCT_COUNTRY = {"USA": "United States", "UK": "United Kingdom"}


def country_code(country: str) -> str:
    """The ISO code Intacct's ...COUNTRYCODE fields hold for a country name ("" when it has none)."""
    return CODE_OF_COUNTRY.get(_INTACCT_COUNTRY.get(country, country), "")


def seeded_salesforce_id(key_prefix: str, world_index: int) -> str:
    """The id the Salesforce emulator gives its seeded record of this world index."""
    return salesforce_id(key_prefix, world_index + 1)


def _cluster(stamps: list[int]) -> list[int]:
    """Make ties on purpose: Intacct stamps to the second, and bulk imports stamp many records at once."""
    out = list(stamps)
    for start in range(0, len(out), TIE_GROUP):
        members = range(start, min(start + TIE_GROUP, len(out)), 5)
        if len(members) < 2:
            continue
        shared = max(out[i] for i in members)
        for i in members:
            out[i] = shared
    return out


def _ts(moment: datetime) -> int:
    return epoch_seconds(moment)


def generate_company(model: IntacctCompany, world: World) -> dict[str, int]:
    """Replace the company's records with the world's Intacct view; returns counts per object."""
    # Hundreds of thousands of long-lived dicts: collecting them mid-build only costs time; freezing them afterwards
    # keeps later collections (during requests) from walking them again.
    gc.disable()
    try:
        counts = _build(model, world)
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()
    return counts


def _build(model: IntacctCompany, world: World) -> dict[str, int]:
    model.reset()
    tables = model.tables
    counts = world.counts
    seed_user = SEED_USER_RECORDNO
    base = _ts(HISTORY_START)
    dates: dict[Any, str] = {}

    def day(value: Any) -> str:
        text = dates.get(value)
        if text is None:
            text = dates[value] = format_date(value)
        return text

    # Entities are locations of type E: the same records in LOCATIONENTITY and LOCATION, then the sub-locations.
    for number, (entity_id, name) in enumerate(ENTITIES, start=1):
        tables["LOCATIONENTITY"][number] = tables["LOCATION"][number] = {
            "LOCATIONID": entity_id, "RECORDNO": number, "NAME": name, "CONTACTINFO.MAILADDRESS.COUNTRY": name,
            "CONTACTINFO.MAILADDRESS.COUNTRYCODE": country_code(name), "STARTDATE": "01/01/2024",
            "WHENCREATED": base, "WHENMODIFIED": base, "CREATEDBY": seed_user, "MODIFIEDBY": seed_user,
            "OPCOUNTRY": name, "ADDRESSCOUNTRYDEFAULT": name, "LOCATIONTYPE": "E",
        }
    entity_country = dict(ENTITIES)
    for number, (location_id, name, entity_id, state) in enumerate(SUB_LOCATIONS, start=len(ENTITIES) + 1):
        country = entity_country.get(entity_id, "")
        tables["LOCATION"][number] = {
            "LOCATIONID": location_id, "RECORDNO": number, "NAME": name, "PARENTID": entity_id,
            "CONTACTINFO.MAILADDRESS.CITY": name, "CONTACTINFO.MAILADDRESS.STATE": state,
            "CONTACTINFO.MAILADDRESS.COUNTRY": country, "CONTACTINFO.MAILADDRESS.COUNTRYCODE": country_code(country),
            "STARTDATE": "01/01/2024", "WHENCREATED": base, "WHENMODIFIED": base, "CREATEDBY": seed_user,
            "MODIFIEDBY": seed_user, "ADDRESSCOUNTRYDEFAULT": country, "LOCATIONTYPE": "N",
        }

    n_employees = counts["employees"]
    for i in range(n_employees):
        person = world.employee(i)
        stamp = base + i * 60
        tables["EMPLOYEE"][intacct_recordno(i)] = {
            "RECORDNO": intacct_recordno(i), "EMPLOYEEID": person.employee_id, "TITLE": "Project Coordinator",
            "LOCATIONID": ENTITIES[i % len(ENTITIES)][0], "STARTDATE": "01/01/2024", "STATUS": "active",
            "PERSONALINFO.CONTACTNAME": f"{person.first_name} {person.last_name}",
            "PERSONALINFO.FIRSTNAME": person.first_name, "PERSONALINFO.LASTNAME": person.last_name,
            "PERSONALINFO.EMAIL1": person.email, "WHENCREATED": stamp, "WHENMODIFIED": stamp, "CREATEDBY": seed_user,
            "MODIFIEDBY": seed_user, "MEGAENTITYID": "",
        }
    employee_ids = [r["EMPLOYEEID"] for r in tables["EMPLOYEE"].values()]

    # Projects first: they decide which customers the Intacct side must also hold.
    n_projects = counts["projects"]
    project_rows: list[dict[str, Any]] = []
    project_modified: list[int] = []
    project_linked: dict[int, bool] = {}
    project_entity: dict[int, str] = {}
    customer_needed: set[int] = set()
    for i in range(n_projects):
        project = world.project(i)
        if not project.presence.on_left:
            continue
        linked = project.presence.linked
        project_linked[i] = linked
        entity = project.entity_id or ""
        project_entity[i] = entity
        customer_needed.add(project.customer_index)
        row = {
            "RECORDNO": intacct_recordno(i), "PROJECTID": project.project_id, "NAME": project.name,
            "DESCRIPTION": project.description, "PROJECTCATEGORY": "Contract", "PROJECTSTATUS": project.status,
            "STATUS": "active", "BEGINDATE": day(project.begin_date), "ENDDATE": day(project.end_date),
            "BUDGETAMOUNT": format_decimal(project.budget_amount),
            "CUSTOMERID": f"C-{project.customer_index + 1:06d}",  # world Customer.number, without building it
            "LOCATIONID": entity or ENTITIES[0][0], "WHENCREATED": _ts(project.stamps.created_at),
            "CREATEDBY": seed_user, "MODIFIEDBY": seed_user, "MEGAENTITYID": entity,
        }
        if employee_ids:
            row["MANAGERID"] = employee_ids[project.manager_index % len(employee_ids)]
        if linked:
            row["SFDC_PROJECT_ID"] = seeded_salesforce_id(SALESFORCE_PROJECT_PREFIX, i)
            if project.opportunity_index is not None:
                row["SFDCKEY"] = seeded_salesforce_id(SALESFORCE_OPPORTUNITY_PREFIX, project.opportunity_index)
        project_rows.append(row)
        project_modified.append(_ts(project.stamps.modified_at))
    for row, stamp in zip(project_rows, _cluster(project_modified), strict=True):
        row["WHENMODIFIED"] = max(stamp, row["WHENCREATED"])
        tables["PROJECT"][row["RECORDNO"]] = row

    n_customers = counts["customers"]
    customer_rows: list[dict[str, Any]] = []
    customer_modified: list[int] = []
    codes: dict[str, str] = {}
    for i in range(n_customers):
        customer = world.customer(i)
        if not customer.presence.on_left and i not in customer_needed:
            continue
        customer_rows.append({
            "RECORDNO": intacct_recordno(i), "CUSTOMERID": customer.number, "NAME": customer.name,
            "DISPLAYCONTACT.PHONE1": customer.phone, "DISPLAYCONTACT.EMAIL1": customer.email,
            "DISPLAYCONTACT.MAILADDRESS.CITY": customer.city, "DISPLAYCONTACT.MAILADDRESS.STATE": customer.state,
            "DISPLAYCONTACT.MAILADDRESS.COUNTRY": customer.country,
            "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE": codes.get(customer.country)
            or codes.setdefault(customer.country, country_code(customer.country)),
            "STATUS": "active" if customer.active else "inactive",
            "WHENCREATED": _ts(customer.stamps.created_at), "CREATEDBY": seed_user, "MODIFIEDBY": seed_user,
            "MEGAENTITYID": "",
        })
        customer_modified.append(_ts(customer.stamps.modified_at))
    for row, stamp in zip(customer_rows, _cluster(customer_modified), strict=True):
        row["WHENMODIFIED"] = max(stamp, row["WHENCREATED"])
        tables["CUSTOMER"][row["RECORDNO"]] = row

    # Tasks of Intacct-side projects, with time booked on approved (and some submitted) timesheets.
    n_tasks = counts["tasks"]
    task_rows: list[dict[str, Any]] = []
    task_modified: list[int] = []
    open_sheets: dict[int, list[tuple[dict[str, Any], float, str, int]]] = {}
    sheets: list[tuple[int, list[tuple[dict[str, Any], float, str, int]]]] = []
    for i in range(n_tasks):
        task = world.task(i)
        project_index = task.project_index
        if project_index not in project_linked:
            continue
        row = {
            "RECORDNO": intacct_recordno(i), "TASKID": task.task_id, "NAME": task.name,
            "PROJECTKEY": intacct_recordno(project_index), "PBEGINDATE": day(task.begin_date),
            "PENDDATE": day(task.end_date), "BUDGETQTY": format_decimal(task.planned_hours),
            "ESTQTY": format_decimal(task.planned_hours), "TASKSTATUS": task.status,
            "WHENCREATED": _ts(task.stamps.created_at), "CREATEDBY": seed_user, "MODIFIEDBY": seed_user,
            "MEGAENTITYID": project_entity[project_index],
        }
        if project_linked[project_index]:
            row["SFDC_TASK_ID"] = seeded_salesforce_id(SALESFORCE_TASK_PREFIX, i)
        task_rows.append(row)
        task_modified.append(_ts(task.stamps.modified_at))
        if task.actual_hours > 0 and employee_ids:
            employee = i % len(employee_ids)
            bucket = open_sheets.setdefault(employee, [])
            bucket.append((row, task.actual_hours, day(task.begin_date), task_modified[-1]))
            if len(bucket) == ENTRIES_PER_TIMESHEET:
                sheets.append((employee, bucket))
                open_sheets[employee] = []
        elif task.actual_hours > 0:
            row["_ACTUAL"] = (task.actual_hours, task.actual_hours, [day(task.begin_date)])
    sheets.extend((employee, bucket) for employee, bucket in open_sheets.items() if bucket)

    time_by_task: dict[int, list[Any]] = {}
    entry_no = 0
    for sheet_no, (employee, bucket) in enumerate(sheets, start=1):
        employee_id = employee_ids[employee]
        state = "Submitted" if sheet_no % 7 == 0 else "Approved"
        stamp = min(entry[3] for entry in bucket)
        first_day = min((entry[2] for entry in bucket), key=lambda text: (text[6:], text[:5]))
        tables["TIMESHEET"][sheet_no] = {
            "RECORDNO": sheet_no, "DESCRIPTION": f"Time for {employee_id}", "EMPLOYEEID": employee_id,
            "EMPLOYEEKEY": intacct_recordno(employee),
            "BEGINDATE": first_day, "STATE": state, "WHENCREATED": stamp, "WHENMODIFIED": stamp,
            "CREATEDBY": seed_user, "MODIFIEDBY": seed_user, "MEGAENTITYID": "",
        }
        for line_no, (task_row, hours, entry_day, _) in enumerate(bucket, start=1):
            entry_no += 1
            project = tables["PROJECT"][task_row["PROJECTKEY"]]
            tables["TIMESHEETENTRY"][entry_no] = {
                "RECORDNO": entry_no, "LINENO": line_no, "TIMESHEETKEY": sheet_no,
                "PROJECTKEY": task_row["PROJECTKEY"],
                "TASKKEY": task_row["RECORDNO"], "ENTRYDATE": entry_day, "QTY": format_decimal(hours),
                "LOCATIONID": project["LOCATIONID"], "WHENCREATED": stamp, "WHENMODIFIED": stamp,
                "CREATEDBY": seed_user, "MODIFIEDBY": seed_user,
            }
            booked = time_by_task.setdefault(task_row["RECORDNO"], [0.0, 0.0, []])
            booked[0] += hours
            booked[1] += hours if state == "Approved" else 0.0
            booked[2].append(entry_day)

    tasks_by_project: dict[int, list[dict[str, Any]]] = {}
    for row, stamp in zip(task_rows, _cluster(task_modified), strict=True):
        row["WHENMODIFIED"] = max(stamp, row["WHENCREATED"])
        actual, approved, entry_days = row.pop("_ACTUAL", None) or time_by_task.get(row["RECORDNO"], (0.0, 0.0, []))
        apply_task_progress(row, actual, approved, list(entry_days))
        tables["TASK"][row["RECORDNO"]] = row
        tasks_by_project.setdefault(row["PROJECTKEY"], []).append(row)
    for recordno, rows in tasks_by_project.items():
        apply_project_rollup(tables["PROJECT"][recordno], rows)

    for object_name, table in tables.items():
        for recordno, record in table.items():
            model._index(object_name, recordno, record)
        model.next_recordno[object_name] = max(table, default=0) + 1
    model.next_recordno["PROJECT"] = max(model.next_recordno["PROJECT"], intacct_recordno(n_projects))
    model.next_recordno["TASK"] = max(model.next_recordno["TASK"], intacct_recordno(n_tasks))
    model.next_recordno["CUSTOMER"] = max(model.next_recordno["CUSTOMER"], intacct_recordno(n_customers))
    model.next_recordno["EMPLOYEE"] = max(model.next_recordno["EMPLOYEE"], intacct_recordno(n_employees))
    latest = max((r["WHENMODIFIED"] for t in tables.values() for r in t.values()), default=base)
    model.clock.observe(datetime.fromtimestamp(latest, UTC) + timedelta(seconds=1))
    model.version += 1
    return {name: len(table) for name, table in tables.items()}
