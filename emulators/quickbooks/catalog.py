"""The emulated QBO entities: their JSON names, the top-level fields each accepts, and which are read-only.

A field catalogue per entity lets the model answer 2010 "Unrecognized field" like QBO, while accepting every key
python-quickbooks serialises for a fresh object (it sends all defaults) and every key a read returned.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON = ("Id", "SyncToken", "MetaData", "domain", "sparse", "status")

_CONTACT = (
    "Active",
    "AlternatePhone",
    "Balance",
    "BillAddr",
    "CompanyName",
    "CurrencyRef",
    "DisplayName",
    "FamilyName",
    "Fax",
    "GivenName",
    "MiddleName",
    "Mobile",
    "PrimaryEmailAddr",
    "PrimaryPhone",
    "PrintOnCheckName",
    "Suffix",
    "Title",
    "WebAddr",
    "V4IDPseudonym",
    "OtherContactInfo",
    "Source",
)
_TXN = (
    "CurrencyRef",
    "CustomField",
    "DocNumber",
    "DueDate",
    "ExchangeRate",
    "GlobalTaxCalculation",
    "Line",
    "LinkedTxn",
    "PrivateNote",
    "SalesTermRef",
    "TotalAmt",
    "TxnDate",
    "TxnTaxDetail",
    "DepartmentRef",
    "ClassRef",
    "HomeTotalAmt",
    "TransactionLocationType",
    "RecurDataRef",
    "TaxExemptionRef",
)


@dataclass(frozen=True)
class EntityKind:
    name: str  # JSON key and query entity name, e.g. "PurchaseOrder"
    fields: frozenset[str]
    read_only: frozenset[str]
    name_list: bool = False  # never deleted, inactivated with Active=false; queries add Active = true implicitly
    name_field: str | None = None  # unique (case-insensitive) name
    writable: bool = True
    deletable: bool = False
    cdc: bool = True

    @property
    def path(self) -> str:
        return self.name.lower()


def _kind(name: str, fields: tuple[str, ...], read_only: tuple[str, ...], **options: object) -> EntityKind:
    every = frozenset(COMMON) | frozenset(fields) | frozenset(read_only)
    return EntityKind(name=name, fields=every, read_only=frozenset(COMMON) | frozenset(read_only), **options)  # type: ignore[arg-type]


KINDS: dict[str, EntityKind] = {
    kind.name: kind
    for kind in (
        _kind(
            "Customer",
            (
                *_CONTACT,
                "ARAccountRef",
                "BillWithParent",
                "DefaultTaxCodeRef",
                "IsProject",
                "Job",
                "Notes",
                "OpenBalanceDate",
                "ParentRef",
                "PaymentMethodRef",
                "PreferredDeliveryMethod",
                "PrimaryTaxIdentifier",
                "ResaleNum",
                "SalesTermRef",
                "ShipAddr",
                "Taxable",
                "TaxExemptionReasonId",
                "ClientEntityId",
            ),
            ("Balance", "BalanceWithJobs", "FullyQualifiedName", "Level"),
            name_list=True,
            name_field="DisplayName",
        ),
        _kind(
            "Vendor",
            (
                *_CONTACT,
                "APAccountRef",
                "AcctNum",
                "BillRate",
                "TaxIdentifier",
                "TaxReportingBasis",
                "TermRef",
                "Vendor1099",
                "CostRate",
                "HasTPAR",
                "T4AEligible",
                "T5018Eligible",
            ),
            ("Balance",),
            name_list=True,
            name_field="DisplayName",
        ),
        _kind(
            "Item",
            (
                "AbatementRate",
                "Active",
                "AssetAccountRef",
                "Description",
                "ExpenseAccountRef",
                "IncomeAccountRef",
                "InvStartDate",
                "ItemCategoryType",
                "Name",
                "ParentRef",
                "PurchaseCost",
                "PurchaseDesc",
                "PurchaseTaxCodeRef",
                "PurchaseTaxIncluded",
                "QtyOnHand",
                "ReverseChargeRate",
                "SalesTaxCodeRef",
                "SalesTaxIncluded",
                "ServiceType",
                "Sku",
                "SubItem",
                "Taxable",
                "TrackQtyOnHand",
                "Type",
                "UnitPrice",
                "ClassRef",
                "PrefVendorRef",
                "ReorderPoint",
            ),
            ("FullyQualifiedName", "Level"),
            name_list=True,
            name_field="Name",
        ),
        _kind(
            "Account",
            (
                "AccountSubType",
                "AccountType",
                "AcctNum",
                "Active",
                "CurrencyRef",
                "Description",
                "Name",
                "ParentRef",
                "SubAccount",
                "TaxCodeRef",
                "AccountAlias",
                "TxnLocationType",
            ),
            ("Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts", "FullyQualifiedName"),
            name_list=True,
            name_field="Name",
        ),
        _kind(
            "TaxCode",
            (
                "Active",
                "Description",
                "Name",
                "PurchaseTaxRateList",
                "SalesTaxRateList",
                "TaxGroup",
                "Taxable",
                "Hidden",
            ),
            (),
            name_list=True,
            writable=False,
            cdc=False,
        ),
        _kind(
            "Term",
            (
                "Active",
                "DayOfMonthDue",
                "DiscountDayOfMonth",
                "DiscountDays",
                "DiscountPercent",
                "DueDays",
                "DueNextMonthDays",
                "Name",
            ),
            ("Type",),
            name_list=True,
            name_field="Name",
        ),
        _kind(
            "Class",
            ("Active", "Name", "ParentRef", "SubClass"),
            ("FullyQualifiedName",),
            name_list=True,
            name_field="Name",
        ),
        _kind(
            "Invoice",
            (
                *_TXN,
                "AllowIPNPayment",
                "AllowOnlineACHPayment",
                "AllowOnlineCreditCardPayment",
                "AllowOnlinePayment",
                "ApplyTaxAfterDiscount",
                "BillAddr",
                "BillEmail",
                "BillEmailBcc",
                "BillEmailCc",
                "CustomerMemo",
                "CustomerRef",
                "Deposit",
                "DepositToAccountRef",
                "EInvoiceStatus",
                "EmailStatus",
                "FreeFormAddress",
                "PrintStatus",
                "ShipAddr",
                "ShipDate",
                "ShipFromAddr",
                "ShipMethodRef",
                "TrackingNum",
            ),
            ("Balance", "HomeBalance", "HomeTotalAmt", "InvoiceLink", "DeliveryInfo", "TotalAmt"),
            deletable=True,
        ),
        _kind(
            "PurchaseOrder",
            (
                *_TXN,
                "APAccountRef",
                "AttachableRef",
                "EmailStatus",
                "Memo",
                "POEmail",
                "POStatus",
                "ShipAddr",
                "ShipMethodRef",
                "ShipTo",
                "TaxCodeRef",
                "VendorAddr",
                "VendorRef",
            ),
            ("TotalAmt",),
            deletable=True,
        ),
        _kind(
            "Bill",
            (*_TXN, "APAccountRef", "AttachableRef", "VendorAddr", "VendorRef"),
            ("Balance", "TotalAmt"),
            deletable=True,
        ),
        # A payment's TotalAmt is what the customer paid: written by the caller, unlike a sales form's.
        _kind(
            "Payment",
            (
                "ARAccountRef",
                "CreditCardPayment",
                "CurrencyRef",
                "CustomerRef",
                "CustomField",
                "DepositToAccountRef",
                "ExchangeRate",
                "Line",
                "PaymentMethodRef",
                "PaymentRefNum",
                "PrivateNote",
                "ProcessPayment",
                "ProjectRef",
                "TaxExemptionRef",
                "TotalAmt",
                "TransactionLocationType",
                "TxnDate",
                "TxnSource",
                "TxnStatus",
                "DepartmentRef",
            ),
            ("UnappliedAmt", "HomeTotalAmt"),
            deletable=True,
        ),
        _kind(
            "CreditMemo",
            (
                *_TXN,
                "ApplyTaxAfterDiscount",
                "BillAddr",
                "BillEmail",
                "CustomerMemo",
                "CustomerRef",
                "DepositToAccountRef",
                "EmailStatus",
                "InvoiceRef",
                "PaymentMethodRef",
                "PrintStatus",
                "ProjectRef",
                "ShipAddr",
                "ShipFromAddr",
            ),
            ("Balance", "HomeBalance", "HomeTotalAmt", "RemainingCredit", "TotalAmt"),
            deletable=True,
        ),
    )
}

# Readable but not queryable with python-quickbooks' list helpers alone; served read-only.
SINGLETONS = ("CompanyInfo", "Preferences")

BY_PATH: dict[str, EntityKind] = {kind.path: kind for kind in KINDS.values()}
BY_LOWER_NAME: dict[str, str] = {name.lower(): name for name in (*KINDS, *SINGLETONS)}
TRANSACTIONS = ("Invoice", "PurchaseOrder", "Bill", "Payment", "CreditMemo")
