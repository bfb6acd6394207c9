"""The ESP+ -> QuickBooks Online sync's rules end to end: send permissions (B3), billable lines (B4), field mappings
(B6), company matching and review (B7), and validation that quarantines a bad document while the rest are sent.
Each test changes ESP+'s settings or data through its API, QBO's through python-quickbooks, and reads the dry-run
plan (`crosswalk plan --sync quickbooks --json`) and what a real run wrote."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quickbooks.objects.base import EmailAddress
from quickbooks.objects.customer import Customer
from quickbooks.objects.vendor import Vendor

from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import REPO, job_env, run_job
from tests.e2e.projects_support import CROSSWALK
from tests.e2e.quickbooks_support import esp_api, plan_json, quickbooks_as_crosswalk, records, reset_stats, writes

pytestmark = pytest.mark.slow


@pytest.fixture
def qbo_sandbox(tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, str], str]]:
    """A sandbox of its own, a SQLite store and the environment of a QuickBooks sync run."""
    database_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    with Sandbox(state_dir=tmp_path / "sandbox", scale="demo") as sandbox:
        env = job_env(sandbox, database_url, tmp_path / "dagster", quickbooks_sync=True)
        subprocess.run([str(CROSSWALK), "migrate"], env=env, cwd=REPO, capture_output=True, timeout=120, check=True)
        yield sandbox, env, database_url


def _writes_of(plan: dict[str, Any], entity: str) -> list[dict[str, Any]]:
    return [i for i in plan["items"] if i["entity"] == entity and i["action"] in ("create", "update")]


def test_documents_their_owner_may_not_send_are_held_back_and_a_bad_one_is_quarantined(
    qbo_sandbox: tuple[Sandbox, dict[str, str], str],
) -> None:
    sandbox, env, _url = qbo_sandbox
    with esp_api(env) as esp:
        invoices = [o for o in esp.search("orders") if o["Type"] == "invoice"]
        owners = sorted({o["OwnerId"] for o in invoices})
        allowed, refused_owner = owners[0], owners[-1]
        assert allowed != refused_owner, "the sandbox's invoices need two owners"
        permissions = [
            {"DocumentType": "Invoice", "AccessLevel": "Custom", "UserIds": [allowed]},
            {"DocumentType": "PurchaseOrder", "AccessLevel": "Everyone", "UserIds": []},
            {"DocumentType": "Bill", "AccessLevel": "Everyone", "UserIds": []},
        ]
        esp.settings(DocumentSendPermissions=permissions, SendableDocuments={"Invoice": True, "Bill": True,
                                                                             "PurchaseOrder": False})  # fmt: skip
        # A bill with an absurd quantity (ESP+ takes it): quarantined with the reason, the other bills are sent.
        bill = next(b for b in esp.search("bills") if not b.get("ExternalId"))
        document = esp.get(f"bills/{bill['Id']}")
        document["LineItems"][0]["Quantity"] = 99_999_999
        esp.put(f"bills/{bill['Id']}", document)

    plan = plan_json(env)
    held = {i["source_key"]: i["reason"] for i in plan["items"] if (i["reason"] or "").startswith("held back")}
    for invoice in invoices:
        if invoice["OwnerId"] == refused_owner:
            assert "may not send Invoice documents" in held[str(invoice["Id"])]
    held_orders = [held[k] for k in (str(po["Id"]) for po in esp_rows(env, "purchaseorders")) if k in held]
    assert len(held_orders) >= 4 and all("turned off" in reason for reason in held_orders)
    assert not [i for i in _writes_of(plan, "purchase_order") if i["target"] == "quickbooks"]

    before = {r["Id"] for r in records(sandbox, "quickbooks", "Invoice")}
    run = run_job("sync_quickbooks", env)
    assert run.returncode == 0, run.stderr[-4000:]
    new = [r for r in records(sandbox, "quickbooks", "Invoice") if r["Id"] not in before]
    refused_numbers = {o["Number"] for o in invoices if o["OwnerId"] == refused_owner}
    assert not [r for r in new if r["DocNumber"] in refused_numbers]  # nothing of the refused owner was sent
    quarantine = subprocess.run([str(CROSSWALK), "quarantine", "--json"], env=env, cwd=REPO, capture_output=True,
                                text=True, timeout=120, check=True)  # fmt: skip
    [row] = [r for r in json.loads(quarantine.stdout)["records"] if r["key"] == str(bill["Id"])]
    assert "quantity" in row["reason"]
    sent_bills = {r["DocNumber"] for r in records(sandbox, "quickbooks", "Bill")}
    assert bill["Number"] not in sent_bills
    assert len(sent_bills) >= 3


def esp_rows(env: dict[str, str], resource: str) -> list[dict[str, Any]]:
    with esp_api(env) as esp:
        return esp.search(resource)


def test_billable_lines_with_invoices_are_refused_unless_invoices_are_off(
    qbo_sandbox: tuple[Sandbox, dict[str, str], str],
) -> None:
    sandbox, env, _url = qbo_sandbox
    with esp_api(env) as esp:
        esp.settings(SetCustomerBillableOnBillsAndPOs=True)
    reset_stats(sandbox)
    refused = plan_json(env, check=False)
    assert refused["returncode"] == 1
    assert "SetCustomerBillableOnBillsAndPOs" in refused["stderr"]
    assert "quickbooks.allow_billable_with_invoices" in refused["stderr"]
    run = run_job("sync_quickbooks", env)
    assert run.returncode != 0  # the plan stops the run before any write
    assert writes(sandbox) == {"esp": 0, "quickbooks": 0}

    with esp_api(env) as esp:
        esp.settings(SendableDocuments={"Invoice": False, "Bill": True, "PurchaseOrder": True})
        customers_of = {str(po["Id"]): str((po.get("Customer") or {}).get("Id")) for po in esp.search("purchaseorders")}
    plan = plan_json(env)
    creates = [i for i in _writes_of(plan, "purchase_order") if i["action"] == "create"]
    assert creates
    for item in creates:
        for line in json.loads(item["values"]["lines"]):
            detail = line["ItemBasedExpenseLineDetail"]
            assert detail["BillableStatus"] == "Billable"
            assert detail["CustomerRef"]["value"]  # the PO's customer, in QBO's terms (or its pending create)
        assert customers_of[item["source_key"]] != "None"


def test_a_field_mapping_qbo_does_not_have_stops_before_any_write_and_the_mapping_file_overrides(
    qbo_sandbox: tuple[Sandbox, dict[str, str], str], tmp_path: Path
) -> None:
    sandbox, env, _url = qbo_sandbox
    with esp_api(env) as esp:
        mappings = esp.get("settings/integrations/quickbooks")["FieldMappings"]
        esp.settings(FieldMappings={**mappings, "IncomeAccount": "Sales - Nowhere"})
    reset_stats(sandbox)
    refused = plan_json(env, check=False)
    assert refused["returncode"] == 1
    assert "IncomeAccount names Account 'Sales - Nowhere'" in refused["stderr"]
    run = run_job("sync_quickbooks", env)
    assert run.returncode != 0
    assert writes(sandbox)["quickbooks"] == 0

    # The mapping file's field_mappings override ESP+'s: the income account of every item created is QBO's Services.
    mapping = (REPO / "config/mappings/quickbooks.yaml").read_text().replace("IncomeAccount: null",
                                                                              "IncomeAccount: Services")  # fmt: skip
    (tmp_path / "quickbooks.yaml").write_text(mapping)
    base = Path(env["CROSSWALK_CONFIG"]).read_text() if "CROSSWALK_CONFIG" in env else ""  # the projects sync off
    config = tmp_path / "crosswalk.yaml"
    config.write_text(base + f"quickbooks:\n  mapping: {tmp_path / 'quickbooks.yaml'}\n")
    plan = plan_json({**env, "CROSSWALK_CONFIG": str(config)})
    items = [i for i in _writes_of(plan, "item") if i["action"] == "create"]
    assert items
    assert {i["fixed_values"]["IncomeAccountRef"]["value"] for i in items} == {"1"}  # QBO's Services account


def test_companies_match_on_a_normalised_name_with_contacts_agreeing_and_ambiguous_ones_go_to_review(
    qbo_sandbox: tuple[Sandbox, dict[str, str], str],
) -> None:
    sandbox, env, database_url = qbo_sandbox
    with esp_api(env) as esp:
        ids = {}
        for name, email in (("Zeta Events", "ap@zeta.example"), ("Yonder Promotions", "ap@yonder.example"),
                            ("Acme Widgets", "sales@acme-widgets.example")):  # fmt: skip
            response = esp.post("companies", {"Name": name, "IsCustomer": True,
                                              "Emails": [{"Address": email, "IsPrimary": True}]})  # fmt: skip
            assert response.status_code in (200, 201), response.text
            ids[name] = str(response.json()["Id"])
    with quickbooks_as_crosswalk(env, database_url) as qb:
        for display_name, email in (("Zeta Events, Inc.", "ap@zeta.example"), ("ZETA EVENTS LLC", "ap@zeta.example"),
                                    ("ACME Widgets, Inc.", "sales@acme-widgets.example")):  # fmt: skip
            customer = Customer()
            customer.DisplayName = display_name
            customer.PrimaryEmailAddr = EmailAddress()
            customer.PrimaryEmailAddr.Address = email
            customer.save(qb=qb)
        vendor = Vendor()
        vendor.DisplayName = "Yonder Promotions"
        vendor.save(qb=qb)
        acme = Customer.filter(DisplayName="ACME Widgets, Inc.", qb=qb)[0].Id
        yonder = Vendor.filter(DisplayName="Yonder Promotions", qb=qb)[0].Id

    plan = plan_json(env)
    reviews = {r["key"]: r for r in plan["reviews"] if r["system"] == "esp"}
    assert len(reviews[ids["Zeta Events"]]["candidates"]) == 2
    assert reviews[ids["Yonder Promotions"]]["candidates"] == [f"Vendor {yonder}"]
    assert "taken" in reviews[ids["Yonder Promotions"]]["reason"]
    customers = _writes_of(plan, "customer")
    assert not [i for i in customers if i["source_key"] in (ids["Zeta Events"], ids["Yonder Promotions"])]
    [acme_link] = [i for i in customers if i["target"] == "esp" and i["target_key"] == ids["Acme Widgets"]]
    assert acme_link["link_values"] == {"QuickBooksCustomerId": acme}
    assert not [i for i in customers if i["action"] == "create" and i["source_key"] == ids["Acme Widgets"]]

    run = run_job("sync_quickbooks", env)
    assert run.returncode == 0, run.stderr[-4000:]
    with esp_api(env) as esp:
        links = {name: esp.get(f"companies/{ids[name]}")["QuickBooksLinks"] for name in ids}
    assert [(k["QuickBooksId"], k["Source"]) for k in links["Acme Widgets"]] == [(acme, "Matched")]
    assert links["Zeta Events"] == [] and links["Yonder Promotions"] == []
    names = [c["DisplayName"] for c in records(sandbox, "quickbooks", "Customer")]
    assert "Zeta Events" not in names and "Yonder Promotions" not in names
    text = subprocess.run([str(CROSSWALK), "plan", "--sync", "quickbooks", "--no-extract"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    assert "wait for a person" in text and ids["Zeta Events"] in text
