"""The Intacct objects this emulator serves: field lists in the order `lookup`/`readByQuery` return them, types,
required and read-only fields, valid values, and which fields the system derives.

Field lists and rules come from live `lookup` output (CPAanalytics/intacct_sdk fixtures/lookup/*.xml), trimmed of the
customer-specific custom fields that company had; a few custom fields of our own are added and marked `custom`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: tuple[str, ...]
    id_field: str | None  # the human key (PROJECTID); None when RECORDNO is the only key
    types: dict[str, str] = field(default_factory=dict)  # non-TEXT field -> INTEGER/DECIMAL/DATE/TIMESTAMP/BOOLEAN
    required: frozenset[str] = frozenset()
    readonly: frozenset[str] = frozenset()  # silently ignored on create/update (our choice; see docs)
    valid_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    custom: frozenset[str] = frozenset()  # ISCUSTOM=true in lookup
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def row_tag(self) -> str:
        """readByQuery rows and write results use the lower-case object name (<project>)."""
        return self.name.lower()

    def type_of(self, name: str) -> str:
        return self.types.get(name, "TEXT")


SYSTEM_FIELDS = frozenset(
    {"RECORDNO", "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID",
     "MEGAENTITYKEY", "MEGAENTITYID", "MEGAENTITYNAME", "RECORD_URL"}
)
_STAMPS = {"WHENCREATED": "TIMESTAMP", "WHENMODIFIED": "TIMESTAMP", "RECORDNO": "INTEGER", "CREATEDBY": "INTEGER",
           "MODIFIEDBY": "INTEGER", "MEGAENTITYKEY": "INTEGER"}
_BOOL = ("true", "false")

PROJECT = ObjectSchema(
    name="PROJECT",
    id_field="PROJECTID",
    fields=(
        "RECORDNO", "PROJECTID", "NAME", "DESCRIPTION", "CURRENCY", "PROJECTCATEGORY", "PROJECTSTATUSKEY",
        "PROJECTSTATUS", "PREVENTTIMESHEET", "PREVENTEXPENSE", "PREVENTAPPO", "PREVENTGENINVOICE", "STATUS",
        "BEGINDATE", "ENDDATE", "BUDGETAMOUNT", "CONTRACTAMOUNT", "ACTUALAMOUNT", "BUDGETQTY", "ESTQTY", "ACTUALQTY",
        "APPROVEDQTY", "REMAININGQTY", "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "BILLINGTYPE", "SONUMBER", "PONUMBER",
        "POAMOUNT", "PQNUMBER", "SFDCKEY", "QARROWKEY", "OAKEY", "PARENTKEY", "PARENTID", "PARENTNAME",
        "INVOICEWITHPARENT", "CUSTOMERKEY", "CUSTOMERID", "CUSTOMERNAME", "SALESCONTACTKEY", "SALESCONTACTID",
        "SALESCONTACTNAME", "PROJECTTYPEKEY", "PROJECTTYPE", "MANAGERKEY", "MANAGERID", "MANAGERCONTACTNAME",
        "PROJECTDEPTKEY", "DEPARTMENTID", "DEPARTMENTNAME", "PROJECTLOCATIONKEY", "LOCATIONID", "LOCATIONNAME",
        "CONTACTINFO.CONTACTNAME", "SHIPTO.CONTACTNAME", "BILLTO.CONTACTNAME", "TERMSKEY", "TERMNAME", "DOCNUMBER",
        "CUSTUSERKEY", "CUSTUSERID", "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY", "BUDGETEDCOST",
        "CLASSID", "CLASSNAME", "CLASSKEY", "USERRESTRICTIONS", "BILLABLEEXPDEFAULT", "BILLABLEAPPODEFAULT",
        "BUDGETID", "BUDGETKEY", "BILLINGRATE", "BILLINGPRICING", "EXPENSERATE", "EXPENSEPRICING", "POAPRATE",
        "POAPPRICING", "CONTACTKEY", "SHIPTOKEY", "BILLTOKEY", "INVOICEMESSAGE", "INVOICECURRENCY", "BILLINGOVERMAX",
        "EXCLUDEEXPENSES", "CONTRACTKEY", "CONTRACTID", "SUPDOCID", "SUPDOCKEY", "ROOTPARENTKEY", "ROOTPARENTID",
        "ROOTPARENTNAME", "MELOCATIONKEY", "MELOCATIONID", "MELOCATIONNAME", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID",
        "MEGAENTITYKEY", "MEGAENTITYID", "MEGAENTITYNAME", "SFDC_PROJECT_ID", "RECORD_URL",
    ),
    types={
        **_STAMPS, "PROJECTSTATUSKEY": "INTEGER", "PREVENTTIMESHEET": "BOOLEAN", "PREVENTEXPENSE": "BOOLEAN",
        "PREVENTAPPO": "BOOLEAN", "PREVENTGENINVOICE": "BOOLEAN", "BEGINDATE": "DATE", "ENDDATE": "DATE",
        "BUDGETAMOUNT": "DECIMAL", "CONTRACTAMOUNT": "DECIMAL", "ACTUALAMOUNT": "DECIMAL", "BUDGETQTY": "DECIMAL",
        "ESTQTY": "DECIMAL", "ACTUALQTY": "DECIMAL", "APPROVEDQTY": "DECIMAL", "REMAININGQTY": "DECIMAL",
        "PERCENTCOMPLETE": "DECIMAL", "OBSPERCENTCOMPLETE": "DECIMAL", "POAMOUNT": "DECIMAL", "PARENTKEY": "INTEGER",
        "INVOICEWITHPARENT": "BOOLEAN", "CUSTOMERKEY": "INTEGER", "PROJECTTYPEKEY": "INTEGER", "MANAGERKEY": "INTEGER",
        "PROJECTLOCATIONKEY": "INTEGER", "BUDGETEDCOST": "DECIMAL", "ROOTPARENTKEY": "INTEGER",
        "BILLABLEEXPDEFAULT": "BOOLEAN", "BILLABLEAPPODEFAULT": "BOOLEAN", "EXCLUDEEXPENSES": "BOOLEAN",
        "BILLINGRATE": "DECIMAL", "EXPENSERATE": "DECIMAL", "POAPRATE": "DECIMAL",
    },
    required=frozenset({"PROJECTID", "NAME", "PROJECTCATEGORY"}),
    readonly=frozenset(
        {"ESTQTY", "ACTUALQTY", "APPROVEDQTY", "REMAININGQTY", "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "CONTRACTID",
         "ROOTPARENTKEY", "ROOTPARENTID", "ROOTPARENTNAME", "PARENTNAME", "CUSTOMERNAME", "MANAGERCONTACTNAME",
         "LOCATIONNAME", "PROJECTSTATUSKEY", "PREVENTTIMESHEET", "PREVENTEXPENSE", "PREVENTAPPO", "PREVENTGENINVOICE",
         "CUSTOMERKEY", "MANAGERKEY", "PARENTKEY", "PROJECTLOCATIONKEY", "PROJECTTYPEKEY"}
        | SYSTEM_FIELDS
    ),
    valid_values={
        "PROJECTCATEGORY": ("Contract", "Capitalized", "Internal Non-billable", "Internal Billable"),
        "STATUS": ("active", "inactive"),
        "BILLINGTYPE": ("", "Time & Material", "Fixed Fee", "Fixed Fee & Expenses"),
        "USERRESTRICTIONS": ("System Default", "Any User", "Project Users", "Project Task Users"),
        "BILLINGPRICING": ("Billing rate", "Cost plus fee"),
        "EXPENSEPRICING": ("Billing rate", "Cost plus fee"),
        "BILLINGOVERMAX": ("Do nothing", "Issue a warning message", "Prevent billing"),
        "INVOICEWITHPARENT": _BOOL,
    },
    custom=frozenset({"SFDC_PROJECT_ID"}),
    labels={"SFDCKEY": "Salesforce key", "SFDC_PROJECT_ID": "Salesforce project record ID",
            "MEGAENTITYID": "Created at - Entity ID", "RECORD_URL": "Record URL"},
)

TASK = ObjectSchema(
    name="TASK",
    id_field="TASKID",
    fields=(
        "RECORDNO", "TASKID", "PARENTKEY", "PARENTID", "NAME", "PARENTTASKNAME", "PROJECTKEY", "PROJECTID",
        "PROJECTNAME", "PROJECTBEGINDATE", "PROJECTENDDATE", "CUSTOMERKEY", "CUSTOMERID", "CUSTOMERNAME",
        "PRODUCTIONUNITDESC", "ITEMKEY", "ITEMID", "ITEMNAME", "PBEGINDATE", "PENDDATE", "ABEGINDATE", "AENDDATE",
        "BUDGETQTY", "ESTQTY", "ACTUALQTY", "REMAININGQTY", "APPROVEDQTY", "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE",
        "DESCRIPTION", "ISMILESTONE", "UTILIZED", "BILLABLE", "TASKNO", "PRIORITY", "TASKSTATUS", "TIMETYPEKEY",
        "TIMETYPENAME", "CLASSID", "CLASSNAME", "CLASSKEY", "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY",
        "DEPENDENTONKEY", "DEPENDENTONTASKID", "DEPENDENTONNAME", "BILLABLE_BUDGETQTY", "BILLABLE_ESTQTY",
        "BILLABLE_ACTUALQTY", "BILLABLE_APPROVEDQTY", "PRODUCTIONUNITESTIMATE", "ROOTPARENTKEY", "ROOTPARENTID",
        "ROOTPARENTNAME", "STANDARDTASKKEY", "STANDARDTASKID", "STANDARDTASKNAME", "SUPDOCID", "SUPDOCKEY",
        "CREATEDBYLOGINID", "MODIFIEDBYLOGINID", "MEGAENTITYKEY", "MEGAENTITYID", "MEGAENTITYNAME", "SFDC_TASK_ID",
        "RECORD_URL",
    ),
    types={
        **_STAMPS, "PARENTKEY": "INTEGER", "PROJECTKEY": "INTEGER", "PROJECTBEGINDATE": "DATE",
        "PROJECTENDDATE": "DATE", "CUSTOMERKEY": "INTEGER", "PBEGINDATE": "DATE", "PENDDATE": "DATE",
        "ABEGINDATE": "DATE", "AENDDATE": "DATE", "BUDGETQTY": "DECIMAL", "ESTQTY": "DECIMAL", "ACTUALQTY": "DECIMAL",
        "REMAININGQTY": "DECIMAL", "APPROVEDQTY": "DECIMAL", "PERCENTCOMPLETE": "DECIMAL",
        "OBSPERCENTCOMPLETE": "DECIMAL", "ISMILESTONE": "BOOLEAN", "UTILIZED": "BOOLEAN", "BILLABLE": "BOOLEAN",
        "PRIORITY": "INTEGER", "ROOTPARENTKEY": "INTEGER", "BILLABLE_BUDGETQTY": "DECIMAL",
        "BILLABLE_ESTQTY": "DECIMAL", "BILLABLE_ACTUALQTY": "DECIMAL", "BILLABLE_APPROVEDQTY": "DECIMAL",
    },
    required=frozenset({"NAME", "PROJECTID"}),
    readonly=frozenset(
        {"PROJECTBEGINDATE", "PROJECTENDDATE", "ABEGINDATE", "AENDDATE", "ACTUALQTY", "REMAININGQTY", "APPROVEDQTY",
         "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "BILLABLE_ACTUALQTY", "BILLABLE_APPROVEDQTY", "ROOTPARENTKEY",
         "ROOTPARENTID", "ROOTPARENTNAME", "PROJECTNAME", "PROJECTKEY", "CUSTOMERKEY", "CUSTOMERID", "CUSTOMERNAME",
         "PARENTID", "PARENTTASKNAME"}
        | SYSTEM_FIELDS
    ),
    valid_values={
        "TASKSTATUS": ("Not Started", "Planned", "In Progress", "Completed", "On Hold"),
        "ISMILESTONE": _BOOL, "UTILIZED": _BOOL, "BILLABLE": _BOOL,
    },
    custom=frozenset({"SFDC_TASK_ID"}),
    labels={"SFDC_TASK_ID": "Salesforce task record ID", "RECORD_URL": "Record URL"},
)

CUSTOMER = ObjectSchema(
    name="CUSTOMER",
    id_field="CUSTOMERID",
    fields=(
        "RECORDNO", "CUSTOMERID", "NAME", "ENTITY", "PARENTKEY", "PARENTID", "PARENTNAME",
        "DISPLAYCONTACT.CONTACTNAME", "DISPLAYCONTACT.COMPANYNAME", "DISPLAYCONTACT.PRINTAS",
        "DISPLAYCONTACT.PHONE1", "DISPLAYCONTACT.EMAIL1", "DISPLAYCONTACT.MAILADDRESS.CITY",
        "DISPLAYCONTACT.MAILADDRESS.STATE", "DISPLAYCONTACT.MAILADDRESS.COUNTRY", "TERMNAME", "CREDITLIMIT",
        "TOTALDUE", "COMMENTS", "CURRENCY", "STATUS", "ONETIME", "ONHOLD", "WHENMODIFIED", "WHENCREATED",
        "CREATEDBY", "MODIFIEDBY", "OBJECTRESTRICTION", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID", "MEGAENTITYKEY",
        "MEGAENTITYID", "MEGAENTITYNAME", "RECORD_URL",
    ),
    types={**_STAMPS, "PARENTKEY": "INTEGER", "CREDITLIMIT": "DECIMAL", "TOTALDUE": "DECIMAL", "ONETIME": "BOOLEAN",
           "ONHOLD": "BOOLEAN"},
    required=frozenset({"CUSTOMERID", "NAME"}),
    readonly=frozenset({"TOTALDUE", "PARENTKEY", "PARENTNAME", "ENTITY"} | SYSTEM_FIELDS),
    valid_values={"STATUS": ("active", "active non-posting", "inactive"), "ONETIME": _BOOL, "ONHOLD": _BOOL,
                  "OBJECTRESTRICTION": ("Unrestricted", "RootOnly", "Restricted")},
)

EMPLOYEE = ObjectSchema(
    name="EMPLOYEE",
    id_field="EMPLOYEEID",
    fields=(
        "RECORDNO", "EMPLOYEEID", "TITLE", "LOCATIONID", "LOCATIONKEY", "DEPARTMENTID", "DEPARTMENTKEY",
        "SUPERVISORID", "SUPERVISORNAME", "STARTDATE", "ENDDATE", "STATUS", "EMPLOYEETYPE", "CONTACT_NAME",
        "PERSONALINFO.CONTACTNAME", "PERSONALINFO.FIRSTNAME", "PERSONALINFO.LASTNAME", "PERSONALINFO.EMAIL1",
        "ENTITY", "CURRENCY", "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY", "CREATEDBYLOGINID",
        "MODIFIEDBYLOGINID", "MEGAENTITYKEY", "MEGAENTITYID", "MEGAENTITYNAME", "RECORD_URL",
    ),
    types={**_STAMPS, "LOCATIONKEY": "INTEGER", "DEPARTMENTKEY": "INTEGER", "STARTDATE": "DATE", "ENDDATE": "DATE"},
    required=frozenset({"EMPLOYEEID", "PERSONALINFO.CONTACTNAME"}),
    readonly=frozenset({"LOCATIONKEY", "DEPARTMENTKEY", "SUPERVISORNAME", "CONTACT_NAME", "ENTITY"} | SYSTEM_FIELDS),
    valid_values={"STATUS": ("active", "inactive")},
)

TIMESHEET = ObjectSchema(
    name="TIMESHEET",
    id_field=None,
    fields=(
        "RECORDNO", "DESCRIPTION", "EMPLOYEEKEY", "BEGINDATE", "ENDDATE", "GLPOSTDATE", "EMPLOYEEID", "EMPLOYEENAME",
        "STATE", "LINES#", "EMPLOYEEFIRSTNAME", "EMPLOYEELASTNAME", "UOM", "HOURSINDAY", "EMPLOYEE_LOCATIONID",
        "METHOD", "LOCATIONKEY", "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY", "CREATEDBYLOGINID",
        "MODIFIEDBYLOGINID", "MEGAENTITYKEY", "MEGAENTITYID", "MEGAENTITYNAME", "RECORD_URL",
    ),
    types={**_STAMPS, "EMPLOYEEKEY": "INTEGER", "BEGINDATE": "DATE", "ENDDATE": "DATE", "GLPOSTDATE": "DATE",
           "LINES#": "INTEGER", "HOURSINDAY": "DECIMAL", "LOCATIONKEY": "INTEGER"},
    required=frozenset({"EMPLOYEEID", "BEGINDATE"}),
    readonly=frozenset({"EMPLOYEEKEY", "EMPLOYEENAME", "EMPLOYEEFIRSTNAME", "EMPLOYEELASTNAME", "LINES#", "ENDDATE",
                        "EMPLOYEE_LOCATIONID", "LOCATIONKEY"} | SYSTEM_FIELDS),
    valid_values={"STATE": ("Draft", "Submitted", "Approved", "Partially Approved", "Declined",
                            "Partially Declined", "Saved")},
)

TIMESHEETENTRY = ObjectSchema(
    name="TIMESHEETENTRY",
    id_field=None,
    fields=(
        "RECORDNO", "LINENO", "TIMESHEETKEY", "PROJECTKEY", "PROJECTID", "PROJECTNAME", "TASKKEY", "TASKID",
        "TASKNAME", "CUSTOMERKEY", "CUSTOMERID", "CUSTOMERNAME", "ENTRYDATE", "QTY", "DESCRIPTION", "NOTES", "STATE",
        "LOCATIONKEY", "LOCATIONID", "LOCATIONNAME", "BILLABLE", "EMPLOYEEID", "EMPLOYEENAME", "TS_BEGINDATE",
        "WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY", "APPROVED_QTY", "CREATEDBYLOGINID",
        "MODIFIEDBYLOGINID", "RECORD_URL",
    ),
    types={**_STAMPS, "LINENO": "INTEGER", "TIMESHEETKEY": "INTEGER", "PROJECTKEY": "INTEGER", "TASKKEY": "INTEGER",
           "CUSTOMERKEY": "INTEGER", "ENTRYDATE": "DATE", "QTY": "DECIMAL", "LOCATIONKEY": "INTEGER",
           "BILLABLE": "BOOLEAN", "TS_BEGINDATE": "DATE", "APPROVED_QTY": "DECIMAL"},
    required=frozenset({"ENTRYDATE", "QTY"}),
    readonly=frozenset({"LINENO", "TIMESHEETKEY", "PROJECTNAME", "TASKNAME", "CUSTOMERKEY", "CUSTOMERID",
                        "CUSTOMERNAME", "STATE", "LOCATIONKEY", "LOCATIONNAME", "EMPLOYEEID", "EMPLOYEENAME",
                        "TS_BEGINDATE", "APPROVED_QTY"} | SYSTEM_FIELDS),
)

LOCATIONENTITY = ObjectSchema(
    name="LOCATIONENTITY",
    id_field="LOCATIONID",
    fields=(
        "LOCATIONID", "RECORDNO", "NAME", "PARENTID", "PARENTNAME", "CONTACTINFO.CONTACTNAME",
        "CONTACTINFO.MAILADDRESS.COUNTRY", "STARTDATE", "ENDDATE", "STATUS", "WHENCREATED", "WHENMODIFIED",
        "FIRSTMONTH", "WEEKSTART", "ISROOT", "CURRENCY", "ENTITY", "CREATEDBY", "MODIFIEDBY", "ADDRESSCOUNTRYDEFAULT",
        "LOCATIONTYPE", "ENTITYNAME", "OPCOUNTRY", "CREATEDBYLOGINID", "MODIFIEDBYLOGINID", "RECORD_URL",
    ),
    types={**_STAMPS, "STARTDATE": "DATE", "ENDDATE": "DATE", "ISROOT": "BOOLEAN"},
    required=frozenset({"LOCATIONID", "NAME"}),
    readonly=frozenset({"PARENTNAME", "ENTITY", "ENTITYNAME", "ISROOT"} | SYSTEM_FIELDS),
    valid_values={"STATUS": ("active", "inactive"), "LOCATIONTYPE": ("E", "N", "C")},
)

SCHEMAS: dict[str, ObjectSchema] = {
    s.name: s for s in (PROJECT, TASK, CUSTOMER, EMPLOYEE, TIMESHEET, TIMESHEETENTRY, LOCATIONENTITY)
}
# Objects whose records belong to the entity that created them (MEGAENTITY*); the others are shared company-wide.
ENTITY_OWNED = frozenset({"PROJECT", "TASK", "CUSTOMER", "EMPLOYEE", "TIMESHEET"})
# Task status codes readByQuery strings use instead of the labels (DOC-TASK).
TASKSTATUS_CODES = {"N": "Not Started", "L": "Planned", "P": "In Progress", "C": "Completed", "H": "On Hold"}
TIMESHEET_STATE_CODES = {"S": "Submitted", "A": "Approved", "X": "Partially Approved", "R": "Declined", "I": "Draft",
                         "E": "Partially Declined", "V": "Saved"}
# Timesheet states whose hours count as actual / approved time on tasks (our reading of "actual" vs "approved").
ACTUAL_STATES = frozenset({"Submitted", "Approved", "Partially Approved", "Partially Declined"})
APPROVED_STATES = frozenset({"Approved"})
