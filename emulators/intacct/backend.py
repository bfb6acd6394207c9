"""IntacctBackend: the Sage Intacct XML gateway served over plain HTTP, with Intacct's throttling and fault replies.

Routes: `POST /ia/xml/xmlgw.phtml` (the gateway) and `GET /ia/acct/ur.phtml?.r=...` (where RECORD_URL deep links
land: a read-only page showing the record, standing in for the Intacct UI).
"""

from __future__ import annotations

import collections
import html
import os
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from emulators.core.backend import EmulatorBackend, UnknownObjectError
from emulators.core.clock import EmulatorClock
from emulators.core.faults import Fault, FaultKind
from emulators.intacct.generate import generate_company
from emulators.intacct.model import (
    COMPANY_ID,
    SEED_USER_RECORDNO,
    SENDER_ID,
    SENDER_PASSWORD,
    USER_ID,
    USER_PASSWORD,
    IntacctCompany,
)
from emulators.intacct.schema import ENTITY_OWNED, SCHEMAS
from emulators.intacct.values import parse_timestamp, wire_text
from emulators.intacct.wire import CONTENT_TYPE, GATEWAY_PATH, gateway_error_body, run_gateway_request

RATE_LIMIT_TEXT = ("Rate limit exceeded: your API client has submitted too many requests in a short period of time. "
                   "Back off and retry.")
# Seeding order: records refer to records of the objects before them.
SEED_ORDER = ("LOCATIONENTITY", "LOCATION", "CUSTOMER", "EMPLOYEE", "PROJECT", "TASK", "TIMESHEET",
              "TIMESHEETENTRY")


class GatewayLimits:
    """Per-company limits the gateway enforces with GW-0010 / HTTP 429.

    `max_concurrent`: requests in flight at once (Intacct's usual allowance is 2; ours defaults higher so parallel
    test clients pass). `max_requests` per `window_seconds`: a sliding-window rate limit (None: off).
    Environment overrides: INTACCT_EMULATOR_MAX_CONCURRENT, INTACCT_EMULATOR_RATE_LIMIT ("600/60")."""

    def __init__(self) -> None:
        self.max_concurrent = int(os.environ.get("INTACCT_EMULATOR_MAX_CONCURRENT", "4"))
        rate = os.environ.get("INTACCT_EMULATOR_RATE_LIMIT", "6000/60")
        requests, _, window = rate.partition("/")
        self.max_requests: int | None = int(requests) if requests.strip().isdigit() else None
        self.window_seconds = float(window or 60)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._recent: collections.deque[float] = collections.deque()

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()

    def enter(self) -> bool:
        """Admit one request, or False when it must be refused with GW-0010."""
        now = time.monotonic()
        with self._lock:
            if self._in_flight >= self.max_concurrent:
                return False
            if self.max_requests is not None:
                while self._recent and self._recent[0] <= now - self.window_seconds:
                    self._recent.popleft()
                if len(self._recent) >= self.max_requests:
                    return False
                self._recent.append(now)
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class IntacctBackend(EmulatorBackend):
    name = "intacct"
    objects = tuple(SCHEMAS)
    requires_tls = False

    def __init__(self, clock: EmulatorClock | None = None) -> None:
        super().__init__(clock)
        self.model = IntacctCompany(self.clock)
        self.model.record_fault = self.faults.draw_record_error
        self.limits = GatewayLimits()
        self.endpoint_path = GATEWAY_PATH  # what getAPISession returns; tests may point it elsewhere

    # ---- routes -------------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        async def gateway(request: Request) -> Response:
            if not self.limits.enter():
                self.stats.fault("rate_limit")
                return Response(gateway_error_body("GW-0010", RATE_LIMIT_TEXT), status_code=429,
                                headers={"content-type": CONTENT_TYPE})
            try:
                body = await request.body()
                origin = f"{request.url.scheme}://{request.url.netloc}"
                self.model.public_origin = origin
                reply = await run_in_threadpool(run_gateway_request, self.model, body, origin, self.endpoint_path)
            finally:
                self.limits.leave()
            if reply.wrote:
                self.stats.write(reply.written)
            elif reply.opened_session:
                self.stats.session()
            else:
                self.stats.read()
            return Response(reply.body, status_code=200, headers={"content-type": CONTENT_TYPE})

        async def record_page(request: Request) -> Response:
            found = self.model.decode_record_url(request.query_params.get(".r", ""))
            record = self.model.get(found[0], found[1]) if found else None
            if found is None or record is None:
                return HTMLResponse("<html><body><h1>Record not found</h1></body></html>", status_code=404)
            object_name = found[0]
            schema = SCHEMAS[object_name]
            rows = "".join(
                f"<tr><th>{html.escape(name)}</th><td>"
                f"{html.escape(wire_text(schema.type_of(name), self.model.value(object_name, record, name)))}"
                "</td></tr>"
                for name in schema.fields
            )
            title = html.escape(f"{object_name} {record.get(schema.id_field or 'RECORDNO', record['RECORDNO'])}")
            return HTMLResponse(f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
                                f"<table>{rows}</table></body></html>")

        return [Route(GATEWAY_PATH, gateway, methods=["POST"]), Route("/ia/acct/ur.phtml", record_page,
                                                                       methods=["GET"])]

    # ---- admin contract --------------------------------------------------------------------------------------------

    def reset(self) -> None:
        self.model.reset()
        self.limits.reset()

    def generate(self, world: Any) -> dict[str, int]:
        with self.model.lock:
            return generate_company(self.model, world)

    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        unknown = [name for name in records if name.upper() not in SCHEMAS]
        if unknown:
            raise UnknownObjectError(unknown[0])
        counts: dict[str, int] = {}
        model = self.model
        with model.lock:
            touched_tasks: set[int] = set()
            touched_projects: set[int] = set()
            for object_name in SEED_ORDER:
                rows = next((rows for name, rows in records.items() if name.upper() == object_name), None)
                if rows is None:
                    continue
                for row in rows:
                    record = self._seed_record(object_name, row)
                    if object_name == "TASK":
                        touched_tasks.add(record["RECORDNO"])
                        touched_projects.add(record["PROJECTKEY"])
                    elif object_name == "TIMESHEETENTRY":
                        touched_tasks.add(record["TASKKEY"])
                    elif object_name == "TIMESHEET":
                        touched_tasks |= {model.tables["TIMESHEETENTRY"][n]["TASKKEY"]
                                          for n in model.entries_by_timesheet.get(record["RECORDNO"], ())}
                counts[object_name] = len(rows)
            # Seeded records keep the stamps they were given: roll-ups are filled in without touching WHENMODIFIED.
            for taskkey in sorted(touched_tasks):
                task = model.get("TASK", taskkey)
                if task is not None:
                    model.recompute_task(taskkey, task["WHENMODIFIED"], keep_stamps=True)
                    touched_projects.add(task["PROJECTKEY"])
            for projectkey in sorted(touched_projects):
                if model.get("PROJECT", projectkey) is not None:
                    model.recompute_project(projectkey, keep_stamps=True)
        return counts

    def _seed_record(self, object_name: str, row: dict[str, Any]) -> dict[str, Any]:
        model = self.model
        schema = SCHEMAS[object_name]
        if not isinstance(row, dict):
            raise TypeError(f"{object_name} records must be objects, got {type(row).__name__}")
        entries = row.get("TIMESHEETENTRIES")
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key == "TIMESHEETENTRIES" or value is None or value == "":
                continue
            if key not in schema.fields and key != "PROJECTKEY":
                raise ValueError(f"{object_name} has no field {key!r}")
            record[key] = value if isinstance(value, int) and not isinstance(value, bool) else (
                str(value).lower() if isinstance(value, bool) else str(value))
        for key in ("WHENCREATED", "WHENMODIFIED"):
            if isinstance(record.get(key), str):
                parsed = parse_timestamp(record[key])
                if parsed is None:
                    raise ValueError(f"{object_name}.{key} must look like 12/31/2025 23:59:59, got {record[key]!r}")
                record[key] = parsed
        now = model.stamp()
        record.setdefault("WHENCREATED", record.get("WHENMODIFIED", now))
        record.setdefault("WHENMODIFIED", record["WHENCREATED"])
        record.setdefault("CREATEDBY", SEED_USER_RECORDNO)
        record.setdefault("MODIFIEDBY", SEED_USER_RECORDNO)
        for key in ("RECORDNO", "CREATEDBY", "MODIFIEDBY", "PROJECTKEY", "TASKKEY", "TIMESHEETKEY", "PARENTKEY",
                    "EMPLOYEEKEY"):
            if key in record:
                record[key] = int(record[key])
        if object_name in ENTITY_OWNED:
            record.setdefault("MEGAENTITYID", "")
        if object_name == "LOCATIONENTITY":
            record["LOCATIONTYPE"] = "E"  # an entity is a location of type E (also listed by LOCATION)
        if object_name == "TASK":
            if "PROJECTKEY" not in record:
                project = model.by_id("PROJECT", record.pop("PROJECTID", ""))
                if project is None:
                    raise ValueError(f"TASK {row.get('NAME')!r} needs an existing PROJECTID or PROJECTKEY")
                record["PROJECTKEY"] = project["RECORDNO"]
            record.pop("PROJECTID", None)
            record.setdefault("TASKID", "")
        if object_name == "TIMESHEET" and "EMPLOYEEKEY" not in record:
            employee = model.by_id("EMPLOYEE", record.get("EMPLOYEEID", ""))
            if employee is None:
                raise ValueError(f"TIMESHEET needs an existing EMPLOYEEID, got {record.get('EMPLOYEEID')!r}")
            record["EMPLOYEEKEY"] = employee["RECORDNO"]
        if object_name == "TIMESHEETENTRY":
            task = model.get("TASK", record.get("TASKKEY"))
            if task is None:
                raise ValueError(f"TIMESHEETENTRY needs an existing TASKKEY, got {record.get('TASKKEY')!r}")
            record["PROJECTKEY"] = task["PROJECTKEY"]
            record.pop("PROJECTID", None)
            record.pop("TASKID", None)
        if "RECORDNO" not in record:
            record["RECORDNO"] = model.allocate(object_name)
        else:
            model.reserve(object_name, record["RECORDNO"])
        model.store(object_name, record["RECORDNO"], record, journal=False)
        for line_no, entry in enumerate(entries or [], start=1):
            self._seed_record("TIMESHEETENTRY", {**entry, "TIMESHEETKEY": record["RECORDNO"], "LINENO": line_no})
        return record

    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        schema = SCHEMAS.get(object_name.upper())
        if schema is None:
            raise UnknownObjectError(object_name)
        model = self.model
        with model.lock:
            rows = list(model.tables[schema.name].values())
            types = [(name, schema.type_of(name)) for name in schema.fields]
            return [{name: wire_text(kind, model.value(schema.name, record, name)) for name, kind in types}
                    for record in rows]

    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        return {
            "INTACCT_URL": origin + GATEWAY_PATH,
            "INTACCT_SENDER_ID": SENDER_ID,
            "INTACCT_SENDER_PASSWORD": SENDER_PASSWORD,
            "INTACCT_COMPANY_ID": COMPANY_ID,
            "INTACCT_USER_ID": USER_ID,
            "INTACCT_USER_PASSWORD": USER_PASSWORD,
        }

    def expire_sessions(self) -> None:
        with self.model.lock:
            self.model.expire_sessions()

    def fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {"content-type": CONTENT_TYPE}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        if fault.kind is FaultKind.THROTTLE:
            return Response(gateway_error_body("GW-0010", fault.message or RATE_LIMIT_TEXT),
                            status_code=fault.status or 429, headers=headers)
        status = fault.status or 503
        if status in (502, 520, 521, 522, 524):
            # What integrators see when Cloudflare, in front of the gateway, answers instead (hotglue 497a306).
            headers["content-type"] = "text/html; charset=UTF-8"
            body = (f"<!DOCTYPE html><html><head><title>api.intacct.com | {status}: Error</title></head><body>"
                    f'<div id="cf-error-details"><h1>Error {status}</h1><p>{html.escape(fault.message or "")}</p>'
                    "</div></body></html>")
            return Response(body, status_code=status, headers=headers)
        return Response(gateway_error_body("EMU-OFFLINE", fault.message or "The Service is Temporarily Off-line. "
                                           "Please Try Again Later"), status_code=status, headers=headers)
