"""ESP+ emulator over a real socket with httpx: token flow, search paging, modifiedSince, links, settings, sends,
optimistic concurrency, deletions, faults, limits and admin calls, asserting ASI's wire conventions."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.esp.backend import EspBackend
from emulators.world import Presence, World, quickbooks_id

ESP_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,2}[1-9])?Z$")  # .NET style: fraction trimmed
JSON_TYPE = "application/json; charset=utf-8"


def token_url(env: dict[str, str]) -> str:
    """The token endpoint sits on the origin of ESP_URL, as documented in docs/emulators/esp.md."""
    base = httpx.URL(env["ESP_URL"])
    return str(base.copy_with(path="/oauth2/token", query=None))


def client_token(env: dict[str, str]) -> str:
    reply = httpx.post(
        token_url(env), data={"grant_type": "client_credentials"}, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"])
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


def api(env: dict[str, str], token: str | None = None) -> httpx.Client:
    token = token or client_token(env)
    return httpx.Client(base_url=env["ESP_URL"] + "/", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def search_all(client: httpx.Client, resource: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        reply = client.get(f"{resource}/search", params={**params, "from": page, "size": 100})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        rows += body["Results"]
        if not body["Results"]:
            assert len(rows) == body["ResultsTotal"]
            return rows
        page += 1


def parse_esp_date(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def esp(start_emulator: Any) -> Any:
    return start_emulator("esp", scale="demo", seed=3, counts={"customers": 140, "vendors": 40, "invoices": 30})


# ---- auth ----------------------------------------------------------------------------------------------------------


def test_env_and_client_credentials_token(esp: Any) -> None:
    env = esp.env
    assert set(env) == {"ESP_URL", "ESP_CLIENT_ID", "ESP_CLIENT_SECRET"}
    assert env["ESP_URL"] == f"{esp.origin}/babou/api/esp"
    reply = httpx.post(
        token_url(env), data={"grant_type": "client_credentials"}, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"])
    )
    assert reply.status_code == 200 and reply.headers["content-type"] == JSON_TYPE
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert list(body) == ["access_token", "token_type", "expires_in"]
    assert body["token_type"] == "bearer" and body["expires_in"] == "3600"  # a string, as ESP+'s LoginResponse types it
    with api(env, body["access_token"]) as client:
        me = client.get("users/me").json()
    assert me["Name"] == "API Integration" and me["IsAdmin"] is True and me["TenantId"] == 500123


def test_token_errors_are_oauth_shaped(esp: Any) -> None:
    env = esp.env
    wrong = httpx.post(token_url(env), data={"grant_type": "client_credentials"}, auth=(env["ESP_CLIENT_ID"], "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unsupported = httpx.post(
        token_url(env), data={"grant_type": "implicit"}, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"])
    )
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    bad_user = httpx.post(
        token_url(env),
        data={"grant_type": "password", "username": "x@y.z", "password": "p"},
        auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]),
    )
    assert bad_user.status_code == 400 and bad_user.json()["error"] == "invalid_grant"


def test_password_grant_and_rotating_refresh_token(esp: Any) -> None:
    env = esp.env
    user = next(u for u in esp.admin("GET", "records/User").json()["records"] if not u["IsAdmin"])
    form = {
        "grant_type": "password",
        "asi_number": "830001",
        "username": user["UserName"],
        "password": "esp-sandbox-password",
        "scope": "AsiNumberOptional",
    }
    login = httpx.post(token_url(env), data=form, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"])).json()
    assert login["refresh_token"] and login["expires_in"] == "3600"
    with api(env, login["access_token"]) as client:
        assert client.get("users/me").json()["Id"] == user["Id"]
    refresh = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}
    renewed = httpx.post(token_url(env), data=refresh, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]))
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] != login["refresh_token"]
    reused = httpx.post(token_url(env), data=refresh, auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_missing_unknown_and_expired_tokens_get_401(esp: Any) -> None:
    env = esp.env
    denied = {"Error": "Authorization has been denied for this request."}
    no_token = httpx.get(f"{env['ESP_URL']}/companies/search")
    assert no_token.status_code == 401 and no_token.json() == denied
    assert no_token.headers["content-type"] == JSON_TYPE
    with api(env, "not-a-token") as client:
        assert client.get("companies/search").status_code == 401
    with api(env) as client:
        assert client.get("companies/search").status_code == 200
        esp.backend.clock.advance(timedelta(seconds=3601))
        expired = client.get("companies/search")
        assert expired.status_code == 401 and expired.json() == denied
        assert "invalid_token" in expired.headers["www-authenticate"]
    with api(env) as client:  # a fresh token works again; expire_sessions() kills it
        assert client.get("users/me").status_code == 200
        esp.backend.expire_sessions()
        assert client.get("users/me").status_code == 401


# ---- search ----------------------------------------------------------------------------------------------------------


def test_paging_from_size_and_results_total(esp: Any) -> None:
    records = esp.admin("GET", "records/Company").json()["records"]
    with api(esp.env) as client:
        first = client.get("companies/search", params={"from": 1, "size": 100}).json()
        assert list(first) == ["Results", "ResultsTotal", "Aggregations"]
        assert first["ResultsTotal"] == len(records) > 100 and len(first["Results"]) == 100
        second = client.get("companies/search", params={"from": 2, "size": 100}).json()
        assert len(second["Results"]) == len(records) - 100
        past = client.get("companies/search", params={"from": 9, "size": 100}).json()
        assert past["Results"] == [] and past["ResultsTotal"] == len(records)
        default = client.get("companies/search").json()
        assert len(default["Results"]) == 50
        ids = [r["Id"] for r in first["Results"] + second["Results"]]
        assert sorted(ids) == ids and set(ids) == {r["Id"] for r in records}
        for bad in ({"size": 101}, {"size": 0}):
            reply = client.get("companies/search", params=bad)
            assert reply.status_code == 400 and reply.json()["Error"] == "size must be between 1 and 100"
        assert client.get("companies/search", params={"from": 0}).status_code == 400
        bad_sort = client.get("companies/search", params={"sortBy": '{"colour":"asc"}'})
        assert bad_sort.status_code == 400 and "colour" in bad_sort.json()["Error"]
        row = first["Results"][0]
    assert list(row)[:4] == ["Id", "Name", "Types", "AsiNumber"]
    for key in ("CreateDate", "UpdateDate", "LastActivityDate"):
        assert ESP_DATE.match(row[key]), row[key]


def test_modified_since_is_inclusive_and_ties_are_ordered_by_id(esp: Any) -> None:
    with api(esp.env) as client:
        everything = search_all(client, "orders", sortBy='{"updateDate":"asc"}')
        keys = [(parse_esp_date(r["UpdateDate"]), r["Id"]) for r in everything]
        assert keys == sorted(keys)
        per_stamp = Counter(r["UpdateDate"] for r in everything)
        tied = [stamp for stamp, n in per_stamp.items() if n > 1]
        assert tied, "seeded data must contain UpdateDate ties"
        stamp = tied[len(tied) // 2]
        expected = [r["Id"] for r in everything if parse_esp_date(r["UpdateDate"]) >= parse_esp_date(stamp)]
        since = search_all(client, "orders", sortBy='{"updateDate":"asc"}', modifiedSince=stamp)
        assert [r["Id"] for r in since] == expected
        assert [r["UpdateDate"] for r in since[: per_stamp[stamp]]] == [stamp] * per_stamp[stamp]
        after = parse_esp_date(stamp) + timedelta(milliseconds=1)
        later = search_all(
            client, "orders", sortBy='{"updateDate":"asc"}', modifiedSince=after.isoformat().replace("+00:00", "Z")
        )
        assert [r["Id"] for r in later] == expected[per_stamp[stamp] :]
        as_filter = client.get(
            "orders/search",
            params={
                "size": 100,
                "filters": f'{{"UpdateDate":{{"terms":["{stamp}"],"behavior":"GreaterThanOrEqual"}}}}',
            },
        )
        assert as_filter.json()["ResultsTotal"] == len(expected)
        bad = client.get("orders/search", params={"modifiedSince": "yesterday"})
        assert bad.status_code == 400 and "modifiedSince" in bad.json()["Error"]


def test_company_member_type_filters(esp: Any) -> None:
    records = esp.admin("GET", "records/Company").json()["records"]
    with api(esp.env) as client:
        for term, flag in (("customer", "IsCustomer"), ("supplier", "IsSupplier"), ("decorator", "IsDecorator")):
            rows = search_all(client, "companies", filters=f'{{"CompanyType":{{"terms":["{term}"],"behavior":"Any"}}}}')
            assert {r["Id"] for r in rows} == {r["Id"] for r in records if r[flag]}
            assert all(term.capitalize() in r["Types"] for r in rows)
        unknown = client.get("companies/search", params={"filters": '{"Colour":{"terms":["red"]}}'})
        assert unknown.status_code == 400


def test_every_searchable_resource_pages_and_reads_by_id(esp: Any) -> None:
    with api(esp.env) as client:
        for resource, object_name in (
            ("contacts", "Contact"),
            ("users", "User"),
            ("orders", "Order"),
            ("purchaseorders", "PurchaseOrder"),
            ("bills", "Bill"),
        ):
            records = esp.admin("GET", f"records/{object_name}").json()["records"]
            rows = search_all(client, resource)
            assert [r["Id"] for r in rows] == [r["Id"] for r in records]
            one = client.get(f"{resource}/{records[-1]['Id']}")
            assert one.status_code == 200 and one.json() == records[-1]
            missing = client.get(f"{resource}/1")
            assert missing.status_code == 404 and missing.json()["Error"].endswith("not found")
        invoices = search_all(client, "orders", filters='{"Type":{"terms":["invoice"],"behavior":"Any"}}', view="full")
        assert invoices and all(r["Type"] == "invoice" and r["LineItems"][0]["Variants"] for r in invoices)
        order = invoices[0]
        line = order["LineItems"][0]
        assert client.get(f"orders/{order['Id']}/lineitems/{line['Id']}").json() == line
        assert client.get("types/lookups").json()["OrderStatuses"][0]["Label"] == "Open"
        unknown = client.get("nothing/here")
        assert unknown.status_code == 404 and "Error" in unknown.json()


# ---- writes ----------------------------------------------------------------------------------------------------------


def test_company_create_update_conflict_deactivate_and_delete(esp: Any) -> None:
    with api(esp.env) as client:
        created = client.post(
            "companies",
            json={
                "Name": "Keystone Promotions",
                "IsCustomer": True,
                "Code": "C-NEW-1",
                "Emails": [{"Address": "ap@keystone.example", "IsPrimary": True, "Type": "Work"}],
            },
        )
        assert created.status_code == 201 and created.headers["algoliataskids"]
        company = created.json()
        assert company["Version"] == 1 and company["Emails"][0]["Address"] == "ap@keystone.example"
        assert company["Id"] > max(r["Id"] for r in esp.admin("GET", "records/Company").json()["records"][:-1])
        path = f"companies/{company['Id']}"
        updated = client.put(path, json={**company, "Name": "Keystone Promotions Inc", "IsActive": False})
        assert updated.status_code == 200 and updated.json()["Version"] == 2
        assert parse_esp_date(updated.json()["UpdateDate"]) > parse_esp_date(company["UpdateDate"])
        stale = client.put(path, json={**company, "Name": "Lost update"})
        assert stale.status_code == 409 and "version 2" in stale.json()["Error"]
        assert client.put(path, json={"Name": "No version"}).status_code == 400
        assert client.put("companies/1", json={"Version": 1}).json() == {"Error": "Company not found"}
        no_name = client.post("companies", json={"Name": " "})
        assert no_name.status_code == 400 and no_name.json()["Errors"] == [
            {"Field": "Name", "Message": "Name is required"}
        ]
        inactive = search_all(client, "companies", status="Inactive", modifiedSince=updated.json()["UpdateDate"])
        assert [r["Id"] for r in inactive] == [company["Id"]] and inactive[0]["Version"] == 2
        before_delete = updated.json()["UpdateDate"]
        assert client.delete(path).status_code == 204
        assert client.get(path).status_code == 404
        feed = client.get("deletions", params={"since": before_delete}).json()
        assert [(d["EntityType"], d["Id"]) for d in feed["Results"]] == [("Company", company["Id"])]
        assert ESP_DATE.match(feed["Results"][0]["DeletedDate"]) and feed["ResultsTotal"] == 1
        later = parse_esp_date(feed["Results"][0]["DeletedDate"]) + timedelta(milliseconds=1)
        assert client.get("deletions", params={"since": later.isoformat()}).json()["Results"] == []
    stats = esp.admin("GET", "stats").json()
    assert stats["writes"] == 3 and stats["records_written"] == 3 and stats["sessions"] == 1
    assert stats["per_route"]["PUT /babou/api/esp/companies/{id:int}"] == 4


def test_quickbooks_links_per_member_type(esp: Any) -> None:
    world = World(seed=3, scale="demo", overrides={"customers": 140, "vendors": 40, "invoices": 30})
    companies = {r["Id"]: r for r in esp.admin("GET", "records/Company").json()["records"]}
    with api(esp.env) as client:
        customers = client.get("integrations/quickbooks/links", params={"memberType": "Customer", "size": 100}).json()
        n_customers = sum(1 for c in companies.values() if c["IsCustomer"])
        assert customers["LinkedCount"] + customers["UnlinkedCount"] == n_customers == customers["ResultsTotal"]
        linked = search_links(client, memberType="Customer", linked="true")
        assert len(linked) == customers["LinkedCount"]
        for i in range(140):
            c = world.customer(i)
            if c.presence.linked:
                row = next(r for r in linked if companies[r["CompanyId"]]["Code"] == c.number)
                assert row["QuickBooksId"] == quickbooks_id(i) and row["QuickBooksDisplayName"] == c.right_name
                assert row["QuickBooksEntity"] == "Customer"
        vendor_rows = search_links(client, linked="true", memberType="Decorator")
        assert vendor_rows and all(r["QuickBooksEntity"] == "Vendor" for r in vendor_rows)
        target = search_links(client, memberType="Customer", linked="false")[0]
        path = f"companies/{target['CompanyId']}/integrations/quickbooks/Customer"
        put = client.put(
            path, json={"QuickBooksId": "99001", "QuickBooksDisplayName": "New QBO customer", "Source": "Created"}
        )
        assert put.status_code == 200 and put.json()["IsLinked"] and put.json()["LinkedBy"] == "API Integration"
        assert ESP_DATE.match(put.json()["LinkedDate"])
        assert client.get(path).json()["QuickBooksId"] == "99001"
        counts = client.get("integrations/quickbooks/links", params={"memberType": "customer"}).json()
        assert counts["LinkedCount"] == customers["LinkedCount"] + 1
        recent = search_links(client, modifiedSince=put.json()["UpdateDate"], sortBy='{"updateDate":"asc"}')
        assert [r["CompanyId"] for r in recent] == [target["CompanyId"]]
        other = linked[0]["CompanyId"]
        clash = client.put(f"companies/{other}/integrations/quickbooks/Customer", json={"QuickBooksId": "99001"})
        assert clash.status_code == 409 and "already linked" in clash.json()["Error"]
        wrong_type = client.put(
            f"companies/{target['CompanyId']}/integrations/quickbooks/Supplier", json={"QuickBooksId": "5"}
        )
        assert wrong_type.status_code == 400 and "not a Supplier" in wrong_type.json()["Error"]
        assert client.put(path, json={"QuickBooksId": ""}).status_code == 400
        assert client.delete(path).status_code == 204
        assert client.get(path).json() == {"Error": "Link not found"}
        feed = client.get("deletions", params={"entityType": "QuickBooksLink"}).json()["Results"]
        assert feed == [
            {
                "EntityType": "QuickBooksLink",
                "Id": target["CompanyId"],
                "DeletedDate": feed[0]["DeletedDate"],
                "MemberType": "Customer",
            }
        ]


def test_one_company_links_each_vendor_member_type_to_one_quickbooks_vendor(esp: Any) -> None:
    esp.admin("POST", "reset")
    companies = [
        {"Id": 500000001, "Name": "Acme Print", "IsSupplier": True, "IsDecorator": True},
        {"Id": 500000002, "Name": "Brighter Promotions", "IsSupplier": True},
    ]
    assert esp.admin("POST", "seed", json={"records": {"Company": companies}}).status_code == 200
    acme = "companies/500000001/integrations/quickbooks"
    with api(esp.env) as client:
        assert client.put(f"{acme}/Supplier", json={"QuickBooksId": "71"}).status_code == 200
        assert client.put(f"{acme}/Decorator", json={"QuickBooksId": "71"}).status_code == 200
        assert [(r["MemberType"], r["QuickBooksId"]) for r in client.get(acme).json()] == [
            ("Supplier", "71"),
            ("Decorator", "71"),
        ]
        other = "companies/500000002/integrations/quickbooks/Supplier"
        taken = client.put(other, json={"QuickBooksId": "71"})
        assert taken.status_code == 409 and "already linked to company 500000001" in taken.json()["Error"]
        assert client.delete(f"{acme}/Supplier").status_code == 204
        assert client.put(other, json={"QuickBooksId": "71"}).status_code == 409  # the Decorator link still holds it
        assert client.put(f"{acme}/Decorator", json={"QuickBooksId": "75"}).status_code == 200
        assert client.put(other, json={"QuickBooksId": "71"}).status_code == 200


def search_links(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get("integrations/quickbooks/links", params={**params, "from": page, "size": 100}).json()
        if not body["Results"]:
            return rows
        rows += body["Results"]
        page += 1


def test_integration_settings_permissions_and_versions(esp: Any) -> None:
    env = esp.env
    with api(env) as client:
        settings = client.get("settings/integrations/quickbooks").json()
        assert settings["Provider"] == "QuickBooksOnline" and settings["ItemNameSource"] == "ProductNumber"
        assert settings["SendableDocuments"] == {"Invoice": True, "Bill": True, "PurchaseOrder": True}
        assert settings["SetCustomerBillableOnBillsAndPOs"] is False
        assert settings["FieldMappings"]["IncomeAccount"] == "Sales of Product Income"
        assert ESP_DATE.match(settings["UpdateDate"])
        changed = client.put(
            "settings/integrations/quickbooks",
            json={
                "Version": settings["Version"],
                "ItemNameSource": "ProductName",
                "FieldMappings": {"ShippingItem": "Freight"},
            },
        )
        assert changed.status_code == 200 and changed.json()["Version"] == settings["Version"] + 1
        assert changed.json()["FieldMappings"]["ShippingItem"] == "Freight"
        assert changed.json()["FieldMappings"]["IncomeAccount"] == "Sales of Product Income"
        stale = client.put("settings/integrations/quickbooks", json={"Version": settings["Version"]})
        assert stale.status_code == 409
        invalid = client.put(
            "settings/integrations/quickbooks", json={"Version": changed.json()["Version"], "ItemNameSource": "Sku"}
        )
        assert invalid.status_code == 400 and invalid.json()["Errors"][0]["Field"] == "ItemNameSource"
    user = next(u for u in esp.admin("GET", "records/User").json()["records"] if not u["IsAdmin"])
    login = httpx.post(
        token_url(env),
        auth=(env["ESP_CLIENT_ID"], env["ESP_CLIENT_SECRET"]),
        data={"grant_type": "password", "username": user["UserName"], "password": "esp-sandbox-password"},
    ).json()
    with api(env, login["access_token"]) as client:
        refused = client.put("settings/integrations/quickbooks", json={"Version": 2})
        assert refused.status_code == 403 and "administrator" in refused.json()["Error"]
    with api(env) as client:
        client.put(
            "settings/integrations/quickbooks",
            json={
                "Version": 2,
                "Visibility": {"AccessLevel": "Custom", "Access": [{"AccessLevel": "User", "EntityId": 178000}]},
            },
        )
    with api(env, login["access_token"]) as client:
        assert client.get("settings/integrations/quickbooks").status_code == 403
    assert esp.admin("GET", "records/QuickBooksSettings").json()["records"][0]["Version"] == 3


def test_send_to_quickbooks_status(esp: Any) -> None:
    world = World(seed=3, scale="demo", overrides={"customers": 140, "vendors": 40, "invoices": 30})
    with api(esp.env) as client:
        invoices = search_all(client, "orders", filters='{"Type":{"terms":["invoice"]}}')
        by_number = {r["Number"]: r for r in invoices}
        for i in range(30):
            doc = world.document("invoice", i)
            if doc.presence is Presence.RIGHT_ONLY:
                assert doc.number not in by_number
            elif doc.presence.linked:
                row = by_number[doc.number]
                assert row["IsSentToQuickbooks"] and row["ExternalId"] == quickbooks_id(i)
                assert row["Balance"] == doc.total and ESP_DATE.match(row["ExternalSentDate"])
            else:
                assert by_number[doc.number]["IsSentToQuickbooks"] is False
        unsent = search_all(
            client, "orders", filters='{"Type":{"terms":["invoice"]},"IsSentToQuickbooks":{"terms":["false"]}}'
        )
        target = unsent[0]
        path = f"orders/{target['Id']}/sendto/QuickBooksOnline"
        assert client.get(path).json()["IsSent"] is False
        sent = client.post(
            path,
            json={
                "DocumentType": "Invoice",
                "DocumentId": target["Id"],
                "ExternalId": "4242",
                "ExternalNumber": target["Number"],
                "ExternalSyncToken": "0",
                "Balance": 12.5,
            },
        )
        assert sent.status_code == 200 and sent.json()["IsSent"] and sent.json()["SentBy"] == "API Integration"
        order = client.get(f"orders/{target['Id']}").json()
        assert (
            order["IsSentToQuickbooks"] and order["ExternalId"] == "4242" and order["Version"] == target["Version"] + 1
        )
        assert order["ExternalSentDate"] == order["UpdateDate"] and parse_esp_date(
            order["UpdateDate"]
        ) > parse_esp_date(target["UpdateDate"])
        stale = client.post(path, json={"ExternalId": "4242", "Version": target["Version"]})
        assert stale.status_code == 409
        sales_order = search_all(client, "orders", type="order")[0]
        refused = client.post(f"orders/{sales_order['Id']}/sendto/QuickBooksOnline", json={"ExternalId": "1"})
        assert refused.status_code == 400
        assert client.post(path, json={"DocumentType": "Bill", "ExternalId": "1"}).status_code == 400
        for resource in ("purchaseorders", "bills"):
            document = search_all(client, resource, filters='{"IsSentToQuickbooks":{"terms":["false"]}}')[0]
            reply = client.post(f"{resource}/{document['Id']}/sendto/QuickBooksOnline", json={"ExternalId": "77"})
            assert reply.status_code == 200 and client.get(f"{resource}/{document['Id']}").json()["ExternalId"] == "77"
        settings = client.get("settings/integrations/quickbooks").json()
        client.put(
            "settings/integrations/quickbooks",
            json={
                "Version": settings["Version"],
                "DocumentSendPermissions": [{"DocumentType": "Invoice", "AccessLevel": "Custom", "UserIds": [999999]}],
            },
        )
        forbidden = client.post(path, json={"ExternalId": "4242"})
        assert forbidden.status_code == 403 and "may not send Invoice" in forbidden.json()["Error"]


# ---- faults and limits ---------------------------------------------------------------------------------------------


def test_injected_faults_use_esp_shapes(esp: Any) -> None:
    with api(esp.env) as client:
        esp.admin("POST", "faults", json={"faults": [{"kind": "throttle", "count": 1, "retry_after": 7}]})
        throttled = client.get("companies/search")
        assert throttled.status_code == 429 and throttled.json() == {"Error": "Too many requests"}
        assert throttled.headers["retry-after"] == "7" and throttled.headers["content-type"] == JSON_TYPE
        esp.admin("POST", "faults", json={"faults": [{"kind": "server_error", "count": 1}]})
        outage = client.get("companies/search")
        assert outage.status_code == 503 and "overloaded" in outage.json()["Error"]
        esp.admin("POST", "faults", json={"faults": [{"kind": "server_error", "count": 1, "status": 502}]})
        assert client.get("companies/search").json()["Error"].startswith("The service is down")
        esp.admin(
            "POST",
            "faults",
            json={
                "faults": [
                    {
                        "kind": "record_error",
                        "object": "Company",
                        "count": 1,
                        "message": "Name contains a forbidden word",
                    }
                ]
            },
        )
        rejected = client.post("companies", json={"Name": "Rejected Co"})
        assert rejected.status_code == 400 and rejected.json()["Error"] == "Name contains a forbidden word"
        assert client.post("companies", json={"Name": "Accepted Co"}).status_code == 201
        esp.admin("POST", "faults", json={"faults": [{"kind": "reset", "count": 1}]})
        with pytest.raises(httpx.TransportError):
            client.get("companies/search")
        esp.admin("POST", "faults", json={"faults": [{"kind": "expire_session", "count": 1}]})
        assert client.get("companies/search").status_code == 401
    assert esp.admin("GET", "stats").json()["faults_injected"] == {
        "throttle": 1,
        "server_error": 2,
        "reset": 1,
        "expire_session": 1,
    }


def test_rate_limit_per_token_answers_429_with_retry_after(esp: Any) -> None:
    limits_url = f"{esp.origin}/_emulator/limits"
    assert httpx.put(limits_url, json={"RequestsPerSecond": None, "RequestsPerMinute": 3}).status_code == 200
    clock = esp.backend.clock
    now = clock.now()
    clock.advance(timedelta(seconds=60 - now.second - now.microsecond / 1e6 + 0.05))  # start of a minute
    with api(esp.env) as client:
        assert [client.get("users/me").status_code for _ in range(3)] == [200, 200, 200]
        limited = client.get("users/me")
        assert limited.status_code == 429 and limited.json() == {"Error": "Too many requests"}
        assert 55 <= int(limited.headers["retry-after"]) <= 60
        clock.advance(timedelta(seconds=60))
        assert client.get("users/me").status_code == 200
    httpx.put(limits_url, json={"RequestsPerSecond": 2, "RequestsPerMinute": None})
    now = clock.now()
    clock.advance(timedelta(seconds=1 - now.microsecond / 1e6 + 0.01))  # start of a second
    with api(esp.env) as client:
        assert [client.get("users/me").status_code for _ in range(3)] == [200, 200, 429]
        assert client.get("users/me").headers["retry-after"] == "1"
    assert httpx.put(limits_url, json={"RequestsPerSecond": 0}).status_code == 400
    assert httpx.get(limits_url).json() == {"RequestsPerSecond": 2, "RequestsPerMinute": None, "TokenTtlSeconds": 3600}


# ---- admin API, generator, snapshots ------------------------------------------------------------------------------


def test_admin_seed_fills_system_fields_and_records_show_wire_shape(esp: Any) -> None:
    esp.admin("POST", "reset")
    seeded = esp.admin(
        "POST",
        "seed",
        json={
            "records": {
                "Company": [
                    {"Name": "Seeded Supplier", "IsSupplier": True, "UpdateDate": "2024-03-01T10:00:00.5Z"},
                    {"Name": "Seeded Customer"},
                ],
                "Order": [
                    {
                        "Type": "invoice",
                        "Number": "INV-9",
                        "CustomerId": 500000002,
                        "Date": "2024-03-01",
                        "LineItems": [{"Number": "P-1", "Name": "Mug", "Quantity": 10, "Price": 4.5, "Cost": 2.0}],
                    }
                ],
                "QuickBooksLink": [{"CompanyId": 500000001, "MemberType": "Supplier", "QuickBooksId": "56"}],
            }
        },
    )
    assert seeded.json() == {"seeded": {"Company": 2, "Order": 1, "QuickBooksLink": 1}}
    companies = esp.admin("GET", "records/Company").json()["records"]
    assert [c["Id"] for c in companies] == [500000001, 500000002]
    assert companies[0]["UpdateDate"] == "2024-03-01T10:00:00.5Z" and companies[0]["IsSupplier"] is True
    assert companies[1]["IsCustomer"] is True and companies[1]["Version"] == 1
    order = esp.admin("GET", "records/Order").json()["records"][0]
    assert order["TotalAmount"] == 45.0 and order["BillingContact"]["Company"]["Name"] == "Seeded Customer"
    assert order["Date"] == "2024-03-01T00:00:00Z"
    assert esp.admin("GET", "records/QuickBooksLink").json()["records"][0]["QuickBooksEntity"] == "Vendor"
    assert esp.admin("POST", "seed", json={"records": {"Invoice": []}}).status_code == 404
    assert esp.admin("POST", "seed", json={"records": {"Company": [{"Name": 5}]}}).status_code == 400
    assert esp.admin("GET", "records/Nope").status_code == 404
    with api(esp.env) as client:
        assert client.get("companies/search").json()["ResultsTotal"] == 2
    stats = esp.admin("GET", "stats").json()
    assert (
        stats["reads"] == 1
        and stats["sessions"] == 1
        and stats["per_route"] == {"POST /oauth2/token": 1, "GET /babou/api/esp/companies/search": 1}
    )


def test_generate_matches_the_world_at_demo_scale() -> None:
    world = World(seed=5, scale="demo")
    backend = EspBackend()
    counts = backend.generate(world)
    n = world.counts
    customers_left = [world.customer(i) for i in range(n["customers"]) if world.customer(i).presence.on_left]
    vendors_left = [world.vendor(i) for i in range(n["vendors"]) if world.vendor(i).presence.on_left]
    assert counts["Company"] == len(customers_left) + len(vendors_left)
    assert counts["Contact"] == n["contacts"] and counts["User"] == n["users"] + 1
    companies = {c["Code"]: c for c in backend.list_records("Company")}
    for vendor in vendors_left:
        record = companies[vendor.number]
        assert record["IsDecorator"] is vendor.is_decorator and record["IsSupplier"] is not vendor.is_decorator
    linked = sum(1 for c in customers_left if c.presence.linked) + sum(1 for v in vendors_left if v.presence.linked)
    assert counts["QuickBooksLink"] == linked
    for kind, object_name in (("sales_order", "Order"), ("purchase_order", "PurchaseOrder"), ("bill", "Bill")):
        documents = {d["Number"]: d for d in backend.list_records(object_name)}
        for i in range(n[kind + "s"]):
            doc = world.document(kind, i)
            assert (doc.number in documents) is doc.presence.on_left
            if doc.presence.on_left:
                row = documents[doc.number]
                assert row["IsSentToQuickbooks"] is doc.presence.linked
                assert row["ExternalId"] == (quickbooks_id(i) if doc.presence.linked else None)
                total = row["TotalAmount"] if object_name == "Order" else row.get("TotalCost", row.get("TotalAmount"))
                assert total == (doc.total if object_name == "Order" else doc.total_cost)
    stamps = [c["UpdateDate"] for c in backend.list_records("Company")]
    assert all(ESP_DATE.match(s) for s in stamps)
    assert max(parse_esp_date(s) for s in stamps) < backend.clock.tick()


def test_snapshot_round_trip(tmp_path: Path) -> None:
    backend = EspBackend()
    backend.generate(World(seed=2, scale="demo"))
    backend.save_snapshot(tmp_path / "esp.snap")
    restored = EspBackend()
    restored.load_snapshot(tmp_path / "esp.snap")
    for object_name in backend.objects:
        assert restored.list_records(object_name) == backend.list_records(object_name)
    assert datetime.now(UTC) > datetime(2025, 1, 1, tzinfo=UTC)
