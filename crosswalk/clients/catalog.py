"""Every stream Crosswalk extracts, declared in one place: key, modification stamp, fields, page size, deletes.

Page sizes are each API's largest: Intacct `query` 2000 (key scans too), Salesforce query batches 2000,
QuickBooks Online MAXRESULTS 1000, ESP+ search size 100.
"""

from __future__ import annotations

from crosswalk.extract.streams import DeleteDetection, StampFormat, StreamSpec

INTACCT = "intacct"
SALESFORCE = "salesforce"
QUICKBOOKS = "quickbooks"
ESP = "esp"
SYSTEMS = (INTACCT, SALESFORCE, QUICKBOOKS, ESP)


_INTACCT_FIELDS = {
    "PROJECT": (
        "RECORDNO", "PROJECTID", "NAME", "DESCRIPTION", "CURRENCY", "PROJECTCATEGORY", "PROJECTSTATUS", "STATUS",
        "BEGINDATE", "ENDDATE", "BUDGETAMOUNT", "CONTRACTAMOUNT", "ACTUALAMOUNT", "BUDGETQTY", "ESTQTY", "ACTUALQTY",
        "REMAININGQTY", "PERCENTCOMPLETE", "OBSPERCENTCOMPLETE", "SFDCKEY", "PARENTID", "CUSTOMERID", "CUSTOMERNAME",
        "PROJECTTYPE", "MANAGERID", "DEPARTMENTID", "LOCATIONID", "WHENCREATED", "WHENMODIFIED", "MEGAENTITYID",
        "MEGAENTITYNAME", "SFDC_PROJECT_ID", "RECORD_URL",
    ),
    "TASK": (
        "RECORDNO", "TASKID", "NAME", "PARENTID", "PROJECTKEY", "PROJECTID", "PROJECTNAME", "CUSTOMERID", "PBEGINDATE",
        "PENDDATE", "ABEGINDATE", "AENDDATE", "BUDGETQTY", "ESTQTY", "ACTUALQTY", "REMAININGQTY", "PERCENTCOMPLETE",
        "OBSPERCENTCOMPLETE", "DESCRIPTION", "ISMILESTONE", "BILLABLE", "TASKNO", "PRIORITY", "TASKSTATUS",
        "WHENCREATED", "WHENMODIFIED", "MEGAENTITYID", "SFDC_TASK_ID", "RECORD_URL",
    ),
    "CUSTOMER": (
        "RECORDNO", "CUSTOMERID", "NAME", "ENTITY", "PARENTID", "TERMNAME", "CREDITLIMIT", "TOTALDUE", "CURRENCY",
        "STATUS", "ONHOLD", "WHENCREATED", "WHENMODIFIED", "MEGAENTITYID", "RECORD_URL",
    ),
    "LOCATIONENTITY": (
        "RECORDNO", "LOCATIONID", "NAME", "PARENTID", "STARTDATE", "ENDDATE", "STATUS", "CURRENCY", "ENTITY",
        "LOCATIONTYPE", "OPCOUNTRY", "WHENCREATED", "WHENMODIFIED", "RECORD_URL",
    ),
}  # fmt: skip


def _intacct(object_name: str) -> StreamSpec:
    # `query` (not readByQuery) because it orders by WHENMODIFIED, so each committed page can move the watermark.
    return StreamSpec(
        system=INTACCT,
        object=object_name,
        primary_key="RECORDNO",
        replication_key="WHENMODIFIED",
        stamp_format=StampFormat.INTACCT,
        page_size=2000,
        fields=_INTACCT_FIELDS[object_name],
        deletes=(DeleteDetection.KEY_SCAN,),
        key_page_size=2000,
    )


def _salesforce(object_name: str, fields: tuple[str, ...]) -> StreamSpec:
    system_fields = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
    return StreamSpec(
        system=SALESFORCE,
        object=object_name,
        primary_key="Id",
        replication_key="SystemModstamp",
        stamp_format=StampFormat.SALESFORCE,
        page_size=2000,
        fields=system_fields + tuple(f for f in fields if f not in system_fields),
        deletes=(DeleteDetection.INLINE,),
    )


_QBO_NAME_LISTS = ("Customer", "Vendor", "Item", "Account", "TaxCode", "Term", "Class")


def _quickbooks(object_name: str) -> StreamSpec:
    name_list = object_name in _QBO_NAME_LISTS
    deletes: tuple[DeleteDetection, ...] = (
        (DeleteDetection.INACTIVE,) if name_list else (DeleteDetection.CHANGE_FEED, DeleteDetection.KEY_SCAN)
    )
    return StreamSpec(
        system=QUICKBOOKS,
        object=object_name,
        primary_key="Id",
        replication_key="MetaData.LastUpdatedTime",
        stamp_format=StampFormat.ISO8601,
        page_size=1000,
        deletes=deletes,
        inactive_field="Active" if name_list else None,
        inactive_values=(False,) if name_list else (),
    )


def _esp(
    object_name: str,
    primary_key: str | tuple[str, ...] = "Id",
    replication_key: str | None = "UpdateDate",
    inactive_field: str | None = None,
) -> StreamSpec:
    deletes = (DeleteDetection.CHANGE_FEED,) + ((DeleteDetection.INACTIVE,) if inactive_field else ())
    return StreamSpec(
        system=ESP,
        object=object_name,
        primary_key=primary_key,
        replication_key=replication_key,
        stamp_format=StampFormat.ISO8601,
        page_size=100,
        deletes=deletes,
        inactive_field=inactive_field,
        inactive_values=(False,) if inactive_field else (),
    )


STREAMS: tuple[StreamSpec, ...] = (
    _intacct("PROJECT"),
    _intacct("TASK"),
    _intacct("CUSTOMER"),
    _intacct("LOCATIONENTITY"),
    _salesforce(
        "Opportunity",
        (
            "AccountId",
            "Name",
            "Description",
            "StageName",
            "Amount",
            "Probability",
            "CloseDate",
            "Type",
            "IsClosed",
            "IsWon",
            "OwnerId",
            "ia_crm__Intacct_Transaction__c",
            "ia_crm__Create_Project__c",  # ours: the opportunity asks for a project (SPEC A5)
        ),
    ),
    _salesforce(
        "Contract",
        (
            "AccountId",
            "ContractNumber",
            "Status",
            "StartDate",
            "EndDate",
            "ContractTerm",
            "Description",
            "OwnerId",
            "ia_crm__Opportunity__c",
        ),
    ),
    _salesforce(
        "Account",
        (
            "Name",
            "Type",
            "ParentId",
            "AccountNumber",
            "Phone",
            "Website",
            "Industry",
            "BillingCity",
            "BillingState",
            "BillingCountry",
            "OwnerId",
            "ia_crm__IntacctID__c",
            "ia_crm__Sync_With_Intacct__c",
        ),
    ),
    _salesforce(
        "ia_crm__Project__c",
        (
            "Name",
            "OwnerId",
            "ia_crm__Project_ID__c",
            "ia_crm__Opportunity__c",
            "ia_crm__Customer__c",
            "ia_crm__Project_Status__c",
            "ia_crm__Begin_Date__c",
            "ia_crm__End_Date__c",
            "ia_crm__Description__c",
            "ia_crm__Intacct_Entity__c",
            "ia_crm__Budget_Amount__c",
            "ia_crm__Complete_by_Duration__c",
            "ia_crm__Estimated_Duration__c",
            "ia_crm__Actual_Duration__c",
            "ia_crm__Approved_Duration__c",
            "ia_crm__Remaining_Duration__c",
            "ia_crm__View_Project__c",
        ),
    ),
    _salesforce(
        "ia_crm__Task__c",
        (
            "Name",
            "OwnerId",
            "ia_crm__Task_ID__c",
            "ia_crm__Project__c",
            "ia_crm__Task_Status__c",
            "ia_crm__Percent_Complete__c",
            "ia_crm__Begin_Date__c",
            "ia_crm__End_Date__c",
            "ia_crm__Estimated_Duration__c",
            "ia_crm__Actual_Duration__c",
        ),
    ),
    *(_quickbooks(name) for name in (*_QBO_NAME_LISTS, "Invoice", "PurchaseOrder", "Bill")),
    _esp("companies", inactive_field="IsActive"),
    _esp("contacts", inactive_field="IsActive"),
    _esp("users", inactive_field="IsActive"),
    _esp("orders"),
    _esp("purchaseorders"),
    _esp("bills"),
    _esp("quickbooks_links", primary_key=("CompanyId", "MemberType")),
    _esp("quickbooks_settings", primary_key="Provider"),
)


def streams_of(system: str) -> tuple[StreamSpec, ...]:
    return tuple(s for s in STREAMS if s.system == system)


def find_stream(system: str, object_name: str) -> StreamSpec:
    for spec in STREAMS:
        if spec.system == system and spec.object == object_name:
            return spec
    raise KeyError(f"no stream {system}.{object_name}; known: {', '.join(s.name for s in STREAMS)}")
