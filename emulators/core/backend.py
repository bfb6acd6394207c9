"""The contract every emulator backend fulfils, and the ASGI app that puts the admin API and faults around it.

A backend owns its in-memory model and its wire routes (moto-style: wire layer over a model). This module adds,
identically for all four, the `/__admin/` API (not part of any emulated product), request stats and the fault
injection middleware; the backend only says how a fault looks in its own protocol.
"""

from __future__ import annotations

import asyncio
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.core.clock import EmulatorClock
from emulators.core.damage import damage_response
from emulators.core.faults import BAD_RESPONSE_KINDS, Fault, FaultInjector, FaultKind, FaultPlanError
from emulators.core.stats import RequestStats

ADMIN_PREFIX = "/__admin/"
# Fields that name a seeded record in a rejection, in order of preference (ids first, then names).
_RECORD_NAMES = ("Id", "id", "RECORDNO", "Name", "NAME", "DisplayName")


class UnknownObjectError(KeyError):
    """An admin call named an object this emulator does not serve."""


class EmulatorBackend(ABC):
    """One emulated API: its model, its routes, and how faults look on its wire."""

    name: str = "emulator"
    objects: tuple[str, ...] = ()
    requires_tls: bool = False  # the real client only speaks HTTPS (simple-salesforce, python-quickbooks)

    def __init__(self, clock: EmulatorClock | None = None) -> None:
        self.clock = clock or EmulatorClock()
        self.stats = RequestStats()
        self.faults = FaultInjector()

    # ---- the emulated API ----------------------------------------------------------------------------------

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The vendor API's routes (never under /__admin/)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every record, session and token; back to the state of a fresh process."""

    @abstractmethod
    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Load records given in the API's own field names; system fields are filled in. Returns counts per object."""

    @abstractmethod
    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        """Every current record of one object in the API's own shape, system fields included."""

    @abstractmethod
    def generate(self, world: Any) -> dict[str, int]:
        """Seed this system's view of the shared generated world (emulators.world.World)."""

    @abstractmethod
    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        """The Crosswalk environment variables (SPEC E) that point a client at this emulator served at `origin`."""

    def expire_sessions(self) -> None:  # noqa: B027 - optional hook: not every API has sessions
        """Invalidate every live session or access token (clients must log in or refresh again)."""

    @abstractmethod
    def fault_response(self, fault: Fault, request: Request) -> Response:
        """The reply the real API gives for a THROTTLE or SERVER_ERROR fault."""

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "system": self.name}

    # ---- snapshots ----------------------------------------------------------------------------------------

    def snapshot_state(self) -> Any:
        """Everything needed to restore the model; pickled by save_snapshot."""
        return {k: v for k, v in self.__dict__.items() if k not in ("stats", "faults", "clock")}

    def restore_state(self, state: Any) -> None:
        self.__dict__.update(state)

    def save_snapshot(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("wb") as handle:
            pickle.dump({"system": self.name, "state": self.snapshot_state()}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    def load_snapshot(self, path: str | Path) -> None:
        with Path(path).open("rb") as handle:
            data = pickle.load(handle)  # the emulator's own snapshot file, written by save_snapshot
        if data.get("system") != self.name:
            raise ValueError(f"snapshot {path} is of {data.get('system')!r}, not {self.name!r}")
        self.restore_state(data["state"])


def _unsendable_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """(field path, problem) of the first text in a seeded value that no API could send, or None.

    JSON's `\\ud800` escape decodes to a lone surrogate, which has no UTF-8 encoding: stored, it would fail every
    reply that carries it (HTTP 500) instead of the seed that let it in."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            return path, f"holds a lone surrogate U+{code:04X} (character {exc.start + 1}), which UTF-8 cannot encode"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            named = f"{path}.{key}" if path else str(key)
            found = _unsendable_text(key, f"{named} (its name)") or _unsendable_text(item, named)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unsendable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_seed_text(records: dict[str, Any]) -> None:
    """Refuse a seed holding text the emulators cannot send (ValueError naming object, record and field), before
    anything of it is stored."""
    for object_name, rows in records.items():
        for position, row in enumerate(rows if isinstance(rows, list) else [], 1):
            found = _unsendable_text(row)
            if found is None:
                continue
            field, problem = found
            candidates = (*_RECORD_NAMES[:3], f"{object_name.upper()}ID", *_RECORD_NAMES[3:])  # Intacct: CUSTOMERID
            names = [
                f"{key} {row[key]!r}"
                for key in candidates
                if isinstance(row, dict) and key in row and _unsendable_text(row[key]) is None
            ]
            named = f" ({names[0]})" if names else ""
            message = f"{object_name} record {position}{named}: field {field} {problem}"
            # The message itself may quote the surrogate (in a field name): escaped, so the 400 reply can be sent.
            raise ValueError(message.encode("utf-8", "backslashreplace").decode("utf-8"))


def _admin_routes(backend: EmulatorBackend) -> list[BaseRoute]:
    async def json_body(request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return {}
        try:
            return await request.json()
        except ValueError as exc:
            raise FaultPlanError(f"request body is not JSON: {exc}") from exc

    async def health(_: Request) -> Response:
        return JSONResponse(backend.health())

    async def reset(_: Request) -> Response:
        backend.reset()
        backend.stats.reset()
        backend.faults.clear()
        return JSONResponse({"status": "reset", "system": backend.name})

    async def seed(request: Request) -> Response:
        try:
            body = await json_body(request)
        except FaultPlanError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, dict):
            return JSONResponse({"error": "body must be {'records': {OBJECT: [record, ...]}}"}, status_code=400)
        try:
            check_seed_text(records)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            counts = backend.seed(records)
        except UnknownObjectError as exc:
            return JSONResponse({"error": f"unknown object {exc.args[0]!r}", "objects": list(backend.objects)}, 404)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"seeded": counts})

    async def records(request: Request) -> Response:
        object_name = request.path_params["object"]
        try:
            rows = backend.list_records(object_name)
        except UnknownObjectError:
            return JSONResponse(
                {"error": f"unknown object {object_name!r}", "objects": list(backend.objects)}, status_code=404
            )
        return JSONResponse({"object": object_name, "count": len(rows), "records": rows})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            backend.stats.reset()
        return JSONResponse(backend.stats.as_dict())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                backend.faults.configure(await json_body(request))
            except FaultPlanError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        elif request.method == "DELETE":
            backend.faults.clear()
        return JSONResponse(backend.faults.describe())

    async def snapshot(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not body.get("path"):
            return JSONResponse({"error": "body must be {'path': FILE}"}, status_code=400)
        if request.url.path.endswith("/restore"):
            backend.load_snapshot(body["path"])
            return JSONResponse({"restored": body["path"]})
        backend.save_snapshot(body["path"])
        return JSONResponse({"saved": body["path"]})

    return [
        Route(f"{ADMIN_PREFIX}health", health, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}reset", reset, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}seed", seed, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}records/{{object}}", records, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}stats", stats, methods=["GET", "DELETE"]),
        Route(f"{ADMIN_PREFIX}faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{ADMIN_PREFIX}snapshot", snapshot, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}restore", snapshot, methods=["POST"]),
    ]


class FaultAndStatsMiddleware:
    """Counts every API call by route template and applies call-level faults before the backend sees the call."""

    def __init__(self, app: ASGIApp, backend: EmulatorBackend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        fault = self.backend.faults.draw(method, path)
        if fault is not None:
            self.backend.stats.fault(fault.kind.value)
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay_seconds)
            elif fault.kind is FaultKind.EXPIRE_SESSION:
                self.backend.expire_sessions()
            elif fault.kind in BAD_RESPONSE_KINDS:
                await self._serve_damaged(scope, receive, send, fault)
                return
            elif fault.kind is FaultKind.RESET:
                self.backend.stats.request(f"{method} {path}")
                # Headers promise a body that never comes; uvicorn then closes the socket mid-response.
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
                return
            else:
                self.backend.stats.request(f"{method} {path}")
                response = self.backend.fault_response(fault, Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, self._send_counting(scope, send))

    async def _serve_damaged(self, scope: Scope, receive: Receive, send: Send, fault: Fault) -> None:
        """Let the backend answer in full, then damage the reply as the fault says before it leaves."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, self._send_counting(scope, capture))
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        status, headers, body = damage_response(fault, start["status"], list(start.get("headers", [])), body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _send_counting(self, scope: Scope, send: Send) -> Send:
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if not counted and message["type"] == "http.response.start":
                counted = True
                route = scope.get("route")
                template = getattr(route, "path", None) or scope["path"]
                self.backend.stats.request(f"{scope['method']} {template}")
            await send(message)

        return counting_send


def build_app(backend: EmulatorBackend) -> ASGIApp:
    app = Starlette(routes=[*_admin_routes(backend), *backend.routes()])
    app.state.backend = backend
    return FaultAndStatsMiddleware(app, backend)
