"""Receivables: payments and credit memos, and the open balances of the invoices and credits they apply to.

A Payment's lines link invoices (money received against them) and credit memos (credit used towards them):
`UnappliedAmt = TotalAmt - invoice lines + credit memo lines`. Every application moves the linked transaction's
`Balance` (a credit memo's `RemainingCredit` too), and QBO records that as a change of the invoice: its
`SyncToken` goes up by one, `MetaData.LastUpdatedTime` moves, and `LinkedTxn` gains (or loses) the
`{"TxnId": <payment>, "TxnType": "Payment"}` link, which QBO sets itself (Intuit, "Manage linked transactions").

Two indexes hold the applications: per linked transaction (`applied`, "Invoice:1003" -> {payment Id: amount}) and
per payment (`payment_links`, payment Id -> {"Invoice:1003": amount}), so a balance never needs a scan of every
payment. The company preference SalesFormsPrefs.AutoApplyCredit reproduces QBO's "Automatically apply credits"
automation: a zero-amount payment linking open credits to the customer's oldest open invoices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from emulators.quickbooks import errors
from emulators.quickbooks.amounts import CENT, USD, money

APPLIED_TYPES = ("Invoice", "CreditMemo")
# Valid LinkedTxn types of a payment line in QBO that this sandbox does not serve (their transactions cannot exist).
UNSERVED_TYPES = ("Expense", "Check", "CreditCardCredit", "JournalEntry")
UNDEPOSITED_FUNDS_ID = "4"
AUTO_APPLY_NOTE = "Created by QB Online to link credits to charges."
LINE_EX_TYPE = "com.intuit.schema.finance.v3.NameValue"


def link_key(txn_type: str, txn_id: str) -> str:
    return f"{txn_type}:{txn_id}"


def _label(record: dict[str, Any], txn_type: str) -> str:
    noun = "invoice" if txn_type == "Invoice" else "credit memo"
    return f"{noun} {record.get('DocNumber') or record['Id']}"


def _name_value(name: str, value: str) -> dict[str, Any]:
    """One element of a payment line's LineEx, in the JAXB shape QBO serialises it."""
    return {
        "name": "{http://schema.intuit.com/finance/v3}NameValue",
        "declaredType": LINE_EX_TYPE,
        "scope": "javax.xml.bind.JAXBElement$GlobalScope",
        "value": {"Name": name, "Value": value},
        "nil": False,
        "globalScope": True,
        "typeSubstituted": False,
    }


def _txn_order(record: dict[str, Any]) -> tuple[str, int, str]:
    record_id = str(record["Id"])
    return (str(record.get("TxnDate", "")), int(record_id) if record_id.isdigit() else 0, record_id)


class Receivables:
    """Mixed into QboCompany: Payment and CreditMemo completion and the application ledger."""

    records: dict[str, dict[str, dict[str, Any]]]
    preferences: dict[str, Any]
    stamp: Callable[[], str]
    today: Callable[[], date]
    applied: dict[str, dict[str, float]]
    payment_links: dict[str, dict[str, float]]

    # Provided by QboCompany.
    _ref: Callable[..., dict[str, Any]]
    _optional_ref: Callable[..., None]
    _after_write: Callable[..., None]
    _touch: Callable[[str], None]
    _sales_form_lines: Callable[[dict[str, Any], bool], float]  # lines, subtotal line, total: shared with invoices
    _sales_doc_number: Callable[[dict[str, Any]], None]
    _check_statuses: Callable[[dict[str, Any]], None]
    create: Callable[..., dict[str, Any]]

    # ---- reads -----------------------------------------------------------------------------------------------

    def applied_to(self, txn_type: str, txn_id: str) -> float:
        """How much payments apply to this invoice (or use of this credit memo)."""
        return money(sum(self.applied.get(link_key(txn_type, txn_id), {}).values()))

    def _holders(self, txn_type: str, txn_id: str) -> list[str]:
        return list(self.applied.get(link_key(txn_type, txn_id), {}))

    @staticmethod
    def links_of(payment: dict[str, Any]) -> dict[str, float]:
        """What a stored payment applies, per linked transaction (zero-amount lines link nothing)."""
        links: dict[str, float] = {}
        for line in payment.get("Line") or []:
            linked = line.get("LinkedTxn") or []
            if not linked or not line.get("Amount"):
                continue
            key = link_key(linked[0]["TxnType"], linked[0]["TxnId"])
            links[key] = money(links.get(key, 0.0) + line["Amount"])
        return links

    # ---- Payment ---------------------------------------------------------------------------------------------

    def _complete_payment(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        record["CustomerRef"] = self._ref("Customer", record.get("CustomerRef"), "CustomerRef", strict)
        total = record.get("TotalAmt")
        if not isinstance(total, int | float) or isinstance(total, bool):
            raise errors.required_param("TotalAmt")
        if total < 0:
            raise errors.business_validation("A payment amount cannot be negative.")
        record["TotalAmt"] = money(total)
        record.setdefault("TxnDate", self.today().isoformat())
        record.setdefault("CurrencyRef", USD)
        record.setdefault("ProcessPayment", False)
        # Without a deposit account QBO files the money under Undeposited Funds.
        record["DepositToAccountRef"] = self._ref(
            "Account",
            record.get("DepositToAccountRef") or {"value": UNDEPOSITED_FUNDS_ID},
            "DepositToAccountRef",
            strict,
        )
        self._optional_ref(record, "Account", "ARAccountRef", strict)
        record["Line"] = self._payment_lines(record, strict)
        links = self.links_of(record)
        received = sum(amount for key, amount in links.items() if key.startswith("Invoice:"))
        credited = sum(amount for key, amount in links.items() if key.startswith("CreditMemo:"))
        unapplied = money(record["TotalAmt"] - received + credited)
        if strict:
            self._check_open_amounts(record["Id"], links)
            if unapplied < -CENT:
                raise errors.overpaid(
                    f"the amount received ({record['TotalAmt']:.2f} applied as {received:.2f} "
                    f"to invoices less {credited:.2f} of credits)"
                )
        record["UnappliedAmt"] = unapplied

    def _payment_lines(self, record: dict[str, Any], strict: bool) -> list[dict[str, Any]]:
        customer_id = record["CustomerRef"]["value"]
        out = []
        for line in record.get("Line") or []:
            if not isinstance(line, dict):
                raise errors.malformed_request("Line")
            amount = line.get("Amount", 0)
            if not isinstance(amount, int | float) or isinstance(amount, bool):
                raise errors.required_param("Amount")
            if amount < 0:
                raise errors.business_validation("A payment line amount cannot be negative.")
            linked = [link for link in line.get("LinkedTxn") or [] if isinstance(link, dict)]
            if len(linked) > 1:
                raise errors.business_validation("A payment line links one transaction; use one line for each.")
            stored: dict[str, Any] = {k: v for k, v in line.items() if k not in ("LinkedTxn", "LineEx", "Amount")}
            stored["Amount"] = money(amount)
            stored["LinkedTxn"] = []
            if linked:
                txn_type = str(linked[0].get("TxnType") or "")
                txn_id = str(linked[0].get("TxnId") or "")
                if txn_id in ("", "0"):
                    raise errors.required_param("TxnId")
                if txn_type not in APPLIED_TYPES:
                    if txn_type in UNSERVED_TYPES:
                        raise errors.invalid_reference("TxnId")
                    raise errors.invalid_enumeration(txn_type, "TxnType")
                target = self.records[txn_type].get(txn_id)
                if target is None and strict:
                    raise errors.invalid_reference("TxnId")
                if target is not None and strict and target.get("CustomerRef", {}).get("value") != customer_id:
                    raise errors.business_validation(
                        f"{_label(target, txn_type).capitalize()} belongs to another customer: a payment applies "
                        "only to its own customer's transactions."
                    )
                stored["LinkedTxn"] = [{"TxnId": txn_id, "TxnType": txn_type}]
                if target is not None:
                    open_amount = target.get("Balance", 0.0) + self.applied.get(link_key(txn_type, txn_id), {}).get(
                        str(record["Id"]), 0.0
                    )
                    stored["LineEx"] = {
                        "any": [
                            _name_value("txnId", txn_id),
                            _name_value("txnOpenBalance", f"{money(open_amount):.2f}"),
                            _name_value("txnReferenceNumber", str(target.get("DocNumber", ""))),
                        ]
                    }
            out.append(stored)
        return out

    def _check_open_amounts(self, payment_id: str, links: dict[str, float]) -> None:
        """No invoice gets more than its open balance, no credit memo gives more than its remaining credit (what this
        payment applied before is open again to it)."""
        for key, amount in links.items():
            txn_type, txn_id = key.split(":", 1)
            target = self.records[txn_type][txn_id]
            open_amount = target.get("Balance", 0.0) + self.applied.get(key, {}).get(payment_id, 0.0)
            if amount > open_amount + CENT:
                what = "open balance" if txn_type == "Invoice" else "remaining credit"
                raise errors.overpaid(f"the {what} of {_label(target, txn_type)} ({money(open_amount):.2f})")

    def void_payment(self, current: dict[str, Any]) -> dict[str, Any]:
        """A voided payment keeps its lines at zero: nothing received, nothing applied, "Voided" in its note."""
        record = {
            **current,
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": self.stamp()},
            "Line": [{**line, "Amount": 0.0} for line in current.get("Line", [])],
            "TotalAmt": 0.0,
            "UnappliedAmt": 0.0,
        }
        note = current.get("PrivateNote")
        record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        return record

    # ---- CreditMemo ------------------------------------------------------------------------------------------

    def _complete_creditmemo(self, record: dict[str, Any], previous: dict[str, Any] | None, strict: bool) -> None:
        record["CustomerRef"] = self._ref("Customer", record.get("CustomerRef"), "CustomerRef", strict)
        total = self._sales_form_lines(record, strict)
        self._optional_ref(record, "Class", "ClassRef", strict)
        self._optional_ref(record, "Term", "SalesTermRef", strict)
        self._optional_ref(record, "Account", "DepositToAccountRef", strict)
        record.setdefault("TxnDate", self.today().isoformat())
        self._sales_doc_number(record)
        record.setdefault("CurrencyRef", USD)
        record["TxnTaxDetail"] = {"TotalTax": 0}
        self._check_statuses(record)
        used = self.applied_to("CreditMemo", str(record["Id"])) if previous is not None else 0.0
        if strict and used > total + CENT:
            raise errors.business_validation(
                f"The credit memo total ({total:.2f}) cannot be less than the credit already applied ({used:.2f})."
            )
        record["TotalAmt"] = total
        record["Balance"] = money(total - used)
        record["RemainingCredit"] = record["Balance"]

    # ---- the ledger ------------------------------------------------------------------------------------------

    def relink(
        self,
        payment_id: str,
        payment: dict[str, Any] | None,
        stamp: str | None = None,
        roll_up: bool = True,
        leave: str | None = None,
    ) -> None:
        """Make the indexes and the linked transactions agree with `payment` as now stored (None: deleted).

        Each invoice or credit memo whose applied amount changes is rewritten with its new balance, one more
        SyncToken and a LastUpdatedTime of `stamp` (None: the next live stamp). `leave` names a linked transaction
        the caller rewrites itself (a voided invoice). `roll_up` False leaves customer balances alone (seeding)."""
        old = self.payment_links.pop(payment_id, {})
        new = self.links_of(payment) if payment is not None else {}
        new = {key: amount for key, amount in new.items() if self._target(key) is not None}
        if new:
            self.payment_links[payment_id] = new
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key) == new.get(key):
                continue
            holders = self.applied.setdefault(key, {})
            if key in new:
                holders[payment_id] = new[key]
            else:
                holders.pop(payment_id, None)
            if not holders:
                del self.applied[key]
            if key != leave:
                self._rebalance(key, stamp, roll_up)

    def _target(self, key: str) -> dict[str, Any] | None:
        txn_type, txn_id = key.split(":", 1)
        return self.records[txn_type].get(txn_id)

    def _rebalance(self, key: str, stamp: str | None, roll_up: bool) -> None:
        txn_type, txn_id = key.split(":", 1)
        current = self.records[txn_type].get(txn_id)
        if current is None:
            return
        updated = current["MetaData"]["LastUpdatedTime"]
        record = {
            **current,
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {
                "CreateTime": current["MetaData"]["CreateTime"],
                "LastUpdatedTime": self.stamp() if stamp is None else max(updated, stamp),
            },
        }
        balance = money(current.get("TotalAmt", 0.0) - self.applied_to(txn_type, txn_id))
        record["Balance"] = balance
        if txn_type == "Invoice":
            record["HomeBalance"] = balance
            record["LinkedTxn"] = self.invoice_links(txn_id, current.get("LinkedTxn") or [])
        else:
            record["RemainingCredit"] = balance
        self.records[txn_type][txn_id] = record
        if roll_up:
            self._after_write(txn_type, current, record)
        else:
            self._touch(txn_type)

    def invoice_links(self, invoice_id: str, given: list[Any]) -> list[dict[str, Any]]:
        """An invoice's LinkedTxn: the links its writer sets (Estimate, TimeActivity), then the payments applied to
        it, which QBO sets itself and a writer cannot."""
        kept = [link for link in given if isinstance(link, dict) and link.get("TxnType") != "Payment"]
        return kept + [{"TxnId": pid, "TxnType": "Payment"} for pid in self._holders("Invoice", invoice_id)]

    def check_unlinked(self, entity: str, record_id: str) -> None:
        """QBO: "You must unlink any linked transactions associated with the invoice object before deleting it."."""
        if entity in APPLIED_TYPES and self.applied.get(link_key(entity, record_id)):
            payments = ", ".join(self._holders(entity, record_id))
            raise errors.business_validation(
                f"This transaction is linked to payment {payments}. Delete the payment or remove the link first."
            )

    def detach_invoice(self, invoice_id: str) -> None:
        """An invoice being voided: each payment applied to it drops those lines and keeps the money unapplied
        (Intuit, "Linked transactions with voided invoices")."""
        key = link_key("Invoice", invoice_id)
        for payment_id in self._holders("Invoice", invoice_id):
            current = self.records["Payment"][payment_id]
            lines = [
                line
                for line in current.get("Line", [])
                if not line.get("LinkedTxn")
                or link_key(line["LinkedTxn"][0]["TxnType"], line["LinkedTxn"][0]["TxnId"]) != key
            ]
            record = {
                **current,
                "SyncToken": str(int(current["SyncToken"]) + 1),
                "MetaData": {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": self.stamp()},
                "Line": lines,
            }
            links = self.links_of(record)
            received = sum(amount for k, amount in links.items() if k.startswith("Invoice:"))
            credited = sum(amount for k, amount in links.items() if k.startswith("CreditMemo:"))
            record["UnappliedAmt"] = money(record["TotalAmt"] - received + credited)
            self.records["Payment"][payment_id] = record
            self._after_write("Payment", current, record, leave=key)

    # ---- automatically apply credits ---------------------------------------------------------------------------

    def auto_apply_credits(self, customer_id: str) -> dict[str, Any] | None:
        """With AutoApplyCredit on, QBO links a customer's open credits to their oldest open invoices with a
        zero-amount payment ("Created by QB Online to link credits to charges."). Returns that payment."""
        if not (self.preferences.get("SalesFormsPrefs") or {}).get("AutoApplyCredit"):
            return None

        def open_for(entity: str) -> list[dict[str, Any]]:
            return sorted(
                (
                    r
                    for r in self.records[entity].values()
                    if r.get("CustomerRef", {}).get("value") == customer_id and r.get("Balance", 0.0) > CENT
                ),
                key=_txn_order,
            )

        credits = open_for("CreditMemo")
        if not credits:
            return None
        invoices = open_for("Invoice")
        applied: dict[str, float] = {}
        used: dict[str, float] = {}
        credit_iter = iter(credits)
        credit = next(credit_iter, None)
        left = credit["Balance"] if credit else 0.0
        for invoice in invoices:
            due = invoice["Balance"]
            while credit is not None and due > CENT:
                take = money(min(due, left))
                applied[invoice["Id"]] = money(applied.get(invoice["Id"], 0.0) + take)
                used[credit["Id"]] = money(used.get(credit["Id"], 0.0) + take)
                due, left = money(due - take), money(left - take)
                if left <= CENT:
                    credit = next(credit_iter, None)
                    left = credit["Balance"] if credit else 0.0
            if credit is None:
                break
        if not applied:
            return None
        lines = [
            {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": "Invoice"}]}
            for txn_id, amount in applied.items()
        ]
        lines += [
            {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": "CreditMemo"}]}
            for txn_id, amount in used.items()
        ]
        return self.create(
            "Payment",
            {"CustomerRef": {"value": customer_id}, "TotalAmt": 0, "Line": lines, "PrivateNote": AUTO_APPLY_NOTE},
        )
