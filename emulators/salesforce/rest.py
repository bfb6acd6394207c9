"""The wire layer: Starlette routes for /services/oauth2, /services/Soap, /services/data (REST, Bulk API 2.0).

Every /services/data/vXX.X call goes through `api_call`: bearer-token check (401 INVALID_SESSION_ID), the daily
request quota (403 REQUEST_LIMIT_EXCEEDED), the `Sforce-Limit-Info` header, and one place that turns model
errors into Salesforce's `[{"message","errorCode"}]` bodies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from emulators.salesforce.auth import OAuthFailure, soap_login, token_grant
from emulators.salesforce.catalogue import OBJECTS, SOAP_TYPES, ObjectSpec
from emulators.salesforce.errors import (
    JSON_MEDIA_TYPE,
    RecordError,
    SalesforceApiError,
    error_response,
    invalid_session,
    not_found,
    request_limit_exceeded,
)
from emulators.salesforce.formats import datetime_to_ms, ms_to_datetime, ms_to_wire, parse_datetime
from emulators.salesforce.soql import parse
from emulators.salesforce.store import normalize_id, object_for_id, record_url

if TYPE_CHECKING:
    from emulators.salesforce.backend import SalesforceBackend

Handler = Callable[[Request, str], Awaitable[Response]]
_VERSION = re.compile(r"^\d{2}\.0$")
MIN_VERSION, MAX_VERSION = 20, 62
COLLECTION_LIMIT = 200
RETRIEVE_LIMIT = 2000
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def release_label(version: int) -> str:
    step = version - 60
    season = ("Spring", "Summer", "Winter")[step % 3]
    year = 24 + step // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


def json_reply(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=JSON_MEDIA_TYPE)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise SalesforceApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


def describe_field(spec: Any) -> dict[str, Any]:
    return {
        "name": spec.name, "label": spec.label or spec.name, "type": spec.type, "length": spec.length,
        "precision": spec.precision, "scale": spec.scale, "nillable": spec.nillable, "custom": spec.custom,
        "externalId": spec.external_id, "unique": spec.unique, "idLookup": spec.name == "Id" or spec.external_id,
        "createable": spec.createable, "updateable": spec.updateable, "filterable": True, "sortable": True,
        "calculated": False, "defaultedOnCreate": spec.defaulted_on_create,
        "defaultValue": bool(spec.default) if spec.type == "boolean" else None,
        "referenceTo": [spec.reference_to] if spec.reference_to else [], "relationshipName": spec.relationship_name,
        "compoundFieldName": None, "restrictedPicklist": spec.restricted,
        "picklistValues": [{"active": True, "defaultValue": value == spec.default, "label": value, "validFor": None,
                            "value": value} for value in spec.picklist],
        "soapType": SOAP_TYPES.get(spec.type, "xsd:string"),
    }


def object_summary(spec: ObjectSpec, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{spec.name}"
    return {
        "activateable": False, "createable": True, "custom": spec.custom,
        "customSetting": False, "deletable": spec.deletable, "keyPrefix": spec.key_prefix, "label": spec.label,
        "labelPlural": spec.label_plural, "layoutable": True, "mergeable": False, "name": spec.name,
        "queryable": True, "replicateable": True, "retrieveable": True, "searchable": True, "triggerable": True,
        "undeletable": spec.deletable, "updateable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


class RestApi:
    """Binds the routes to one backend's org, sessions, quota and bulk jobs."""

    def __init__(self, backend: SalesforceBackend) -> None:
        self.backend = backend

    @property
    def org(self) -> Any:
        return self.backend.org

    # ---- the common envelope -------------------------------------------------------------------------------

    def limit_header(self) -> dict[str, str]:
        quota = self.backend.quota
        return {"Sforce-Limit-Info": f"api-usage={quota.used}/{quota.maximum}"}

    def api_call(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            version = request.path_params.get("version", "")
            try:
                if not _VERSION.match(version) or not MIN_VERSION <= int(version[:2]) <= MAX_VERSION:
                    raise not_found()
                authorization = request.headers.get("authorization", "")
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() not in ("bearer", "oauth") or not self.backend.sessions.validate(token.strip()):
                    raise invalid_session()
                if not self.backend.quota.consume(self.backend.clock.now()):
                    raise request_limit_exceeded()
                response = await handler(request, version)
            except RecordError as error:
                response = error_response(error.as_api_error())
            except SalesforceApiError as error:
                response = error_response(error)
            response.headers.update(self.limit_header())
            return response

        return endpoint

    def routes(self) -> list[BaseRoute]:
        data = "/services/data/v{version}"
        table: list[tuple[str, Handler, list[str]]] = [
            ("", self.resources, ["GET"]),
            ("/limits", self.limits, ["GET"]),
            ("/sobjects", self.global_describe, ["GET"]),
            ("/query", self.query, ["GET"]),
            ("/queryAll", self.query_all, ["GET"]),
            ("/query/{locator}", self.query_more, ["GET"]),
            ("/queryAll/{locator}", self.query_more_all, ["GET"]),
            ("/composite/sobjects", self.collection, ["POST", "PATCH", "DELETE"]),
            ("/composite/sobjects/{sobject}", self.collection_retrieve, ["GET", "POST"]),
            ("/composite/sobjects/{sobject}/{field}", self.collection_upsert, ["PATCH"]),
            ("/sobjects/{sobject}", self.sobject_root, ["GET", "POST"]),
            ("/sobjects/{sobject}/describe", self.describe, ["GET"]),
            ("/sobjects/{sobject}/updated", self.updated, ["GET"]),
            ("/sobjects/{sobject}/deleted", self.deleted, ["GET"]),
            ("/sobjects/{sobject}/{record_id}", self.record, ["GET", "PATCH", "DELETE"]),
            ("/jobs/ingest", self.ingest_jobs, ["GET", "POST"]),
            ("/jobs/ingest/{job_id}", self.ingest_job, ["GET", "PATCH", "DELETE"]),
            ("/jobs/ingest/{job_id}/batches", self.ingest_upload, ["PUT"]),
            ("/jobs/ingest/{job_id}/{kind}", self.ingest_results, ["GET"]),
            ("/jobs/query", self.query_jobs, ["POST"]),
            ("/jobs/query/{job_id}", self.query_job, ["GET", "PATCH", "DELETE"]),
            ("/jobs/query/{job_id}/results", self.query_job_results, ["GET"]),
        ]
        routes: list[BaseRoute] = [
            Route("/services/oauth2/token", self.oauth_token, methods=["POST"]),
            Route("/services/Soap/u/{version}", self.soap, methods=["POST"]),
            Route("/services/Soap/u/{version}/{org_id}", self.soap, methods=["POST"]),
            Route("/services/data", self.versions, methods=["GET"]),
            Route("/services/data/", self.versions, methods=["GET"]),
        ]
        for suffix, handler, methods in table:
            endpoint = self.api_call(handler)
            routes.append(Route(data + suffix, endpoint, methods=methods))
            routes.append(Route(data + suffix + "/", endpoint, methods=methods))
        upsert = self.api_call(self.external_id_record)
        routes.append(Route(data + "/sobjects/{sobject}/{field}/{value:path}", upsert,
                            methods=["GET", "PATCH", "DELETE"]))
        # Last, for every method: what no route above serves gets Salesforce's JSON 404/405, not a plain-text page.
        # A versioned path is still authenticated and counted first, as every /services/data/vX call is.
        known = list(routes)
        unserved = self.api_call(lambda request, version: self.unserved(request, known))

        async def unserved_outside(request: Request) -> Response:
            try:
                return await self.unserved(request, known)
            except SalesforceApiError as error:
                return error_response(error)

        every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        routes.append(Route(data + "/{rest:path}", unserved, methods=every))
        routes.append(Route("/services/{rest:path}", unserved_outside, methods=every))
        return routes

    async def unserved(self, request: Request, known: list[BaseRoute]) -> Response:
        allowed: set[str] = set()
        for route in known:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL and isinstance(route, Route):
                allowed |= route.methods or set()
        if not allowed:
            raise not_found()
        return json_reply([{"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{request.method}' not "
                            f"allowed. Allowed are {','.join(sorted(allowed))}"}], 405)

    # ---- login -------------------------------------------------------------------------------------------------

    def origin(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def oauth_token(self, request: Request) -> Response:
        # urlencoded form parsed here: starlette's form parser needs python-multipart, which is not a dependency
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        self.backend.stats.session()
        try:
            reply = token_grant(form, request.headers.get("authorization"), self.backend.sessions,
                                self.origin(request), self.org.user_id)
        except OAuthFailure as failure:
            return json_reply(failure.body(), failure.status)
        return json_reply(reply)

    async def soap(self, request: Request) -> Response:
        self.backend.stats.session()
        body = (await request.body()).decode("utf-8", "replace")
        status, xml = soap_login(body, self.backend.sessions, self.origin(request),
                                 request.path_params["version"], self.org.user_id)
        return Response(xml, status_code=status, media_type="text/xml;charset=UTF-8")

    async def versions(self, request: Request) -> Response:
        return json_reply([
            {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(MIN_VERSION, MAX_VERSION + 1)
        ])

    # ---- org-level resources ----------------------------------------------------------------------------------

    async def resources(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        base = f"/services/data/v{version}"
        names = ("limits", "sobjects", "query", "queryAll", "composite", "jobs")
        return json_reply({name: f"{base}/{name}" for name in names})

    async def limits(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        quota, bulk = self.backend.quota, self.backend.bulk

        def pair(maximum: int, used: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(0, maximum - used)}

        return json_reply({
            "DailyApiRequests": pair(quota.maximum, quota.used),
            "DailyBulkApiBatches": pair(15000, bulk.batches_used),
            "DailyBulkV2QueryFileStorageMB": pair(1048576, 0),
            "DailyBulkV2QueryJobs": pair(10000, len(bulk.queries)),
            "DataStorageMB": pair(1024, 0),
            "FileStorageMB": pair(1024, 0),
        })

    async def global_describe(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        return json_reply({"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT,
                           "sobjects": [object_summary(spec, version) for spec in OBJECTS.values()]})

    # ---- query -------------------------------------------------------------------------------------------------

    def batch_size(self, request: Request) -> int:
        limits = self.backend.limits
        options = request.headers.get("sforce-query-options", "")
        match = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
        size = int(match.group(1)) if match else limits.max_batch_size
        return max(limits.min_batch_size, min(limits.max_batch_size, size))

    async def query(self, request: Request, version: str) -> Response:
        return self.run_query(request, version, include_deleted=False)

    async def query_all(self, request: Request, version: str) -> Response:
        return self.run_query(request, version, include_deleted=True)

    def run_query(self, request: Request, version: str, include_deleted: bool) -> Response:
        self.backend.stats.read()
        soql = request.query_params.get("q")
        if soql is None:
            raise SalesforceApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        query = parse(soql)
        table, rows, select = self.org.execute(query, include_deleted)
        if query.count:
            return json_reply({"totalSize": len(rows), "done": True, "records": []})
        batch = self.batch_size(request)
        locator = self.org.open_cursor(table, rows, select, include_deleted) if len(rows) > batch else None
        return json_reply(self.page(locator, table, rows, select, 0, batch, version, include_deleted))

    def page(self, locator: str | None, table: Any, rows: Any, select: Any, offset: int, batch: int, version: str,
             include_deleted: bool) -> dict[str, Any]:
        chunk = rows[offset:offset + batch]
        done = offset + len(chunk) >= len(rows)
        reply: dict[str, Any] = {"totalSize": len(rows), "done": done}
        if not done:
            resource = "queryAll" if include_deleted else "query"
            reply["nextRecordsUrl"] = f"/services/data/v{version}/{resource}/{locator}-{offset + len(chunk)}"
        reply["records"] = [self.org.materialize(table, row, select, version) for row in chunk]
        return reply

    async def query_more(self, request: Request, version: str) -> Response:
        return self.more(request, version)

    async def query_more_all(self, request: Request, version: str) -> Response:
        return self.more(request, version)

    def more(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        locator, _, offset_text = request.path_params["locator"].rpartition("-")
        cursor = self.org.cursors.get(locator)
        if cursor is None or not offset_text.isdigit():
            raise SalesforceApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        return json_reply(self.page(locator, cursor.table, cursor.rows, cursor.select, offset,
                                    self.batch_size(request), version, cursor.include_deleted))

    # ---- sObject rows --------------------------------------------------------------------------------------

    def spec(self, name: str) -> ObjectSpec:
        return self.org.table(name).spec

    async def sobject_root(self, request: Request, version: str) -> Response:
        spec = self.spec(request.path_params["sobject"])
        if request.method == "GET":
            self.backend.stats.read()
            return json_reply({"objectDescribe": object_summary(spec, version), "recentItems": []})
        body = await json_body(request)
        if not isinstance(body, dict):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
        record_id = self.org.insert(spec.name, body)
        self.backend.stats.write(1)
        return json_reply({"id": record_id, "success": True, "errors": []}, 201)

    async def describe(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        spec = self.spec(request.path_params["sobject"])
        reply = object_summary(spec, version)
        reply["fields"] = [describe_field(f) for f in spec.fields]
        reply["childRelationships"] = []
        reply["recordTypeInfos"] = []
        return json_reply(reply)

    async def record(self, request: Request, version: str) -> Response:
        table = self.org.table(request.path_params["sobject"])
        record_id = request.path_params["record_id"]
        if normalize_id(record_id) is None:
            raise SalesforceApiError(404, "NOT_FOUND",
                                     f"Provided external ID field does not exist or is not accessible: {record_id}")
        if request.method == "GET":
            self.backend.stats.read()
            row = self.org.locate(table, record_id)
            fields = None
            if request.query_params.get("fields"):
                fields = []
                for name in request.query_params["fields"].split(","):
                    spec = table.spec.field(name.strip())
                    if spec is None:
                        raise SalesforceApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity "
                                                 f"'{table.spec.name}'")
                    fields.append(spec)
            return json_reply(self.org.full_record(table, row, version, fields))
        if request.method == "PATCH":
            body = await json_body(request)
            if not isinstance(body, dict):
                raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
            self.org.update(table.spec.name, record_id, body)
        else:
            self.org.delete(table.spec.name, record_id)
        self.backend.stats.write(1)
        return Response(status_code=204)

    async def external_id_record(self, request: Request, version: str) -> Response:
        table = self.org.table(request.path_params["sobject"])
        field_name, value = request.path_params["field"], unquote(request.path_params["value"])
        if request.method == "PATCH":
            body = await json_body(request)
            if not isinstance(body, dict):
                raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
            record_id, created = self.org.upsert(table.spec.name, field_name, value, body)
            self.backend.stats.write(1)
            if created:
                return json_reply({"id": record_id, "success": True, "errors": [], "created": True}, 201)
            if float(version) >= 46.0:
                return json_reply({"id": record_id, "success": True, "errors": [], "created": False}, 200)
            return Response(status_code=204)
        rows = self.org.find_by_external_id(table, field_name, value)
        if len(rows) > 1:
            return json_reply([record_url(version, table.spec.name, table.columns["Id"][r]) for r in rows], 300)
        if not rows:
            raise not_found()
        if request.method == "DELETE":
            self.org.delete(table.spec.name, table.columns["Id"][rows[0]])
            self.backend.stats.write(1)
            return Response(status_code=204)
        self.backend.stats.read()
        return json_reply(self.org.full_record(table, rows[0], version))

    # ---- replication (getUpdated / getDeleted) ------------------------------------------------------------

    def window(self, request: Request, days: int) -> tuple[int, int]:
        params = request.query_params
        if "start" not in params or "end" not in params:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "start and end are required")
        start = parse_datetime(params["start"].replace(" ", "+"))
        end = parse_datetime(params["end"].replace(" ", "+"))
        if start is None or end is None:
            raise SalesforceApiError(400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTimes")
        start -= start % 60_000  # replication windows have minute granularity
        end -= end % 60_000
        now = datetime_to_ms(self.backend.clock.now())
        if end < start:
            raise SalesforceApiError(400, "INVALID_REPLICATION_DATE", "EndDate before StartDate")
        if start < now - days * 86_400_000:
            raise SalesforceApiError(400, "INVALID_REPLICATION_DATE",
                                     f"startDate cannot be more than {days} days ago")
        return start, min(end, now + 1)

    async def updated(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        table = self.org.table(request.path_params["sobject"])
        start, end = self.window(request, 30)
        stamps, ids = table.columns["SystemModstamp"], table.columns["Id"]
        found = [ids[row] for row in table.rows_by_modstamp(start, True)
                 if stamps[row] < end and table.visible(row, include_deleted=False)]
        return json_reply({"ids": found, "latestDateCovered": ms_to_wire(end)})

    async def deleted(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        table = self.org.table(request.path_params["sobject"])
        start, end = self.window(request, 15)
        stamps, ids = table.columns["SystemModstamp"], table.columns["Id"]
        found = [{"id": ids[row], "deletedDate": ms_to_wire(stamps[row])}
                 for row in table.rows_by_modstamp(start, True)
                 if stamps[row] < end and table.is_deleted(row) and row not in table.gone]
        earliest = datetime_to_ms(ms_to_datetime(end) - timedelta(days=15))
        return json_reply({"deletedRecords": found, "earliestDateAvailable": ms_to_wire(earliest),
                           "latestDateCovered": ms_to_wire(end)})

    # ---- sObject Collections ----------------------------------------------------------------------------------

    def collection_records(self, body: Any) -> tuple[list[dict[str, Any]], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Body must be {\"allOrNone\": bool, \"records\": []}")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise SalesforceApiError(400, "EXCEEDED_ID_LIMIT",
                                     "record limit reached. cannot submit more than 200 records into this call")
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict) or \
                    not record["attributes"].get("type"):
                raise SalesforceApiError(400, "INVALID_FIELD", "Invalid sObject type: attributes.type is required")
        return records, bool(body.get("allOrNone", False))

    def run_collection(self, items: list[Any], all_or_none: bool,
                       write: Callable[[Any], dict[str, Any]]) -> Response:
        results: list[dict[str, Any]] = []
        failed = False
        if all_or_none:
            self.org.begin()
        for item in items:
            try:
                results.append(write(item))
            except RecordError as error:
                failed = True
                result: dict[str, Any] = {"success": False, "errors": [error.collection_item()]}
                known = getattr(error, "record_id", None)
                if known:
                    result = {"id": known, **result}
                results.append(result)
            except SalesforceApiError as error:
                failed = True
                results.append({"success": False, "errors": [{"statusCode": error.error_code,
                                                              "message": error.message, "fields": []}]})
        if all_or_none:
            if failed:
                self.org.rollback()
                results = [
                    {**({"id": r["id"]} if "id" in r and "created" not in r and r.get("update") else {}),
                     "success": False, "errors": [ROLLED_BACK]} if r["success"] else r
                    for r in results
                ]
            else:
                self.org.commit()
        for r in results:
            r.pop("update", None)
        written = sum(1 for r in results if r["success"])
        self.backend.stats.write(written)
        return json_reply(results)

    async def collection(self, request: Request, version: str) -> Response:
        if request.method == "DELETE":
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            if len(ids) > COLLECTION_LIMIT:
                raise SalesforceApiError(400, "EXCEEDED_ID_LIMIT",
                                         "record limit reached. cannot submit more than 200 records into this call")
            all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"

            def remove(record_id: str) -> dict[str, Any]:
                spec = object_for_id(record_id)
                if spec is None:
                    raise _with_id(RecordError("MALFORMED_ID", f"malformed id {record_id}", []), record_id)
                try:
                    deleted = self.org.delete(spec.name, record_id)
                except RecordError as error:
                    raise _with_id(error, record_id) from None
                return {"id": deleted, "success": True, "errors": [], "update": True}

            return self.run_collection(ids, all_or_none, remove)
        records, all_or_none = self.collection_records(await json_body(request))

        def create(record: dict[str, Any]) -> dict[str, Any]:
            object_name = record["attributes"]["type"]
            return {"id": self.org.insert(object_name, record), "success": True, "errors": []}

        def update(record: dict[str, Any]) -> dict[str, Any]:
            object_name = record["attributes"]["type"]
            record_id = record.get("id") or record.get("Id")
            if not record_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            rest = {k: v for k, v in record.items() if k not in ("id", "Id")}
            try:
                updated = self.org.update(object_name, str(record_id), rest)
            except RecordError as error:
                raise _with_id(error, str(record_id)) from None
            return {"id": updated, "success": True, "errors": [], "update": True}

        return self.run_collection(records, all_or_none, create if request.method == "POST" else update)

    async def collection_retrieve(self, request: Request, version: str) -> Response:
        """Several records of one object by id, in the order asked; null for an id that names no live record."""
        table = self.org.table(request.path_params["sobject"])
        if request.method == "POST":
            body = await json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or \
                    not isinstance(body.get("fields"), list):
                raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Body must be {\"ids\": [], \"fields\": []}")
            ids, fields = [str(i) for i in body["ids"]], [str(f) for f in body["fields"]]
        else:
            params = request.query_params
            ids = [i for i in params.get("ids", "").split(",") if i]
            fields = [f.strip() for f in params.get("fields", "").split(",") if f.strip()]
        if not ids or not fields:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > RETRIEVE_LIMIT:
            raise SalesforceApiError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                     f"{RETRIEVE_LIMIT} records into this call")
        select = self.org.plan_select(table, fields)
        self.backend.stats.read()
        records: list[dict[str, Any] | None] = []
        for record_id in ids:
            canonical = normalize_id(record_id)
            row = table.live_row(canonical) if canonical else None
            gone = row is None or table.is_deleted(row)
            records.append(None if row is None or gone else self.org.materialize(table, row, select, version))
        return json_reply(records)

    async def collection_upsert(self, request: Request, version: str) -> Response:
        table = self.org.table(request.path_params["sobject"])
        ext = table.spec.field(request.path_params["field"])
        if ext is None or not ext.external_id:
            raise SalesforceApiError(404, "NOT_FOUND", "Provided external ID field does not exist or is not "
                                     f"accessible: {request.path_params['field']}")
        records, all_or_none = self.collection_records(await json_body(request))
        for record in records:
            if str(record["attributes"]["type"]).lower() != table.spec.name.lower():
                raise SalesforceApiError(400, "INVALID_FIELD", "All records in an upsert call must be of the sObject "
                                         f"type {table.spec.name}")

        def upsert(record: dict[str, Any]) -> dict[str, Any]:
            key = next((v for k, v in record.items() if k.lower() == ext.name.lower()), None)
            if key in (None, ""):
                raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
            rest = {k: v for k, v in record.items() if k.lower() != ext.name.lower()}
            record_id, created = self.org.upsert(table.spec.name, ext.name, str(key), rest)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return self.run_collection(records, all_or_none, upsert)

    # ---- Bulk API 2.0 -------------------------------------------------------------------------------------------

    async def ingest_jobs(self, request: Request, version: str) -> Response:
        bulk = self.backend.bulk
        if request.method == "GET":
            self.backend.stats.read()
            return json_reply({"done": True, "records": [bulk.describe_ingest(i) for i in list(bulk.ingest)],
                               "nextRecordsUrl": None})
        body = await json_body(request)
        if not isinstance(body, dict):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Body must be a JSON object")
        return json_reply(bulk.create_ingest(body, version))

    async def ingest_job(self, request: Request, version: str) -> Response:
        bulk, job_id = self.backend.bulk, request.path_params["job_id"]
        if request.method == "GET":
            self.backend.stats.read()
            return json_reply(bulk.describe_ingest(job_id))
        if request.method == "DELETE":
            bulk.delete_job(job_id, query=False)
            return Response(status_code=204)
        body = await json_body(request)
        return json_reply(bulk.set_state(job_id, str((body or {}).get("state")), query=False))

    async def ingest_upload(self, request: Request, version: str) -> Response:
        self.backend.bulk.upload(request.path_params["job_id"], await request.body())
        return Response(status_code=201)

    async def ingest_results(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        text = self.backend.bulk.ingest_results(request.path_params["job_id"], request.path_params["kind"])
        return Response(text, media_type="text/csv")

    async def query_jobs(self, request: Request, version: str) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "Body must be a JSON object")
        self.backend.stats.read()
        return json_reply(self.backend.bulk.create_query(body, version))

    async def query_job(self, request: Request, version: str) -> Response:
        bulk, job_id = self.backend.bulk, request.path_params["job_id"]
        if request.method == "GET":
            self.backend.stats.read()
            return json_reply(bulk.describe_query(job_id))
        if request.method == "DELETE":
            bulk.delete_job(job_id, query=True)
            return Response(status_code=204)
        body = await json_body(request)
        return json_reply(bulk.set_state(job_id, str((body or {}).get("state")), query=True))

    async def query_job_results(self, request: Request, version: str) -> Response:
        self.backend.stats.read()
        params = request.query_params
        max_records = int(params["maxRecords"]) if params.get("maxRecords", "").isdigit() else None
        text, count, locator = self.backend.bulk.query_results(request.path_params["job_id"], params.get("locator"),
                                                               max_records)
        return Response(text, media_type="text/csv",
                        headers={"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)})


def _with_id(error: RecordError, record_id: str) -> RecordError:
    error.record_id = record_id  # type: ignore[attr-defined]
    return error
