"""The field catalogue of every emulated sObject: drives describe, validation, SOQL and the stored columns.

Standard objects follow Salesforce's field reference (subset). The `ia_crm__` objects are those of Intacct's
Advanced CRM Integration managed package; where the package's API names are not public, names in the `ia_crm__`
namespace were chosen here (docs/emulators/salesforce.md lists which).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "url": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset({"id", "reference", "string", "textarea", "picklist", "url", "email", "phone"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    required: bool = False  # required on create (REQUIRED_FIELD_MISSING)
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: object = None
    platform_default: bool = False  # the platform fills it on create (owner, audit fields, stage-derived values)

    @property
    def defaulted_on_create(self) -> bool:
        return self.platform_default or self.default is not None or self.type == "boolean"

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    deletable: bool = True
    by_lower: dict[str, FieldSpec] = field(default_factory=dict, compare=False)
    relationships: dict[str, FieldSpec] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_lower.update({f.name.lower(): f for f in self.fields})
        self.relationships.update(
            {f.relationship_name.lower(): f for f in self.fields if f.relationship_name is not None}
        )

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldSpec | None:
        return self.by_lower.get(name.lower())

    @property
    def external_id_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.external_id)


def _system_fields(owner: bool = True, deletable: bool = True) -> list[FieldSpec]:
    ro = {"createable": False, "updateable": False, "platform_default": True}
    fields = [FieldSpec("Id", "id", "Record ID", 18, nillable=False, **ro)]
    if owner:
        fields.append(FieldSpec("OwnerId", "reference", "Owner ID", 18, nillable=False, reference_to="User",
                                relationship_name="Owner", platform_default=True))
    if deletable:
        fields.append(FieldSpec("IsDeleted", "boolean", "Deleted", nillable=False, **ro))
    fields += [
        FieldSpec("CreatedDate", "datetime", "Created Date", nillable=False, **ro),
        FieldSpec("CreatedById", "reference", "Created By ID", 18, nillable=False, reference_to="User",
                  relationship_name="CreatedBy", **ro),
        FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **ro),
        FieldSpec("LastModifiedById", "reference", "Last Modified By ID", 18, nillable=False, reference_to="User",
                  relationship_name="LastModifiedBy", **ro),
        FieldSpec("SystemModstamp", "datetime", "System Modstamp", nillable=False, **ro),
    ]
    return fields


OPPORTUNITY_STAGES: dict[str, tuple[int, str, bool, bool]] = {
    # StageName: (Probability, ForecastCategoryName, IsClosed, IsWon) as the default sales process defines them
    "Prospecting": (10, "Pipeline", False, False),
    "Qualification": (10, "Pipeline", False, False),
    "Needs Analysis": (20, "Pipeline", False, False),
    "Value Proposition": (50, "Pipeline", False, False),
    "Id. Decision Makers": (60, "Pipeline", False, False),
    "Perception Analysis": (70, "Pipeline", False, False),
    "Proposal/Price Quote": (75, "Pipeline", False, False),
    "Negotiation/Review": (90, "Pipeline", False, False),
    "Closed Won": (100, "Closed", True, True),
    "Closed Lost": (0, "Omitted", True, False),
}
PROJECT_STATUSES = ("Not Started", "In Progress", "Completed", "On Hold", "Cancelled")
TASK_STATUSES = ("Not Started", "Planned", "In Progress", "Completed", "On Hold")
_RO = {"createable": False, "updateable": False}
_DERIVED = {**_RO, "platform_default": True}

ACCOUNT = ObjectSpec("Account", "Account", "Accounts", "001", (
    *_system_fields(),
    FieldSpec("Name", "string", "Account Name", 255, nillable=False, required=True),
    FieldSpec("Type", "picklist", "Account Type", 255, picklist=("Prospect", "Customer - Direct", "Customer - Channel",
                                                                   "Partner", "Other")),
    FieldSpec("ParentId", "reference", "Parent Account ID", 18, reference_to="Account", relationship_name="Parent"),
    FieldSpec("AccountNumber", "string", "Account Number", 40),
    FieldSpec("Phone", "phone", "Account Phone", 40),
    FieldSpec("Website", "url", "Website", 255),
    FieldSpec("Industry", "picklist", "Industry", 255),
    FieldSpec("BillingStreet", "textarea", "Billing Street", 255),
    FieldSpec("BillingCity", "string", "Billing City", 40),
    FieldSpec("BillingState", "string", "Billing State/Province", 80),
    FieldSpec("BillingPostalCode", "string", "Billing Zip/Postal Code", 20),
    FieldSpec("BillingCountry", "string", "Billing Country", 80),
    FieldSpec("Description", "textarea", "Account Description", 32000),
    FieldSpec("ia_crm__IntacctID__c", "string", "Intacct ID", 100, external_id=True, unique=True),
    FieldSpec("ia_crm__Sync_With_Intacct__c", "boolean", "Sync With Intacct", nillable=False, default=False),
    FieldSpec("ia_crm__Intacct_Sync_Status__c", "string", "Intacct Sync Status", 255),
    FieldSpec("ia_crm__Email_ID__c", "email", "Email ID", 80),
))

OPPORTUNITY = ObjectSpec("Opportunity", "Opportunity", "Opportunities", "006", (
    *_system_fields(),
    FieldSpec("AccountId", "reference", "Account ID", 18, reference_to="Account", relationship_name="Account"),
    FieldSpec("Name", "string", "Name", 120, nillable=False, required=True),
    FieldSpec("Description", "textarea", "Description", 32000),
    FieldSpec("StageName", "picklist", "Stage", 255, nillable=False, required=True,
              picklist=tuple(OPPORTUNITY_STAGES), restricted=True),
    FieldSpec("Amount", "currency", "Amount", precision=18, scale=2),
    FieldSpec("Probability", "percent", "Probability (%)", precision=3, scale=0, platform_default=True),
    FieldSpec("CloseDate", "date", "Close Date", nillable=False, required=True),
    FieldSpec("Type", "picklist", "Opportunity Type", 255, picklist=("Existing Business", "New Business")),
    FieldSpec("NextStep", "string", "Next Step", 255),
    FieldSpec("LeadSource", "picklist", "Lead Source", 255, picklist=("Web", "Phone Inquiry", "Partner Referral",
                                                                        "Trade Show", "Other")),
    FieldSpec("IsClosed", "boolean", "Closed", nillable=False, **_DERIVED),
    FieldSpec("IsWon", "boolean", "Won", nillable=False, **_DERIVED),
    FieldSpec("ForecastCategoryName", "picklist", "Forecast Category", 255,
              picklist=("Omitted", "Pipeline", "Best Case", "Commit", "Closed"), platform_default=True),
    FieldSpec("ia_crm__Intacct_Transaction__c", "string", "Intacct Transaction", 255),
    # Ours: the opportunity asks Crosswalk for an Intacct project (SPEC A5); not a field of the managed package.
    FieldSpec("ia_crm__Create_Project__c", "boolean", "Create Project", nillable=False, default=False),
))

CONTRACT = ObjectSpec("Contract", "Contract", "Contracts", "800", (
    *_system_fields(),
    FieldSpec("AccountId", "reference", "Account ID", 18, nillable=False, required=True, reference_to="Account",
              relationship_name="Account"),
    FieldSpec("ContractNumber", "string", "Contract Number", 30, nillable=False, **_DERIVED),
    FieldSpec("Status", "picklist", "Status", 40, nillable=False, picklist=("Draft", "In Approval Process",
                                                                             "Activated"),
              restricted=True, default="Draft"),
    FieldSpec("StartDate", "date", "Contract Start Date"),
    FieldSpec("EndDate", "date", "Contract End Date", **_RO),
    FieldSpec("ContractTerm", "int", "Contract Term (months)", precision=4),
    FieldSpec("Description", "textarea", "Description", 32000),
    FieldSpec("ia_crm__Opportunity__c", "reference", "Opportunity", 18, reference_to="Opportunity",
              relationship_name="ia_crm__Opportunity__r"),
    FieldSpec("ia_crm__Ship_to__c", "string", "Ship to", 255),
))

USER = ObjectSpec("User", "User", "Users", "005", (
    *_system_fields(owner=False, deletable=False),
    FieldSpec("Username", "string", "Username", 80, nillable=False, required=True, unique=True),
    FieldSpec("FirstName", "string", "First Name", 40),
    FieldSpec("LastName", "string", "Last Name", 80, nillable=False, required=True),
    FieldSpec("Name", "string", "Full Name", 121, nillable=False, **_RO),
    FieldSpec("Email", "email", "Email", 128, nillable=False, required=True),
    FieldSpec("Alias", "string", "Alias", 8, nillable=False, required=True),
    FieldSpec("IsActive", "boolean", "Active", nillable=False, default=True),
    FieldSpec("TimeZoneSidKey", "picklist", "Time Zone", 40, nillable=False, default="America/Los_Angeles"),
    FieldSpec("LocaleSidKey", "picklist", "Locale", 40, nillable=False, default="en_US"),
    FieldSpec("LanguageLocaleKey", "picklist", "Language", 40, nillable=False, default="en_US"),
    FieldSpec("EmailEncodingKey", "picklist", "Email Encoding", 40, nillable=False, default="UTF-8"),
), deletable=False)

PROJECT = ObjectSpec("ia_crm__Project__c", "Project", "Projects", "a0B", (
    *_system_fields(),
    FieldSpec("Name", "string", "Project Name", 80, nillable=False, required=True),
    FieldSpec("ia_crm__Project_ID__c", "string", "Project ID", 20, external_id=True, unique=True),
    FieldSpec("ia_crm__Opportunity__c", "reference", "Opportunity", 18, reference_to="Opportunity",
              relationship_name="ia_crm__Opportunity__r"),
    FieldSpec("ia_crm__Customer__c", "reference", "Customer", 18, reference_to="Account",
              relationship_name="ia_crm__Customer__r"),
    FieldSpec("ia_crm__Project_Status__c", "picklist", "Project Status", 255, picklist=PROJECT_STATUSES),
    FieldSpec("ia_crm__Begin_Date__c", "date", "Begin Date"),
    FieldSpec("ia_crm__End_Date__c", "date", "End Date"),
    FieldSpec("ia_crm__Description__c", "textarea", "Description", 1000),
    FieldSpec("ia_crm__Intacct_Entity__c", "string", "Intacct Entity", 40),
    FieldSpec("ia_crm__Budget_Amount__c", "currency", "Budget Amount", precision=16, scale=2),
    FieldSpec("ia_crm__Complete_by_Duration__c", "percent", "% Complete by Duration", precision=5, scale=2),
    FieldSpec("ia_crm__Estimated_Duration__c", "double", "Estimated Duration", precision=12, scale=2),
    FieldSpec("ia_crm__Actual_Duration__c", "double", "Actual Duration", precision=12, scale=2),
    FieldSpec("ia_crm__Approved_Duration__c", "double", "Approved Duration", precision=12, scale=2),
    FieldSpec("ia_crm__Remaining_Duration__c", "double", "Remaining Duration", precision=12, scale=2),
    FieldSpec("ia_crm__Is_Template__c", "boolean", "Is a template", nillable=False, default=False),
    FieldSpec("ia_crm__View_Project__c", "url", "View Project", 255),
))

TASK = ObjectSpec("ia_crm__Task__c", "Task", "Tasks", "a0C", (
    *_system_fields(),
    FieldSpec("Name", "string", "Task Name", 80, nillable=False, required=True),
    FieldSpec("ia_crm__Task_ID__c", "string", "Task ID", 30, external_id=True, unique=True),
    FieldSpec("ia_crm__Project__c", "reference", "Project", 18, nillable=False, required=True,
              reference_to="ia_crm__Project__c", relationship_name="ia_crm__Project__r"),
    FieldSpec("ia_crm__Task_Status__c", "picklist", "Task Status", 255, picklist=TASK_STATUSES),
    FieldSpec("ia_crm__Percent_Complete__c", "percent", "Percent Complete", precision=5, scale=2),
    FieldSpec("ia_crm__Begin_Date__c", "date", "Planned Begin Date"),
    FieldSpec("ia_crm__End_Date__c", "date", "Planned End Date"),
    FieldSpec("ia_crm__Estimated_Duration__c", "double", "Estimated Duration", precision=12, scale=2),
    FieldSpec("ia_crm__Actual_Duration__c", "double", "Actual Duration", precision=12, scale=2),
))

OBJECTS: dict[str, ObjectSpec] = {spec.name: spec for spec in (ACCOUNT, OPPORTUNITY, CONTRACT, USER, PROJECT, TASK)}
OBJECTS_BY_LOWER: dict[str, ObjectSpec] = {name.lower(): spec for name, spec in OBJECTS.items()}
OBJECTS_BY_PREFIX: dict[str, ObjectSpec] = {spec.key_prefix: spec for spec in OBJECTS.values()}
