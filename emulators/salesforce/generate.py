"""Salesforce's view of the shared world: Accounts, Opportunities, Contracts, Users and the ia_crm__ projects/tasks.

Built column by column (no per-record dicts), so a million task rows load in seconds. Seeded ids are
`salesforce_id(key_prefix, world_index + 1)`, which is how the other emulators refer to these records.
"""

from __future__ import annotations

from typing import Any

from emulators.salesforce.catalogue import OPPORTUNITY_STAGES
from emulators.salesforce.store import SalesforceOrg, contract_end_date
from emulators.world import HISTORY_START, World, intacct_recordno, salesforce_id

INTACCT_RECORD_URL = "https://www.intacct.com/ia/acct/ur.phtml?.r=project&.k={recordno}"


def seeded_id(key_prefix: str, world_index: int) -> str:
    return salesforce_id(key_prefix, world_index + 1)


def _ms(moment: Any) -> int:
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


class _Columns(dict[str, list[Any]]):
    """Column lists filled row by row: columns["Name"].append(...)."""

    def __missing__(self, key: str) -> list[Any]:
        self[key] = column = []
        return column


def generate_org(org: SalesforceOrg, world: World) -> tuple[dict[str, int], int]:
    """Load the world into an empty org; returns (counts per object, greatest seeded SystemModstamp in ms)."""
    counts = world.counts
    newest = 0
    dates: dict[Any, str] = {}

    def iso(day: Any) -> str:
        text = dates.get(day)
        if text is None:
            text = dates[day] = day.isoformat()
        return text

    def stamp(columns: _Columns, owner: str, created: int, modified: int) -> None:
        nonlocal newest
        columns["OwnerId"].append(owner)
        columns["IsDeleted"].append(False)
        columns["CreatedDate"].append(created)
        columns["CreatedById"].append(owner)
        columns["LastModifiedDate"].append(modified)
        columns["LastModifiedById"].append(owner)
        columns["SystemModstamp"].append(modified)
        if modified > newest:
            newest = modified

    # Users: the world's people (employees) who also log in to Salesforce.
    users = _Columns()
    user_ids: list[str] = []
    base = _ms(HISTORY_START)
    for i in range(counts["users"]):
        person = world.employee(i)
        user_id = seeded_id("005", i)
        user_ids.append(user_id)
        users["Id"].append(user_id)
        users["Username"].append(f"{person.first_name}.{person.last_name}.{i + 1}@crosswalk-sandbox.example".lower())
        users["FirstName"].append(person.first_name)
        users["LastName"].append(person.last_name)
        users["Name"].append(f"{person.first_name} {person.last_name}")
        users["Email"].append(person.email)
        users["Alias"].append((person.first_name[:1] + person.last_name[:4]).lower())
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            users[name].append(base + i * 60_000)
        users["CreatedById"].append(org.user_id)
        users["LastModifiedById"].append(org.user_id)
    org.tables["User"].bulk_load(users, len(user_ids))
    owners = user_ids or [org.user_id]

    accounts = _Columns()
    account_ids: list[str | None] = []
    for i in range(counts["customers"]):
        customer = world.customer(i)
        if not customer.presence.on_right:
            account_ids.append(None)
            continue
        account_id = seeded_id("001", i)
        account_ids.append(account_id)
        accounts["Id"].append(account_id)
        accounts["Name"].append(customer.right_name)
        accounts["Type"].append("Customer - Direct")
        accounts["AccountNumber"].append(customer.number)
        accounts["Phone"].append(customer.phone)
        accounts["BillingCity"].append(customer.city)
        accounts["BillingState"].append(customer.state or None)
        accounts["BillingCountry"].append(customer.country)
        accounts["ia_crm__IntacctID__c"].append(customer.number if customer.presence.linked else None)
        accounts["ia_crm__Sync_With_Intacct__c"].append(customer.presence.linked)
        accounts["ia_crm__Email_ID__c"].append(customer.email)
        stamp(accounts, owners[i % len(owners)], _ms(customer.stamps.created_at), _ms(customer.stamps.modified_at))
    org.tables["Account"].bulk_load(accounts, len(accounts["Id"]))

    opportunities, contracts = _Columns(), _Columns()
    opportunity_ids: list[str] = []
    for i in range(counts["opportunities"]):
        opportunity = world.opportunity(i)
        opportunity_id = seeded_id("006", i)
        opportunity_ids.append(opportunity_id)
        owner = owners[i % len(owners)]
        created, modified = _ms(opportunity.stamps.created_at), _ms(opportunity.stamps.modified_at)
        account_id = account_ids[opportunity.customer_index] if account_ids else None
        probability, forecast, closed, won = OPPORTUNITY_STAGES[opportunity.stage]
        opportunities["Id"].append(opportunity_id)
        opportunities["AccountId"].append(account_id)
        opportunities["Name"].append(opportunity.name)
        opportunities["StageName"].append(opportunity.stage)
        opportunities["Amount"].append(opportunity.amount)
        opportunities["Probability"].append(float(probability))
        opportunities["CloseDate"].append(iso(opportunity.close_date))
        opportunities["Type"].append("New Business")
        opportunities["IsClosed"].append(closed)
        opportunities["IsWon"].append(won)
        opportunities["ForecastCategoryName"].append(forecast)
        opportunities["ia_crm__Create_Project__c"].append(opportunity.asks_for_project)
        stamp(opportunities, owner, created, modified)
        if opportunity.project_index is not None and account_id is not None:
            start = iso(opportunity.close_date)
            contracts["Id"].append(seeded_id("800", i))
            contracts["AccountId"].append(account_id)
            contracts["ContractNumber"].append(f"{i + 1:08d}")
            contracts["Status"].append("Activated")
            contracts["StartDate"].append(start)
            contracts["ContractTerm"].append(12)
            contracts["EndDate"].append(contract_end_date(start, 12))
            contracts["Description"].append(f"Contract for {opportunity.name}")
            contracts["ia_crm__Opportunity__c"].append(opportunity_id)
            stamp(contracts, owner, created, modified)
    org.tables["Opportunity"].bulk_load(opportunities, len(opportunity_ids))
    org.tables["Contract"].bulk_load(contracts, len(contracts["Id"]))

    projects = _Columns()
    project_row: list[int | None] = []
    project_linked: list[bool] = []
    for i in range(counts["projects"]):
        project = world.project(i)
        if not project.presence.on_right:
            project_row.append(None)
            project_linked.append(False)
            continue
        project_row.append(len(projects["Id"]))
        linked = project.presence.linked
        project_linked.append(linked)
        projects["Id"].append(seeded_id("a0B", i))
        projects["Name"].append(project.right_name)
        projects["ia_crm__Project_ID__c"].append(project.project_id if linked else None)
        opportunity_index = project.opportunity_index
        projects["ia_crm__Opportunity__c"].append(
            opportunity_ids[opportunity_index] if opportunity_index is not None and opportunity_index < len(
                opportunity_ids) else None
        )
        projects["ia_crm__Customer__c"].append(account_ids[project.customer_index] if account_ids else None)
        projects["ia_crm__Project_Status__c"].append(project.status)
        projects["ia_crm__Begin_Date__c"].append(iso(project.begin_date))
        projects["ia_crm__End_Date__c"].append(iso(project.end_date))
        projects["ia_crm__Description__c"].append(project.description)
        projects["ia_crm__Intacct_Entity__c"].append(project.entity_id)
        projects["ia_crm__Budget_Amount__c"].append(project.budget_amount)
        projects["ia_crm__View_Project__c"].append(
            INTACCT_RECORD_URL.format(recordno=intacct_recordno(i)) if linked else None
        )
        stamp(projects, owners[i % len(owners)], _ms(project.stamps.created_at), _ms(project.stamps.modified_at))
    n_projects = len(projects["Id"])
    estimated, actual = [0.0] * n_projects, [0.0] * n_projects

    tasks = _Columns()
    project_ids = projects["Id"]
    for i in range(counts["tasks"]):
        task = world.task(i)
        row = project_row[task.project_index] if project_row else None
        if row is None:
            continue
        tasks["Id"].append(seeded_id("a0C", i))
        tasks["Name"].append(task.name)
        tasks["ia_crm__Task_ID__c"].append(task.task_id if project_linked[task.project_index] else None)
        tasks["ia_crm__Project__c"].append(project_ids[row])
        tasks["ia_crm__Task_Status__c"].append(task.status)
        tasks["ia_crm__Percent_Complete__c"].append(task.percent_complete)
        tasks["ia_crm__Begin_Date__c"].append(iso(task.begin_date))
        tasks["ia_crm__End_Date__c"].append(iso(task.end_date))
        tasks["ia_crm__Estimated_Duration__c"].append(task.planned_hours)
        tasks["ia_crm__Actual_Duration__c"].append(task.actual_hours)
        estimated[row] += task.planned_hours
        actual[row] += task.actual_hours
        stamp(tasks, owners[i % len(owners)], _ms(task.stamps.created_at), _ms(task.stamps.modified_at))
    projects["ia_crm__Estimated_Duration__c"] = [round(v, 2) for v in estimated]
    projects["ia_crm__Actual_Duration__c"] = [round(v, 2) for v in actual]
    projects["ia_crm__Approved_Duration__c"] = [round(v, 2) for v in actual]
    projects["ia_crm__Remaining_Duration__c"] = [round(max(0.0, e - a), 2) for e, a in zip(estimated, actual,
                                                                                          strict=True)]
    projects["ia_crm__Complete_by_Duration__c"] = [
        round(min(100.0, 100.0 * a / e), 2) if e > 0 else 0.0 for e, a in zip(estimated, actual, strict=True)
    ]
    org.tables["ia_crm__Project__c"].bulk_load(projects, n_projects)
    org.tables["ia_crm__Task__c"].bulk_load(tasks, len(tasks["Id"]))

    for name, table in org.tables.items():
        table.next_number = max(table.next_number, _highest_number(name, counts) + 1)
    result = {name: table.size - (1 if name == "User" else 0) for name, table in org.tables.items()}
    return result, newest


def _highest_number(object_name: str, counts: dict[str, int]) -> int:
    """Live creates continue above the seeded id range of each object."""
    kind = {"Account": "customers", "Opportunity": "opportunities", "Contract": "opportunities", "User": "users",
            "ia_crm__Project__c": "projects", "ia_crm__Task__c": "tasks"}[object_name]
    return counts.get(kind, 0)
