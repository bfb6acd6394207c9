"""SalesforceBackend: the Salesforce emulator as the sandbox serves it (model, routes, limits, faults, admin hooks)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulators.core.backend import EmulatorBackend, UnknownObjectError
from emulators.core.clock import EmulatorClock
from emulators.core.faults import Fault, FaultKind
from emulators.salesforce.auth import CLIENT_ID, CLIENT_SECRET, SessionRegistry
from emulators.salesforce.bulk import BulkJobs
from emulators.salesforce.catalogue import OBJECTS
from emulators.salesforce.errors import JSON_MEDIA_TYPE, RecordError, SalesforceApiError
from emulators.salesforce.formats import ms_to_datetime, parse_datetime
from emulators.salesforce.generate import generate_org
from emulators.salesforce.rest import RestApi
from emulators.salesforce.store import SalesforceOrg, Table, normalize_id

DEFAULT_VERSION = "59.0"
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                 "SystemModstamp")


@dataclass
class ApiLimits:
    """The org's limits; change them on a running backend (tests) or through SALESFORCE_EMULATOR_* variables."""

    daily_api_requests: int = field(
        default_factory=lambda: int(os.environ.get("SALESFORCE_EMULATOR_DAILY_API_REQUESTS", "100000"))
    )
    min_batch_size: int = field(default_factory=lambda: int(os.environ.get("SALESFORCE_EMULATOR_MIN_BATCH_SIZE",
                                                                           "200")))
    max_batch_size: int = 2000


class ApiQuota:
    """Daily API requests: a 24-hour window opened by the first call after the previous window ended."""

    def __init__(self, limits: ApiLimits) -> None:
        self.limits = limits
        self.used = 0
        self.window_start: datetime | None = None

    @property
    def maximum(self) -> int:
        return self.limits.daily_api_requests

    def consume(self, now: datetime) -> bool:
        if self.window_start is None or now - self.window_start >= timedelta(hours=24):
            self.window_start, self.used = now, 0
        if self.used >= self.maximum:
            return False
        self.used += 1
        return True


class SalesforceBackend(EmulatorBackend):
    name = "salesforce"
    objects = tuple(OBJECTS)
    requires_tls = True

    def __init__(self, clock: EmulatorClock | None = None) -> None:
        super().__init__(clock)
        self.limits = ApiLimits()
        self.api = RestApi(self)
        self.reset()

    def reset(self) -> None:
        self.org = SalesforceOrg(self.clock, self.faults)
        self.bulk = BulkJobs(self.org, self.stats.write)
        self.sessions = SessionRegistry(self.clock)
        self.quota = ApiQuota(self.limits)

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    # ---- data ---------------------------------------------------------------------------------------------------

    def generate(self, world: Any) -> dict[str, int]:
        self.reset()
        counts, newest = generate_org(self.org, world)
        if newest:
            self.clock.observe(ms_to_datetime(newest))
        return counts

    def _table(self, object_name: str) -> Table:
        if object_name not in OBJECTS:
            raise UnknownObjectError(object_name)
        return self.org.tables[object_name]

    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        for object_name in records:
            self._table(object_name)
        counts: dict[str, int] = {}
        for object_name, rows in records.items():
            for record in rows:
                self._seed_record(self._table(object_name), record)
            counts[object_name] = len(rows)
        return counts

    def _seed_record(self, table: Table, record: dict[str, Any]) -> None:
        org = self.org
        body = {k: v for k, v in record.items() if k not in SYSTEM_FIELDS and k != "attributes"}
        try:
            values: dict[str, Any] = {}
            for key, raw in body.items():
                spec = table.spec.field(key)
                if spec is None:
                    values.update(org.coerce(table, {key: raw}, creating=True))
                else:
                    values[spec.name] = org.value(spec, raw)
            for spec in table.spec.fields:
                if spec.name not in values and spec.default is not None:
                    values[spec.name] = spec.default
            missing = [s.name for s in table.spec.fields if s.required and values.get(s.name) is None]
            if missing:
                raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                  missing)
            org._derive(table, values, None, set(body))
            org._check_unique(table, values, None)
        except (RecordError, SalesforceApiError) as error:
            raise ValueError(f"{table.spec.name}: {error}") from error
        record_id = normalize_id(str(record["Id"])) if record.get("Id") else None
        if record.get("Id") and (record_id is None or record_id[:3] != table.spec.key_prefix):
            raise ValueError(f"{table.spec.name}: Id {record['Id']!r} is not an id of this object")
        if record_id is None:
            record_id = org.new_id(table)
        elif record_id in table.row_of_id:
            raise ValueError(f"{table.spec.name}: Id {record_id} exists already")
        stamp = org.now_ms()
        given = {name: parse_datetime(str(record[name])) for name in ("CreatedDate", "LastModifiedDate")
                 if record.get(name)}
        values.update({
            "Id": record_id, "CreatedDate": given.get("CreatedDate") or stamp, "CreatedById": org.user_id,
            "LastModifiedDate": given.get("LastModifiedDate") or stamp, "LastModifiedById": org.user_id,
            "SystemModstamp": stamp,
        })
        if "OwnerId" in table.columns and values.get("OwnerId") is None:
            values["OwnerId"] = org.user_id
        if "IsDeleted" in table.columns:
            values["IsDeleted"] = bool(record.get("IsDeleted", False))
        table.append(values)

    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        table = self._table(object_name)
        return [self.org.full_record(table, row, DEFAULT_VERSION) for row in range(table.size)
                if table.visible(row, include_deleted=False)]

    # ---- environment, sessions, faults ----------------------------------------------------------------------

    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        exports = {
            "SALESFORCE_INSTANCE_URL": origin,
            "SALESFORCE_CLIENT_ID": CLIENT_ID,
            "SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
        }
        if ca_bundle:
            exports["SALESFORCE_CA_BUNDLE"] = ca_bundle
        return exports

    def expire_sessions(self) -> None:
        self.sessions.expire_all()

    def fault_response(self, fault: Fault, request: Request) -> Response:
        path = request.url.path
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        if path.startswith("/services/data/v"):
            headers["Sforce-Limit-Info"] = f"api-usage={self.quota.used}/{self.quota.maximum}"
        if path.startswith("/services/oauth2/"):
            status = fault.status or (400 if fault.kind is FaultKind.THROTTLE else 503)
            return JSONResponse({"error": "unknown_error", "error_description": "retry your request"},
                                status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)
        if fault.kind is FaultKind.THROTTLE:
            error = SalesforceApiError(fault.status or 403, "REQUEST_LIMIT_EXCEEDED",
                                       fault.message or "TotalRequests Limit exceeded.")
        else:
            status = fault.status or 500
            if status == 503:
                error = SalesforceApiError(503, "SERVER_UNAVAILABLE", fault.message or "Server temporarily unavailable")
            else:
                error = SalesforceApiError(status, "UNKNOWN_EXCEPTION", fault.message or (
                    "An unexpected error occurred. Please include this ErrorId if you contact support: "
                    "1838597271-114810 (-1186356426)"))
        return JSONResponse(error.body(), status_code=error.status, headers=headers, media_type=JSON_MEDIA_TYPE)

    # ---- snapshots: the org's tables only (locks and cursors are not state) -------------------------------

    def snapshot_state(self) -> Any:
        return {"tables": self.org.tables, "quota_used": self.quota.used}

    def restore_state(self, state: Any) -> None:
        self.reset()
        self.org.tables = state["tables"]
        self.quota.used = state.get("quota_used", 0)
