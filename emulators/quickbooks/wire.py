"""The QBO emulator's HTTP surface: OpenID discovery and the Intuit OAuth 2 endpoints, and the v3 Accounting API
(read, create/update/delete/void, query, batch, CDC) with QBO's envelopes, Fault bodies, throttling and requestid.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from emulators.quickbooks import errors
from emulators.quickbooks.auth import OAuthError
from emulators.quickbooks.catalog import BY_LOWER_NAME, BY_PATH, KINDS
from emulators.quickbooks.errors import QboError
from emulators.quickbooks.model import CDC_WINDOW
from emulators.quickbooks.query import parse_query

if TYPE_CHECKING:
    from emulators.quickbooks.backend import QuickBooksBackend

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
BATCH_MAX_ITEMS = 30
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36  # Intuit: "For batch operations, the RequestID supports a maximum of 36 characters."
BATCH_ID_MAX_WITH_REQUEST_ID = 10  # "... only 10 characters are allowed [per bId] when RequestID is also specified."
REPLAY_CAPACITY = 100_000
ISSUER = "https://oauth.platform.intuit.com/op/v1"

Endpoint = Callable[[Request], Awaitable[Response]]


class QboWire:
    def __init__(self, backend: QuickBooksBackend) -> None:
        self.backend = backend
        self.replays: OrderedDict[str, tuple[int, bytes]] = OrderedDict()  # requestid -> first reply

    # ---- rendering -------------------------------------------------------------------------------------------

    def tid(self) -> str:
        return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"

    def time_text(self) -> str:
        return self.backend.company_time.response_time(self.backend.clock.now())

    def json_reply(self, body: Any, status: int = 200, media_type: str = JSON_TYPE) -> Response:
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return Response(payload, status_code=status, media_type=media_type, headers={"intuit_tid": self.tid()})

    def envelope(self, key: str, value: Any) -> Response:
        return self.json_reply({key: value, "time": self.time_text()})

    def fault_reply(self, error: QboError) -> Response:
        return self.json_reply({"Fault": error.fault(), "time": self.time_text()}, status=error.status)

    def xml_reply(self, status: int, fault_type: str, code: str, message: str, detail: str | None) -> Response:
        body = errors.intuit_xml(self.time_text(), fault_type, code, message, detail)
        return Response(body, status_code=status, media_type=XML_TYPE, headers={"intuit_tid": self.tid()})

    def throttled(self, status: int = 429, retry_after: float | None = None) -> Response:
        if self.backend.throttle_settings.throttle_body == "json":
            reply = self.json_reply(errors.throttle_json(self.time_text()), status=status)
        else:
            reply = self.xml_reply(status, "SERVICE", "3001", errors.THROTTLE_MESSAGE, errors.THROTTLE_DETAIL)
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def unauthorized(self, detail: str) -> Response:
        epoch_ms = int(self.backend.clock.now().timestamp() * 1000)
        return self.json_reply(errors.authentication_failed_body(detail, epoch_ms), status=401)

    # ---- routes ----------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        discovery = [
            Route(path, self.discovery, methods=["GET"])
            for name in ("openid_configuration", "openid_sandbox_configuration")
            for path in (f"/.well-known/{name}", f"/.well-known/{name}/")
        ]
        base = "/v3/company/{realm}"
        return [
            *discovery,
            Route("/connect/oauth2", self.authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self.token, methods=["POST"]),
            Route("/oauth2/v1/tokens/revoke", self.revoke, methods=["POST"]),
            Route("/v2/oauth2/tokens/revoke", self.revoke, methods=["POST"]),
            Route("/v1/openid_connect/userinfo", self.userinfo, methods=["GET"]),
            Route("/op/v1/jwks", self.jwks, methods=["GET"]),
            Route(f"{base}/query", self.v3(self.query), methods=["GET", "POST"]),
            Route(f"{base}/batch", self.v3(self.batch, is_batch=True), methods=["POST"]),
            Route(f"{base}/cdc", self.v3(self.cdc), methods=["GET"]),
            Route(f"{base}/preferences", self.v3(self.preferences), methods=["GET"]),
            Route(f"{base}/{{entity}}/{{id}}/send", self.v3(self.send), methods=["POST"]),
            Route(f"{base}/{{entity}}/{{id}}", self.v3(self.read), methods=["GET"]),
            Route(f"{base}/{{entity}}/{{id}}/", self.v3(self.read), methods=["GET"]),
            Route(f"{base}/{{entity}}", self.v3(self.write), methods=["POST"]),
        ]

    # ---- OAuth -----------------------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return Response(
            json.dumps(
                {
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{origin}/connect/oauth2",
                    "token_endpoint": f"{origin}/oauth2/v1/tokens/bearer",
                    "userinfo_endpoint": f"{origin}/v1/openid_connect/userinfo",
                    "revocation_endpoint": f"{origin}/oauth2/v1/tokens/revoke",
                    "jwks_uri": f"{origin}/op/v1/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "profile", "address", "phone"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                    "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
                }
            ),
            media_type="application/json",
        )

    async def authorize(self, request: Request) -> Response:
        """The consent page: the sandbox user approves at once and is redirected back with a code."""
        params = request.query_params
        oauth = self.backend.oauth
        if params.get("client_id") != oauth.client_id or not params.get("redirect_uri"):
            return Response("invalid client_id or redirect_uri", status_code=400)
        code = oauth.authorize(params["redirect_uri"])
        query = {"code": code, "state": params.get("state", ""), "realmId": oauth.realm_id}
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(query)}", status_code=302)

    def oauth_reply(self, body: Any, status: int = 200) -> Response:
        content = b"" if body is None else json.dumps(body).encode()
        return Response(
            content, status_code=status, media_type="application/json;charset=utf-8", headers={"intuit_tid": self.tid()}
        )

    async def token(self, request: Request) -> Response:
        self.backend.stats.session()
        oauth = self.backend.oauth
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        now = self.backend.clock.now()
        hard_expiry = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
        try:
            oauth.check_client(request.headers.get("authorization"))
            grant_type = form.get("grant_type")
            if grant_type == "refresh_token":
                if not form.get("refresh_token"):
                    raise OAuthError("invalid_request")
                body = oauth.refresh(form["refresh_token"], now, hard_expiry)
            elif grant_type == "authorization_code":
                body = oauth.exchange_code(form.get("code", ""), form.get("redirect_uri", ""), now, hard_expiry)
            else:
                raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            return self.oauth_reply(exc.body(), exc.status)
        return self.oauth_reply(body)

    async def revoke(self, request: Request) -> Response:
        self.backend.stats.session()
        try:
            self.backend.oauth.check_client(request.headers.get("authorization"))
            try:
                token = json.loads(await request.body() or b"{}").get("token")
            except (ValueError, AttributeError):
                token = None
            if not token:
                raise OAuthError("invalid_request")
        except OAuthError as exc:
            return self.oauth_reply(exc.body(), exc.status)
        self.backend.oauth.revoke(str(token))
        return self.oauth_reply(None)

    async def userinfo(self, request: Request) -> Response:
        if self.backend.oauth.check_access(request.headers.get("authorization"), self.backend.clock.now()):
            return self.oauth_reply({"error": "invalid_token"}, 401)
        return self.oauth_reply(
            {
                "sub": "sandbox-user-1",
                "email": "sandbox.user@crosswalk-demo.example",
                "emailVerified": True,
                "givenName": "Sandbox",
                "familyName": "User",
            }
        )

    async def jwks(self, request: Request) -> Response:
        return self.oauth_reply({"keys": []})

    # ---- v3 guard: throttle, auth, realm, faults -----------------------------------------------------------

    def v3(self, handler: Endpoint, is_batch: bool = False) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            backend = self.backend
            if not backend.throttle.enter(is_batch):
                return self.throttled()
            try:
                detail = backend.oauth.check_access(request.headers.get("authorization"), backend.clock.now())
                if detail is not None:
                    return self.unauthorized(detail)
                if request.path_params["realm"] != backend.company.realm_id:
                    detail = "AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401"
                    return self.xml_reply(401, "AUTHENTICATION", "100", "General Authentication Error", detail)
                return await handler(request)
            except QboError as error:
                return self.fault_reply(error)
            finally:
                backend.throttle.leave()

        return endpoint

    async def replayable(
        self, request: Request, produce: Callable[[], Awaitable[Response]], limit: int = REQUEST_ID_MAX
    ) -> Response:
        """Serve a write once per `requestid`: a repeat gets the first reply again, whatever its body (Intuit: "instead
        of performing the operation again or returning an error, the service sends the same response")."""
        request_id = request.query_params.get("requestid")
        if not request_id:
            return await produce()
        if len(request_id) > limit:
            raise errors.business_validation(
                f"You cannot enter more than {limit} characters in the request_id field. Please enter a shorter value."
            )
        stored = self.replays.get(request_id)
        if stored is not None:
            return Response(stored[1], status_code=stored[0], media_type=JSON_TYPE, headers={"intuit_tid": self.tid()})
        try:
            reply = await produce()
        except QboError as error:
            reply = self.fault_reply(error)
        self.replays[request_id] = (reply.status_code, bytes(reply.body))
        while len(self.replays) > REPLAY_CAPACITY:
            self.replays.popitem(last=False)
        return reply

    async def json_body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise errors.malformed_request("failed to parse json object; a property") from None

    # ---- v3 endpoints ------------------------------------------------------------------------------------------

    def entity_of(self, segment: str) -> str:
        kind = BY_PATH.get(segment.lower())
        if kind is None:
            raise errors.unsupported_operation(f"Could not find resource for relative : {segment}")
        return kind.name

    async def read(self, request: Request) -> Response:
        self.backend.stats.read()
        segment = request.path_params["entity"].lower()
        record_id = request.path_params["id"]
        company = self.backend.company
        if segment == "companyinfo":
            if record_id != company.realm_id:
                raise errors.object_not_found()
            return self.envelope("CompanyInfo", company.company_info)
        entity = self.entity_of(segment)
        return self.envelope(entity, company.read(entity, record_id))

    async def preferences(self, request: Request) -> Response:
        self.backend.stats.read()
        return self.envelope("Preferences", self.backend.company.preferences)

    def record_fault(self, entity: str) -> None:
        fault = self.backend.faults.draw_record_error(entity)
        if fault is not None:
            raise errors.business_validation(fault.message or "Unexpected Internal Error. (-30000)")

    def apply_write(self, entity: str, operation: str, body: Any) -> dict[str, Any]:
        """One create/update/delete/void, as a single call or a batch item does it."""
        company = self.backend.company
        self.record_fault(entity)
        if operation == "create":
            return company.create(entity, body)
        if operation == "update":
            return company.update(entity, body)
        if operation == "delete":
            return company.delete(entity, body)
        if operation == "void":
            return company.void(entity, body)
        raise errors.unsupported_operation(operation)

    async def write(self, request: Request) -> Response:
        entity = self.entity_of(request.path_params["entity"])
        params = request.query_params
        operation = (params.get("operation") or "").lower()
        include = (params.get("include") or "").lower()

        async def produce() -> Response:
            body = await self.json_body(request)
            if operation == "delete":
                op = "delete"
            elif operation == "void" or (operation == "update" and include == "void"):
                op = "void"
            elif operation in ("", "update", "create"):
                has_id = isinstance(body, dict) and str(body.get("Id") or "0") not in ("", "0")
                op = "update" if has_id else "create"
            else:
                raise errors.unsupported_operation(operation)
            result = self.apply_write(entity, op, body)
            self.backend.stats.write(1)
            return self.envelope(entity, result)

        return await self.replayable(request, produce)

    async def send(self, request: Request) -> Response:
        entity = self.entity_of(request.path_params["entity"])
        if entity != "Invoice":
            raise errors.unsupported_operation("Send")
        self.record_fault(entity)
        record = self.backend.company.mark_sent(entity, request.path_params["id"], request.query_params.get("sendTo"))
        self.backend.stats.write(1)
        return self.envelope(entity, record)

    def query_response(self, text: str) -> dict[str, Any]:
        company = self.backend.company
        now = self.backend.clock.now()
        plan = parse_query(text, self.backend.company_time, self.backend.company_time.today(now))
        rows = company.selection(plan)
        if plan.count:
            return {"totalCount": len(rows)}
        page = rows[plan.start_position - 1 : plan.start_position - 1 + plan.max_results]
        if not page:
            return {}
        return {plan.entity: page, "startPosition": plan.start_position, "maxResults": len(page)}

    async def query(self, request: Request) -> Response:
        self.backend.stats.read()
        if request.method == "GET":
            text = request.query_params.get("query", "")
        else:
            text = (await request.body()).decode("utf-8", "replace")
        if not text.strip():
            raise errors.query_parse_error('Encountered "<EOF>" at line 1, column 1.')
        return self.envelope("QueryResponse", self.query_response(text))

    async def batch(self, request: Request) -> Response:
        async def produce() -> Response:
            body = await self.json_body(request)
            items = body.get("BatchItemRequest") if isinstance(body, dict) else None
            if not isinstance(items, list) or not items:
                raise errors.required_param("BatchItemRequest")
            if len(items) > BATCH_MAX_ITEMS:
                raise QboError(
                    "1040",
                    "An application error has occurred while processing your request",
                    f"Batch size limit exceeded: {len(items)} BatchItemRequest elements, at most "
                    f"{BATCH_MAX_ITEMS} are allowed.",
                )
            if request.query_params.get("requestid"):
                bids = [str(item.get("bId") or "") for item in items if isinstance(item, dict)]
                long_ids = [bid for bid in bids if len(bid) > BATCH_ID_MAX_WITH_REQUEST_ID]
                if long_ids:
                    raise errors.business_validation(
                        f"bId {long_ids[0]!r} is longer than {BATCH_ID_MAX_WITH_REQUEST_ID} characters; with a "
                        f"requestid each bId may have at most {BATCH_ID_MAX_WITH_REQUEST_ID}."
                    )
            responses = [self.batch_item(item) for item in items]
            written = sum(
                1
                for item, reply in zip(items, responses, strict=True)
                if "Fault" not in reply and "QueryResponse" not in reply and isinstance(item, dict)
            )
            if written:
                self.backend.stats.write(written)
            else:
                self.backend.stats.read()
            return self.json_reply({"BatchItemResponse": responses, "time": self.time_text()})

        return await self.replayable(request, produce, limit=BATCH_REQUEST_ID_MAX)

    def batch_item(self, item: Any) -> dict[str, Any]:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise errors.malformed_request("BatchItemRequest")
            if "Query" in item:
                return {"bId": bid, "QueryResponse": self.query_response(str(item["Query"]))}
            entity_keys = [key for key in item if key in KINDS]
            if len(entity_keys) != 1:
                raise errors.malformed_request("BatchItemRequest entity")
            entity = entity_keys[0]
            operation = str(item.get("operation") or "create").lower()
            if operation not in ("create", "update", "delete"):
                raise errors.unsupported_operation(operation)
            if operation == "update" and str(item.get("optionsData") or "").lower() == "void":
                operation = "void"  # a void in a batch is an update with optionsData "void"
            body = item[entity]
            if operation == "create" and isinstance(body, dict) and str(body.get("Id") or "0") not in ("", "0"):
                operation = "update"
            return {"bId": bid, entity: self.apply_write(entity, operation, body)}
        except QboError as error:
            return {"bId": bid, "Fault": error.fault()}

    async def cdc(self, request: Request) -> Response:
        self.backend.stats.read()
        params = request.query_params
        names = [name.strip() for name in (params.get("entities") or "").split(",") if name.strip()]
        if not names:
            raise errors.required_param("entities")
        entities = []
        for name in names:
            entity = BY_LOWER_NAME.get(name.lower())
            if entity is None or entity not in KINDS or not KINDS[entity].cdc:
                raise errors.query_validation_error(f"Change data capture is not supported for entity {name}")
            entities.append(entity)
        since_text = params.get("changedSince")
        if not since_text:
            raise errors.required_param("changedSince")
        company_time = self.backend.company_time
        since = company_time.parse(since_text)
        if since is None:
            raise errors.invalid_property(f"Invalid date/time value {since_text} for changedSince")
        if since < self.backend.clock.now() - CDC_WINDOW:
            raise errors.business_validation("changedSince must be a date-time within the past 30 days.")
        bound = company_time.normalize(since_text) or ""
        groups = [
            {entity: rows, "startPosition": 1, "maxResults": len(rows)}
            for entity, rows in self.backend.company.changes(entities, bound)
        ]
        return self.json_reply({"CDCResponse": [{"QueryResponse": groups or [{}]}], "time": self.time_text()})
