"""The ESP+ wire layer: Starlette routes for the token endpoint and the `/babou/api/esp` REST resources.

Each route authenticates the bearer token (which also applies the rate limit), runs one model operation and renders
the result; every failure travels as an EspError and leaves through `esp_error_response`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulators.esp import parse, render
from emulators.esp.auth import AccessToken
from emulators.esp.dates import parse_instant
from emulators.esp.errors import (
    JSON_MEDIA_TYPE,
    EspError,
    OAuthError,
    bad_request,
    esp_error_response,
    not_found,
    oauth_error_response,
)
from emulators.esp.model import INTEGRATION_USER_ID, TENANT_ASI_NUMBER, member_type_name
from emulators.esp.search import link_keys, parse_criteria, parse_page, parse_sort, search_ids

if TYPE_CHECKING:
    from emulators.esp.backend import EspBackend

API_PREFIX = "/babou/api/esp"
TOKEN_PATH = "/oauth2/token"
LIMITS_PATH = "/_emulator/limits"  # emulator control, not part of ESP+
QUICKBOOKS_CODE = "QuickBooksOnline"

Operation = Callable[[Request, AccessToken, Any], Any]

_LOOKUPS = {
    "OrderStatuses": [
        {"Id": 1, "Label": "Open", "Color": "#2e7d32", "Kind": "Open"},
        {"Id": 2, "Label": "Closed", "Color": "#616161", "Kind": "Closed"},
    ],
    "CreditTerms": ["Due on receipt", "Net 15", "Net 30"],
    "PaymentMethods": ["ACH", "Check", "Credit Card"],
    "Currencies": [{"Code": "USD", "Symbol": "$"}, {"Code": "CAD", "Symbol": "$"}, {"Code": "GBP", "Symbol": "£"}],
    "ServiceCharges": [{"Code": "GSCH", "Name": "General service charge"}, {"Code": "FRGT", "Name": "Freight"}],
}
_SEARCHABLE = {
    "users": "User",
    "companies": "Company",
    "contacts": "Contact",
    "orders": "Order",
    "purchaseorders": "PurchaseOrder",
    "bills": "Bill",
}
_ENTITY_NAMES = {
    "User": "User",
    "Company": "Company",
    "Contact": "Contact",
    "Order": "Order",
    "PurchaseOrder": "Purchase order",
    "Bill": "Bill",
}


def esp_json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _bool_param(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() not in ("true", "false"):
        raise bad_request(f"{name} must be true or false", name)
    return value.lower() == "true"


class EspApi:
    """Routes over one EspBackend (looked up per call, so an admin reset swaps the store underneath)."""

    def __init__(self, backend: EspBackend) -> None:
        self.backend = backend
        self.task_ids = itertools.count(1)

    # ---- plumbing ----------------------------------------------------------------------------------------------

    def authorized(self, operation: Operation, kind: str = "read") -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            backend = self.backend
            try:
                _, token = backend.tokens.check_bearer(request.headers.get("authorization"))
                body = await self.json_body(request) if request.method in ("POST", "PUT") else None
                result = operation(request, token, body)
            except EspError as error:
                return esp_error_response(error)
            if kind == "read":
                backend.stats.read()
            elif kind == "write":
                backend.stats.write(1)
            return result if isinstance(result, Response) else esp_json(result)

        return endpoint

    async def json_body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("The request body is not valid JSON") from None

    def written(self, content: Any, status: int = 200) -> JSONResponse:
        # ESP+ writes answer with the Algolia task ids the web app polls before it searches again.
        return esp_json(content, status, headers={"algoliataskids": str(next(self.task_ids))})

    def check_record_fault(self, object_name: str) -> None:
        fault = self.backend.faults.draw_record_error(object_name)
        if fault is not None:
            message = fault.message or f"The {_ENTITY_NAMES[object_name].lower()} could not be saved."
            raise EspError(fault.status or 400, message, [{"Field": None, "Message": message}])

    @property
    def store(self) -> Any:
        return self.backend.store

    # ---- token endpoint ----------------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        backend = self.backend
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    form = {k: str(v) for k, v in (json.loads(await request.body() or b"{}")).items()}
                except (ValueError, AttributeError):
                    raise OAuthError(400, "invalid_request", "The request body is not valid JSON.") from None
            else:
                # Form bodies are parsed here: Starlette's form parser needs python-multipart, which is not installed.
                form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
            client_id = backend.tokens.authenticate_client(request.headers.get("authorization"), form)
            grant = form.get("grant_type")
            if grant == "client_credentials":
                reply = backend.tokens.issue(client_id, INTEGRATION_USER_ID, with_refresh=False)
            elif grant == "password":
                reply = backend.tokens.issue(client_id, self.password_user(form), with_refresh=True)
            elif grant == "refresh_token":
                if not form.get("refresh_token"):
                    raise OAuthError(400, "invalid_request", "refresh_token is required.")
                user_id = backend.tokens.redeem_refresh_token(client_id, form["refresh_token"])
                reply = backend.tokens.issue(client_id, user_id, with_refresh=True)
            elif not grant:
                raise OAuthError(400, "invalid_request", "grant_type is required.")
            else:
                raise OAuthError(400, "unsupported_grant_type", f"The grant type {grant} is not supported.")
        except OAuthError as error:
            return oauth_error_response(error)
        backend.stats.session()
        return JSONResponse(
            reply, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}, media_type=JSON_MEDIA_TYPE
        )

    def password_user(self, form: dict[str, str]) -> int:
        username, password = form.get("username"), form.get("password")
        if not username or not password:
            raise OAuthError(400, "invalid_request", "username and password are required.")
        if form.get("asi_number") and form["asi_number"] != TENANT_ASI_NUMBER:
            raise OAuthError(400, "invalid_grant", "The ASI number, user name or password is incorrect.")
        wanted = username.lower()
        for user in self.store.records["User"].values():
            if (user.get("UserName") or "").lower() == wanted and user["IsActive"]:
                if password == self.backend.user_password:
                    return user["Id"]
                break
        raise OAuthError(400, "invalid_grant", "The ASI number, user name or password is incorrect.")

    # ---- generic resources -------------------------------------------------------------------------------------

    def search(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            params = request.query_params
            view = params.get("view", "")
            if view not in ("", "row", "full"):
                raise bad_request("view must be row or full", "view")
            criteria = parse_criteria(object_name, params)
            ids = search_ids(self.store, self.backend.search_cache, object_name, criteria)
            start = (criteria.page - 1) * criteria.size
            renderer = (render.FULL_RENDERERS if view == "full" else render.ROW_RENDERERS)[object_name]
            table = self.store.records[object_name]
            results = [renderer(self.store, table[i]) for i in ids[start : start + criteria.size]]
            return {"Results": results, "ResultsTotal": len(ids), "Aggregations": {}}

        return run

    def read_one(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            record = self.store.get(object_name, request.path_params["id"], _ENTITY_NAMES[object_name])
            return render.FULL_RENDERERS[object_name](self.store, record)

        return run

    def delete_one(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            self.check_record_fault(object_name)
            self.store.delete(object_name, request.path_params["id"], _ENTITY_NAMES[object_name])
            return Response(status_code=204)

        return run

    # ---- companies ---------------------------------------------------------------------------------------------

    def create_company(self, request: Request, token: AccessToken, body: Any) -> Any:
        fields = parse.company_fields(body)
        self.check_record_fault("Company")
        record = self.store.create_company(fields, token.user_id)
        return self.written(render.render_company(self.store, record), 201)

    def update_company(self, request: Request, token: AccessToken, body: Any) -> Any:
        company_id = request.path_params["id"]
        if isinstance(body, dict) and body.get("Id") not in (None, company_id):
            raise bad_request("The Id in the body does not match the URL", "Id")
        fields = parse.company_fields(body)
        self.check_record_fault("Company")
        record = self.store.update_company(company_id, fields, body.get("Version"), token.user_id)
        return self.written(render.render_company(self.store, record))

    # ---- QuickBooks links (ours) -------------------------------------------------------------------------------

    def company_links(self, request: Request, token: AccessToken, body: Any) -> Any:
        company_id = request.path_params["id"]
        self.store.get("Company", company_id, "Company")
        return [render.render_link(self.store, link) for link in self.store.company_links(company_id)]

    def company_link(self, request: Request, token: AccessToken, body: Any) -> Any:
        key = (request.path_params["id"], member_type_name(request.path_params["memberType"]))
        self.store.get("Company", key[0], "Company")
        link = self.store.links.get(key)
        if link is None:
            raise not_found("Link")
        return render.render_link(self.store, link)

    def put_company_link(self, request: Request, token: AccessToken, body: Any) -> Any:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a link object")
        member_type = member_type_name(request.path_params["memberType"])
        self.check_record_fault("QuickBooksLink")
        link = self.store.set_link(request.path_params["id"], member_type, body, token.user_id)
        return self.written(render.render_link(self.store, link))

    def delete_company_link(self, request: Request, token: AccessToken, body: Any) -> Any:
        company_id = request.path_params["id"]
        member_type = member_type_name(request.path_params["memberType"])
        self.store.get("Company", company_id, "Company")
        self.check_record_fault("QuickBooksLink")
        self.store.remove_link(company_id, member_type)
        return Response(status_code=204)

    def links(self, request: Request, token: AccessToken, body: Any) -> Any:
        params = request.query_params
        self.store.check_integration_visible(token.user_id)
        page, size = parse_page(params)
        member_type = member_type_name(params["memberType"]) if params.get("memberType") else None
        linked = _bool_param(params.get("linked"), "linked")
        since = parse_instant(params["modifiedSince"], "modifiedSince") if params.get("modifiedSince") else None
        sort = parse_sort(params, {"companyId": "CompanyId", "updateDate": "UpdateDate"})
        if any(descending for _, descending in sort):
            raise bad_request("The link table sorts ascending only", "sortBy")
        by_update = bool(sort) and sort[0][0] == "UpdateDate"
        keys, linked_count, unlinked_count = link_keys(
            self.store, self.backend.search_cache, member_type, linked, since, by_update
        )
        results = []
        for key in keys[(page - 1) * size : page * size]:
            link = self.store.links.get(key)
            if link is not None:
                results.append(render.render_link(self.store, link))
            else:
                results.append(render.render_unlinked(self.store.records["Company"][key[0]], key[1]))
        return {
            "Results": results,
            "ResultsTotal": len(keys),
            "LinkedCount": linked_count,
            "UnlinkedCount": unlinked_count,
            "Aggregations": {},
        }

    # ---- documents ---------------------------------------------------------------------------------------------

    def order_line(self, request: Request, token: AccessToken, body: Any) -> Any:
        order = self.store.get("Order", request.path_params["id"], "Order")
        for sequence, line in enumerate(order["Lines"]):
            if line.Id == request.path_params["lineItemId"]:
                return render.render_order_line(self.store, line, sequence, order.get("CurrencyCode") or "USD")
        raise not_found("Line item")

    def order_purchase_orders(self, request: Request, token: AccessToken, body: Any) -> Any:
        order_id = request.path_params["id"]
        self.store.get("Order", order_id, "Order")
        rows = [r for r in self.store.records["PurchaseOrder"].values() if r.get("OrderId") == order_id]
        return [render.render_purchase_order(self.store, r) for r in sorted(rows, key=lambda r: r["Id"])]

    def update_document(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            document_id = request.path_params["id"]
            if not isinstance(body, dict):
                raise bad_request(f"The request body must be a {_ENTITY_NAMES[object_name].lower()} object")
            if body.get("Id") not in (None, document_id):
                raise bad_request("The Id in the body does not match the URL", "Id")
            edit = parse.document_edit(object_name, body)
            self.check_record_fault(object_name)
            record = self.store.update_document(object_name, document_id, edit, body.get("Version"), token.user_id)
            return self.written(render.FULL_RENDERERS[object_name](self.store, record))

        return run

    def send_state(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            record = self.store.get(object_name, request.path_params["id"], _ENTITY_NAMES[object_name])
            self.store.check_integration_visible(token.user_id)
            return render.render_send_state(object_name, record, self.store.document_type(object_name, record))

        return run

    def record_send(self, object_name: str) -> Operation:
        def run(request: Request, token: AccessToken, body: Any) -> Any:
            if not isinstance(body, dict):
                raise bad_request("The request body must be a send record")
            self.store.get(object_name, request.path_params["id"], _ENTITY_NAMES[object_name])
            self.check_record_fault(object_name)
            record = self.store.record_send(object_name, request.path_params["id"], body, token.user_id)
            state = render.render_send_state(object_name, record, self.store.document_type(object_name, record))
            return self.written(state)

        return run

    # ---- settings, users, feeds --------------------------------------------------------------------------------

    def settings(self, request: Request, token: AccessToken, body: Any) -> Any:
        self.store.check_integration_visible(token.user_id)
        return render.render_settings(self.store.settings)

    def put_settings(self, request: Request, token: AccessToken, body: Any) -> Any:
        if not isinstance(body, dict):
            raise bad_request("The request body must be the settings object")
        return render.render_settings(self.store.update_settings(body, token.user_id))

    def me(self, request: Request, token: AccessToken, body: Any) -> Any:
        return render.render_user(self.store, self.store.get("User", token.user_id, "User"))

    def deletions(self, request: Request, token: AccessToken, body: Any) -> Any:
        params = request.query_params
        page, size = parse_page(params)
        since = parse_instant(params["since"], "since") if params.get("since") else None
        entity_type = params.get("entityType")
        rows = [
            entry
            for entry in self.store.deletions
            if (since is None or entry["DeletedDate"] >= since)
            and (not entity_type or entry["EntityType"].lower() == entity_type.lower())
        ]
        results = [render.render_deletion(entry) for entry in rows[(page - 1) * size : page * size]]
        return {"Results": results, "ResultsTotal": len(rows), "Aggregations": {}}

    def lookups(self, request: Request, token: AccessToken, body: Any) -> Any:
        return _LOOKUPS

    def task_status(self, request: Request, token: AccessToken, body: Any) -> Any:
        # Search is served from the live store, so every write is already "published".
        return {
            "IndexName": request.query_params.get("indexName"),
            "TaskId": request.query_params.get("taskId"),
            "Status": "published",
        }

    async def limits(self, request: Request) -> Response:
        tokens = self.backend.tokens
        if request.method == "PUT":
            try:
                body = await self.json_body(request)
                if not isinstance(body, dict):
                    raise bad_request("body must be an object")
                for key in ("RequestsPerSecond", "RequestsPerMinute", "TokenTtlSeconds"):
                    value = body.get(key)
                    if key in body and value is not None and (not isinstance(value, int) or value < 1):
                        raise bad_request(f"{key} must be a positive integer or null", key)
            except EspError as error:
                return esp_error_response(error)
            if "RequestsPerSecond" in body:
                tokens.limits.per_second = body["RequestsPerSecond"]
            if "RequestsPerMinute" in body:
                tokens.limits.per_minute = body["RequestsPerMinute"]
            if body.get("TokenTtlSeconds"):
                tokens.token_ttl_seconds = body["TokenTtlSeconds"]
        return esp_json({**tokens.limits.as_dict(), "TokenTtlSeconds": tokens.token_ttl_seconds})

    async def unknown_resource(self, request: Request) -> Response:
        return esp_json({"Error": f"No resource matches {request.method} {request.url.path}"}, 404)

    # ---- the route table ---------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        p = API_PREFIX
        a = self.authorized
        routes: list[BaseRoute] = [
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route(LIMITS_PATH, self.limits, methods=["GET", "PUT"]),
            Route(f"{p}/users/me", a(self.me), methods=["GET"]),
        ]
        for path, object_name in _SEARCHABLE.items():
            routes.append(Route(f"{p}/{path}/search", a(self.search(object_name)), methods=["GET"]))
            routes.append(Route(f"{p}/{path}/{{id:int}}", a(self.read_one(object_name)), methods=["GET"]))
        link_path = f"{p}/companies/{{id:int}}/integrations/quickbooks"
        routes += [
            Route(f"{p}/companies", a(self.create_company, "write"), methods=["POST"]),
            Route(f"{p}/companies/{{id:int}}", a(self.update_company, "write"), methods=["PUT"]),
            Route(f"{p}/companies/{{id:int}}", a(self.delete_one("Company"), "write"), methods=["DELETE"]),
            Route(f"{p}/contacts/{{id:int}}", a(self.delete_one("Contact"), "write"), methods=["DELETE"]),
            Route(link_path, a(self.company_links), methods=["GET"]),
            Route(f"{link_path}/{{memberType}}", a(self.company_link), methods=["GET"]),
            Route(f"{link_path}/{{memberType}}", a(self.put_company_link, "write"), methods=["PUT"]),
            Route(f"{link_path}/{{memberType}}", a(self.delete_company_link, "write"), methods=["DELETE"]),
            Route(f"{p}/integrations/quickbooks/links", a(self.links), methods=["GET"]),
            Route(f"{p}/orders/{{id:int}}/lineitems/{{lineItemId:int}}", a(self.order_line), methods=["GET"]),
            Route(f"{p}/orders/{{id:int}}/purchaseorders", a(self.order_purchase_orders), methods=["GET"]),
        ]
        for path, object_name in (("orders", "Order"), ("purchaseorders", "PurchaseOrder"), ("bills", "Bill")):
            document_path = f"{p}/{path}/{{id:int}}"
            send_path = f"{document_path}/sendto/{QUICKBOOKS_CODE}"
            routes.append(Route(document_path, a(self.update_document(object_name), "write"), methods=["PUT"]))
            routes.append(Route(send_path, a(self.send_state(object_name)), methods=["GET"]))
            routes.append(Route(send_path, a(self.record_send(object_name), "write"), methods=["POST"]))
        routes += [
            Route(f"{p}/settings/integrations/quickbooks", a(self.settings), methods=["GET"]),
            Route(f"{p}/settings/integrations/quickbooks", a(self.put_settings, "write"), methods=["PUT"]),
            Route(f"{p}/deletions", a(self.deletions), methods=["GET"]),
            Route(f"{p}/types/lookups", a(self.lookups), methods=["GET"]),
            Route(f"{p}/algolia/taskstatus", a(self.task_status), methods=["GET"]),
            Route(f"{p}/{{rest:path}}", self.unknown_resource),
        ]
        return routes
