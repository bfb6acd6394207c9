"""EspBackend: the ESP+ emulator as the sandbox sees it (model, routes, admin seed/records, faults, env exports)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulators.core.backend import EmulatorBackend, UnknownObjectError
from emulators.core.clock import EmulatorClock
from emulators.core.faults import Fault, FaultKind
from emulators.esp import parse, render
from emulators.esp.api import API_PREFIX, EspApi
from emulators.esp.auth import CLIENT_ID, CLIENT_SECRET, USER_PASSWORD, RateLimits, TokenIssuer
from emulators.esp.errors import EspError, esp_error_response
from emulators.esp.generator import generate_esp_world
from emulators.esp.model import (
    ALL_OBJECTS,
    DELETION_OBJECT,
    LINK_OBJECT,
    RECORD_OBJECTS,
    SETTINGS_OBJECT,
    EspStore,
    member_type_name,
    validate_settings,
)
from emulators.esp.search import SearchCache

_SERVER_ERROR_MESSAGES = {
    500: "An unexpected error occurred. Please e-mail support.",
    502: "The service is down or being upgraded. Please try again later.",
    503: "The service is overloaded. Please try again later.",
}
_SEED_ORDER = ("User", "Company", "Contact", "Order", "PurchaseOrder", "Bill", LINK_OBJECT, SETTINGS_OBJECT)
_FIELD_PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "User": parse.user_fields,
    "Company": parse.company_fields,
    "Contact": parse.contact_fields,
    "Order": parse.order_fields,
    "PurchaseOrder": parse.purchase_order_fields,
    "Bill": parse.bill_fields,
}
_RECORD_DEFAULTS: dict[str, dict[str, Any]] = {
    "Company": {"IsCustomer": False, "IsSupplier": False, "IsDecorator": False, "IsProspect": False, "IsActive": True},
}


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return None if raw.lower() in ("", "none", "off") else int(raw)


class EspBackend(EmulatorBackend):
    """ESP+ (ASI): companies, contacts, users, orders/invoices, POs, bills and the QuickBooks Online integration."""

    name = "esp"
    objects = ALL_OBJECTS
    requires_tls = False

    def __init__(self, clock: EmulatorClock | None = None) -> None:
        super().__init__(clock)
        self.user_password = USER_PASSWORD
        self.store = EspStore(self.clock)
        self.search_cache = SearchCache()
        self.tokens = TokenIssuer(
            self.clock,
            token_ttl_seconds=_env_int("ESP_EMULATOR_TOKEN_TTL_SECONDS", 3600) or 3600,
            limits=RateLimits(
                per_second=_env_int("ESP_EMULATOR_REQUESTS_PER_SECOND", RateLimits.per_second),
                per_minute=_env_int("ESP_EMULATOR_REQUESTS_PER_MINUTE", RateLimits.per_minute),
            ),
        )

    # ---- the emulated API --------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return EspApi(self).routes()

    def reset(self) -> None:
        self.store = EspStore(self.clock)
        self.search_cache = SearchCache()
        self.tokens.reset()

    def generate(self, world: Any) -> dict[str, int]:
        return generate_esp_world(self.store, world)

    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        # The token endpoint lives on the same origin: {scheme://host:port of ESP_URL}/oauth2/token.
        return {"ESP_URL": f"{origin}{API_PREFIX}", "ESP_CLIENT_ID": CLIENT_ID, "ESP_CLIENT_SECRET": CLIENT_SECRET}

    def expire_sessions(self) -> None:
        self.tokens.expire_all()

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind is FaultKind.THROTTLE:
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            error = EspError(
                fault.status or 429,
                fault.message or "Too many requests",
                headers={"Retry-After": str(max(0, round(retry_after)))},
            )
            return esp_error_response(error)
        status = fault.status or 503
        message = fault.message or _SERVER_ERROR_MESSAGES.get(status, _SERVER_ERROR_MESSAGES[500])
        headers = {"Retry-After": str(max(0, round(fault.retry_after)))} if fault.retry_after is not None else None
        return esp_error_response(EspError(status, message, headers=headers))

    # ---- admin seed and records --------------------------------------------------------------------------------

    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        for object_name in records:
            if object_name not in ALL_OBJECTS:
                raise UnknownObjectError(object_name)
        if DELETION_OBJECT in records:
            raise ValueError("Deletion entries are written by deletes; they cannot be seeded")
        counts: dict[str, int] = {}
        try:
            for object_name in _SEED_ORDER:
                rows = records.get(object_name)
                if rows is None:
                    continue
                if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                    raise ValueError(f"{object_name} records must be a list of objects")
                for row in rows:
                    self.seed_one(object_name, row)
                counts[object_name] = len(rows)
        except EspError as error:
            raise ValueError(f"{object_name}: {error.message}") from error
        return counts

    def seed_one(self, object_name: str, row: dict[str, Any]) -> None:
        store = self.store
        if object_name == LINK_OBJECT:
            company_id = row.get("CompanyId")
            if not isinstance(company_id, int):
                raise ValueError("QuickBooksLink records need an integer CompanyId")
            store.set_link(company_id, member_type_name(row.get("MemberType", "")), row, None)
            return
        if object_name == SETTINGS_OBJECT:
            merged = {**store.settings, **{k: v for k, v in row.items() if k in store.settings}}
            validate_settings(merged)
            merged["Version"] = store.settings["Version"] + 1
            merged["UpdateDate"] = store.tick()
            store.settings = merged
            store.changed(SETTINGS_OBJECT)
            return
        fields = {**_RECORD_DEFAULTS.get(object_name, {}), **_FIELD_PARSERS[object_name](row)}
        if object_name == "Company" and not any(
            fields.get(f) for f in ("IsCustomer", "IsSupplier", "IsDecorator", "IsProspect")
        ):
            fields["IsCustomer"] = True
        system = parse.system_fields(row)
        record_id = system.get("Id") or store.allocate_id(object_name)
        now = store.tick()
        record = {
            **fields,
            "Id": record_id,
            "Version": system.get("Version", 1),
            "CreateDate": system.get("CreateDate", now),
            "UpdateDate": system.get("UpdateDate", system.get("CreateDate", now)),
        }
        if object_name == "Company":
            record["LastActivityDate"] = system.get("LastActivityDate", record["UpdateDate"])
        if object_name in ("Order", "PurchaseOrder", "Bill"):
            default_supplier = fields.get("VendorId")
            record["Lines"] = parse.document_lines(row, record_id, default_supplier)
        store.insert(object_name, record)

    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        store = self.store
        if object_name in RECORD_OBJECTS:
            table = store.records[object_name]
            renderer = render.FULL_RENDERERS[object_name]
            return [renderer(store, table[record_id]) for record_id in sorted(table)]
        if object_name == LINK_OBJECT:
            return [render.render_link(store, store.links[key]) for key in sorted(store.links)]
        if object_name == SETTINGS_OBJECT:
            return [render.render_settings(store.settings)]
        if object_name == DELETION_OBJECT:
            return [render.render_deletion(entry) for entry in store.deletions]
        raise UnknownObjectError(object_name)

    # ---- snapshots: the model only (tokens and caches are process state) ---------------------------------------

    def snapshot_state(self) -> Any:
        return {"store": self.store.export_state()}

    def restore_state(self, state: Any) -> None:
        self.store.import_state(state["store"])
        self.search_cache = SearchCache()
        self.tokens.reset()
