"""QBO's view of the generated world: reference data (chart of accounts, tax codes, terms, classes) and the
customers, vendors, items, invoices, purchase orders and bills present on the QuickBooks side, plus a few payments
and credit memos against the first invoices, so that some balances differ from the totals.

Built straight into wire-shaped dicts (no validation pass) so 100k records per kind load in seconds; refs that
many records share (tax code, currency, term, item and customer refs) are shared dict objects, which the model
never mutates in place.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulators.quickbooks.amounts import money
from emulators.quickbooks.model import ACCOUNT_CLASSIFICATION, NON_TAXABLE, USD, QboCompany
from emulators.quickbooks.stamps import CompanyTime
from emulators.world import Document, Presence, World, quickbooks_id

REFERENCE_STAMP = datetime.fromisoformat("2024-12-01T09:00:00-08:00")
AR_ACCOUNT_ID = "84"
AP_ACCOUNT_ID = "33"
GENERIC_ITEM_ID = "19"
GENERIC_CUSTOMER_ID = "58"
GENERIC_VENDOR_ID = "56"
EDITED_NOTE = "Edited in QuickBooks"

ACCOUNTS = (
    ("1", "Services", "Income", "ServiceFeeIncome"),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory"),
    (AR_ACCOUNT_ID, "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    (AP_ACCOUNT_ID, "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("35", "Checking", "Bank", "Checking"),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("20", "Supplies", "Expense", "SuppliesMaterials"),
    ("7", "Advertising", "Expense", "AdvertisingPromotional"),
)
TERMS = (("1", "Due on receipt", 0), ("2", "Net 10", 10), ("4", "Net 15", 15), ("3", "Net 30", 30), ("5", "Net 60", 60))
CLASSES = (("100", "Apparel"), ("200", "Drinkware"), ("300", "Print"), ("400", "Events"))


def _system(record_id: str, created: str, updated: str, sync_token: str = "0") -> dict[str, Any]:
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": record_id,
        "SyncToken": sync_token,
        "MetaData": {"CreateTime": created, "LastUpdatedTime": updated},
    }


def _account(record_id: str, name: str, account_type: str, subtype: str, stamp: str) -> dict[str, Any]:
    return {
        **_system(record_id, stamp, stamp),
        "Name": name,
        "SubAccount": False,
        "FullyQualifiedName": name,
        "Active": True,
        "Classification": ACCOUNT_CLASSIFICATION[account_type],
        "AccountType": account_type,
        "AccountSubType": subtype,
        "CurrentBalance": 0,
        "CurrentBalanceWithSubAccounts": 0,
        "CurrencyRef": USD,
    }


def load_reference_data(company: QboCompany, company_time: CompanyTime) -> None:
    stamp = company_time.stamp(REFERENCE_STAMP)
    for record_id, name, account_type, subtype in ACCOUNTS:
        company.index_record("Account", _account(record_id, name, account_type, subtype, stamp))
    for record_id, name, days in TERMS:
        company.index_record(
            "Term",
            {
                **_system(record_id, stamp, stamp),
                "Name": name,
                "Active": True,
                "Type": "STANDARD",
                "DueDays": days,
                "DiscountDays": 0,
                "DiscountPercent": 0,
            },
        )
    for record_id, name in CLASSES:
        company.index_record(
            "Class",
            {
                **_system(record_id, stamp, stamp),
                "Name": name,
                "SubClass": False,
                "FullyQualifiedName": name,
                "Active": True,
            },
        )
    for code, name, taxable in (("TAX", "TAX", True), ("NON", "NON", False)):
        company.index_record(
            "TaxCode",
            {
                **_system(code, stamp, stamp),
                "Name": name,
                "Description": f"{name} sales tax code",
                "Taxable": taxable,
                "TaxGroup": False,
                "Active": True,
                "Hidden": False,
            },
        )
    company.index_record(
        "TaxCode",
        {
            **_system("2", stamp, stamp),
            "Name": "California",
            "Description": "California sales tax",
            "Taxable": True,
            "TaxGroup": True,
            "Active": True,
            "Hidden": False,
            "SalesTaxRateList": {
                "TaxRateDetail": [
                    {
                        "TaxRateRef": {"value": "3", "name": "California"},
                        "TaxTypeApplicable": "TaxOnAmount",
                        "TaxOrder": 0,
                    }
                ]
            },
            "PurchaseTaxRateList": {"TaxRateDetail": []},
        },
    )
    company.index_record(
        "Item",
        {
            **_system(GENERIC_ITEM_ID, stamp, stamp),
            "Name": "Promotional item",
            "Description": "Promotional item",
            "Active": True,
            "FullyQualifiedName": "Promotional item",
            "Taxable": False,
            "UnitPrice": 0,
            "Type": "NonInventory",
            "IncomeAccountRef": {"value": "79", "name": "Sales of Product Income"},
            "PurchaseCost": 0,
            "ExpenseAccountRef": {"value": "80", "name": "Cost of Goods Sold"},
            "TrackQtyOnHand": False,
            "SubItem": False,
        },
    )
    company.index_record("Customer", _customer(GENERIC_CUSTOMER_ID, "Walk-in Customer", None, None, stamp, stamp))
    company.index_record("Vendor", _vendor(GENERIC_VENDOR_ID, "Miscellaneous Supplier", None, None, stamp, stamp))


def _customer(
    record_id: str,
    name: str,
    email: str | None,
    phone: str | None,
    created: str,
    updated: str,
    active: bool = True,
    address: dict[str, str] | None = None,
    sync_token: str = "0",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        **_system(record_id, created, updated, sync_token),
        "Taxable": False,
        "Job": False,
        "BillWithParent": False,
        "Balance": 0.0,
        "BalanceWithJobs": 0.0,
        "CurrencyRef": USD,
        "PreferredDeliveryMethod": "Print",
        "IsProject": False,
        "FullyQualifiedName": name,
        "CompanyName": name,
        "DisplayName": name,
        "PrintOnCheckName": name,
        "Active": active,
    }
    if address:
        record["BillAddr"] = address
    if phone:
        record["PrimaryPhone"] = {"FreeFormNumber": phone}
    if email:
        record["PrimaryEmailAddr"] = {"Address": email}
    return record


def _vendor(
    record_id: str,
    name: str,
    email: str | None,
    number: str | None,
    created: str,
    updated: str,
    active: bool = True,
    sync_token: str = "0",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        **_system(record_id, created, updated, sync_token),
        "Balance": 0.0,
        "Vendor1099": False,
        "CurrencyRef": USD,
        "CompanyName": name,
        "DisplayName": name,
        "PrintOnCheckName": name,
        "Active": active,
    }
    if number:
        record["AcctNum"] = number
    if email:
        record["PrimaryEmailAddr"] = {"Address": email}
    return record


LINE_IDS = tuple(str(number) for number in range(64))  # shared strings for line Ids


def _edited(name: str, presence: Presence) -> str:
    return f"{name} (edited)" if presence is Presence.DRIFTED else name


def generate_world(company: QboCompany, company_time: CompanyTime, world: World) -> tuple[dict[str, int], datetime]:
    """Render the world into `company`; returns counts per entity and the latest seeded stamp."""
    counts = world.counts
    latest = REFERENCE_STAMP
    stamp = company_time.stamp
    net30 = {"value": "3", "name": "Net 30"}
    ap_ref = {"value": AP_ACCOUNT_ID, "name": "Accounts Payable (A/P)"}
    income_ref = {"value": "79", "name": "Sales of Product Income"}
    cogs_ref = {"value": "80", "name": "Cost of Goods Sold"}
    generic_item_ref = {"value": GENERIC_ITEM_ID, "name": "Promotional item"}
    customers = company.records["Customer"]
    vendors = company.records["Vendor"]

    customer_refs: list[dict[str, str] | None] = []
    for index in range(counts["customers"]):
        c = world.customer(index)
        if not c.presence.on_right:
            customer_refs.append(None)
            continue
        record_id = quickbooks_id(index)
        name = c.right_name
        address = {"City": c.city, "Country": c.country}
        if c.state:
            address["CountrySubDivisionCode"] = c.state
        token = "1" if c.presence is Presence.DRIFTED else "0"
        company.index_record(
            "Customer",
            _customer(
                record_id,
                name,
                c.email,
                c.phone,
                stamp(c.stamps.created_at),
                stamp(c.stamps.modified_at),
                c.active,
                address,
                token,
            ),
        )
        customer_refs.append({"value": record_id, "name": name})
        latest = max(latest, c.stamps.modified_at)

    vendor_refs: list[dict[str, str] | None] = []
    for index in range(counts["vendors"]):
        v = world.vendor(index)
        if not v.presence.on_right:
            vendor_refs.append(None)
            continue
        record_id = quickbooks_id(index)
        name = _edited(v.name, v.presence)
        token = "1" if v.presence is Presence.DRIFTED else "0"
        company.index_record(
            "Vendor",
            _vendor(
                record_id,
                name,
                v.email,
                v.number,
                stamp(v.stamps.created_at),
                stamp(v.stamps.modified_at),
                v.active,
                token,
            ),
        )
        vendor_refs.append({"value": record_id, "name": name})
        latest = max(latest, v.stamps.modified_at)

    products = [world.product(index) for index in range(counts["products"])]
    item_refs: list[dict[str, str] | None] = []
    for p in products:
        if not p.presence.on_right:
            item_refs.append(None)
            continue
        record_id = quickbooks_id(p.index)
        name = _edited(p.name, p.presence)
        company.index_record(
            "Item",
            {
                **_system(
                    record_id,
                    stamp(p.stamps.created_at),
                    stamp(p.stamps.modified_at),
                    "1" if p.presence is Presence.DRIFTED else "0",
                ),
                "Name": name,
                "Sku": p.number,
                "Description": p.description,
                "Active": True,
                "FullyQualifiedName": name,
                "Taxable": False,
                "UnitPrice": p.unit_price,
                "Type": "NonInventory",
                "IncomeAccountRef": income_ref,
                "PurchaseDesc": p.description,
                "PurchaseCost": p.unit_cost,
                "ExpenseAccountRef": cogs_ref,
                "TrackQtyOnHand": False,
                "SubItem": False,
            },
        )
        item_refs.append({"value": record_id, "name": name})
        latest = max(latest, p.stamps.modified_at)

    # Documents reuse the products rendered above instead of re-deriving each one per line.
    view = copy.copy(world)
    view.product = products.__getitem__  # type: ignore[method-assign]
    generic_customer = {"value": GENERIC_CUSTOMER_ID, "name": "Walk-in Customer"}
    generic_vendor = {"value": GENERIC_VENDOR_ID, "name": "Miscellaneous Supplier"}

    def item_ref(product_index: int) -> dict[str, str]:
        ref = item_refs[product_index] if product_index < len(item_refs) else None
        return ref or generic_item_ref

    def customer_ref(index: int) -> dict[str, str]:
        ref = customer_refs[index] if index < len(customer_refs) else None
        return ref or generic_customer

    def vendor_ref(index: int | None) -> dict[str, str]:
        ref = vendor_refs[index] if index is not None and index < len(vendor_refs) else None
        return ref or generic_vendor

    def header(doc: Document) -> dict[str, Any]:
        record = _system(
            quickbooks_id(doc.index),
            stamp(doc.stamps.created_at),
            stamp(doc.stamps.modified_at),
            "1" if doc.presence is Presence.DRIFTED else "0",
        )
        record["DocNumber"] = doc.number
        record["TxnDate"] = doc.txn_date.isoformat()
        record["CurrencyRef"] = USD
        record["LinkedTxn"] = []
        if doc.presence is Presence.DRIFTED:
            record["PrivateNote"] = EDITED_NOTE
        return record

    balances: dict[str, float] = {}

    def render(kind: str, count_key: str, build: Callable[[Document], dict[str, Any]], entity: str) -> None:
        nonlocal latest
        store = company.records[entity]
        for index in range(counts[count_key]):
            doc = view.document(kind, index)
            if not doc.presence.on_right:
                continue
            record = build(doc)
            store[record["Id"]] = record
            latest = max(latest, doc.stamps.modified_at)

    def invoice(doc: Document) -> dict[str, Any]:
        record = header(doc)
        lines = []
        for number, line in enumerate(doc.lines, 1):
            lines.append(
                {
                    "Id": LINE_IDS[number],
                    "LineNum": number,
                    "Description": line.description,
                    "Amount": line.amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": item_ref(line.product_index),
                        "UnitPrice": line.unit_price,
                        "Qty": line.quantity,
                        "TaxCodeRef": NON_TAXABLE,
                    },
                }
            )
        total = doc.total
        lines.append({"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        customer = customer_ref(doc.customer_index)
        record.update(
            {
                "Line": lines,
                "TxnTaxDetail": {"TotalTax": 0},
                "CustomerRef": customer,
                "SalesTermRef": net30,
                "DueDate": doc.due_date.isoformat(),
                "TotalAmt": total,
                "PrintStatus": "NotSet",
                "EmailStatus": "EmailSent" if doc.presence.linked else "NotSet",
                "Balance": total,
                "HomeBalance": total,
            }
        )
        balances[f"C{customer['value']}"] = balances.get(f"C{customer['value']}", 0.0) + total
        return record

    def vendor_lines(doc: Document) -> list[dict[str, Any]]:
        customer = customer_refs[doc.customer_index] if doc.customer_index < len(customer_refs) else None
        lines = []
        for number, line in enumerate(doc.lines, 1):
            detail: dict[str, Any] = {
                "ItemRef": item_ref(line.product_index),
                "UnitPrice": line.unit_cost,
                "Qty": line.quantity,
                "BillableStatus": "NotBillable",
                "TaxCodeRef": NON_TAXABLE,
            }
            if customer:
                detail["CustomerRef"] = customer
            lines.append(
                {
                    "Id": LINE_IDS[number],
                    "LineNum": number,
                    "Description": line.description,
                    "Amount": line.cost,
                    "DetailType": "ItemBasedExpenseLineDetail",
                    "ItemBasedExpenseLineDetail": detail,
                }
            )
        return lines

    def purchase_order(doc: Document) -> dict[str, Any]:
        record = header(doc)
        record.update(
            {
                "Line": vendor_lines(doc),
                "VendorRef": vendor_ref(doc.vendor_index),
                "APAccountRef": ap_ref,
                "DueDate": doc.due_date.isoformat(),
                "TotalAmt": doc.total_cost,
                "POStatus": "Open",
                "EmailStatus": "NotSet",
            }
        )
        return record

    def bill(doc: Document) -> dict[str, Any]:
        record = header(doc)
        vendor = vendor_ref(doc.vendor_index)
        total = doc.total_cost
        record.update(
            {
                "Line": vendor_lines(doc),
                "VendorRef": vendor,
                "APAccountRef": ap_ref,
                "SalesTermRef": net30,
                "DueDate": doc.due_date.isoformat(),
                "TotalAmt": total,
                "Balance": total,
            }
        )
        balances[f"V{vendor['value']}"] = balances.get(f"V{vendor['value']}", 0.0) + total
        return record

    render("invoice", "invoices", invoice, "Invoice")
    render("purchase_order", "purchase_orders", purchase_order, "PurchaseOrder")
    render("bill", "bills", bill, "Bill")
    for key, change in seed_receivables(company).items():
        balances[key] = balances.get(key, 0.0) + change
    for key, amount in balances.items():
        party = customers.get(key[1:]) if key[0] == "C" else vendors.get(key[1:])
        if party is not None:
            party["Balance"] = round(amount, 2)
            if "BalanceWithJobs" in party:
                party["BalanceWithJobs"] = party["Balance"]
    for entity in ("Invoice", "PurchaseOrder", "Bill"):
        ids = [int(i) for i in company.records[entity]]
        company.next_id[entity] = max([company.next_id[entity], *(i + 1 for i in ids[-1:])])
        company.versions[entity] += 1
    result = {entity: len(rows) for entity, rows in company.records.items()}
    return result, latest


# What happens to each of the first seeded invoices, in order; the same few at any scale.
RECEIVABLE_PLANS = ("paid", "half paid", "quarter paid with money left over", "credited", "open credit")
LEFT_OVER = 20.0  # unapplied on the "quarter paid" payment
OPEN_CREDIT = 15.0  # the "open credit" credit memo, applied to nothing


def seed_receivables(company: QboCompany) -> dict[str, float]:
    """Payments and credit memos against the first seeded invoices, each dated when its invoice was last changed:
    paid in full, half paid, a quarter paid with money left unapplied, credited by a tenth through a zero-amount
    payment, and a customer with an open credit. Each application moves the invoice's Balance and SyncToken as a
    payment does in QBO. Returns how much each customer's balance ("C<Id>") changes: less what is paid or credited,
    less unapplied money and open credit."""
    changes: dict[str, float] = {}
    invoices = list(itertools.islice(company.records["Invoice"].values(), len(RECEIVABLE_PLANS)))
    for number, (plan, invoice) in enumerate(zip(RECEIVABLE_PLANS, invoices, strict=False)):
        total = invoice["TotalAmt"]
        if total <= 0:
            continue
        customer = {"value": invoice["CustomerRef"]["value"]}
        stamp = invoice["MetaData"]["LastUpdatedTime"]
        header = {
            "Id": quickbooks_id(number),
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            "CustomerRef": customer,
            "TxnDate": stamp[:10],
        }
        link = [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
        if plan in ("credited", "open credit"):
            amount = money(total / 10) if plan == "credited" else OPEN_CREDIT
            item = invoice["Line"][0].get("SalesItemLineDetail", {}).get("ItemRef") or {"value": GENERIC_ITEM_ID}
            credit = company.seed_record(
                "CreditMemo",
                {
                    **header,
                    "DocNumber": f"CM{invoice['DocNumber']}"[:21],
                    "Line": [
                        {
                            "Amount": amount,
                            "Description": "Credit for returned items",
                            "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": {"ItemRef": item, "Qty": 1, "UnitPrice": amount},
                        }
                    ],
                },
            )
            if plan == "credited":
                company.seed_record(
                    "Payment",
                    {
                        **header,
                        "TotalAmt": 0,
                        "Line": [
                            {"Amount": amount, "LinkedTxn": link},
                            {"Amount": amount, "LinkedTxn": [{"TxnId": credit["Id"], "TxnType": "CreditMemo"}]},
                        ],
                    },
                )
            credit = company.records["CreditMemo"][credit["Id"]]
            changes[f"C{customer['value']}"] = changes.get(f"C{customer['value']}", 0.0) - credit["Balance"]
        else:
            applied = {"paid": total, "half paid": money(total / 2)}.get(plan, money(total / 4))
            received = applied + (LEFT_OVER if plan.endswith("left over") else 0.0)
            payment = company.seed_record(
                "Payment",
                {
                    **header,
                    "TotalAmt": received,
                    "PaymentRefNum": str(1000 + number),
                    "Line": [{"Amount": applied, "LinkedTxn": link}],
                },
            )
            changes[f"C{customer['value']}"] = changes.get(f"C{customer['value']}", 0.0) - payment["UnappliedAmt"]
        after = company.records["Invoice"][invoice["Id"]]
        changes[f"C{customer['value']}"] += after["Balance"] - total
    return changes
