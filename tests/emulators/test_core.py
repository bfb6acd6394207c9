"""The shared emulator machinery: admin API, stats, faults (reproducible from a seed), snapshots, TLS."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulators.core.backend import EmulatorBackend, UnknownObjectError, build_app
from emulators.core.faults import Fault, FaultInjector, FaultPlanError
from emulators.core.server import serve_in_thread
from emulators.core.tls import create_sandbox_certificates


class NotesBackend(EmulatorBackend):
    """A minimal backend: one object, one read route and one write route."""

    name = "notes"
    objects = ("Note",)

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, dict[str, Any]] = {}
        self.session_valid = True

    def routes(self) -> list[BaseRoute]:
        async def list_notes(_: Request) -> Response:
            if not self.session_valid:
                return JSONResponse({"error": "expired"}, status_code=401)
            self.stats.read()
            return JSONResponse(list(self.notes.values()))

        async def add_note(request: Request) -> Response:
            body = await request.json()
            if self.faults.draw_record_error("Note"):
                return JSONResponse({"error": "record rejected"}, status_code=400)
            self.notes[body["Id"]] = body
            self.stats.write(1)
            return JSONResponse(body, status_code=201)

        return [Route("/notes", list_notes, methods=["GET"]), Route("/notes", add_note, methods=["POST"])]

    def reset(self) -> None:
        self.notes = {}

    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        for name, rows in records.items():
            if name != "Note":
                raise UnknownObjectError(name)
            for row in rows:
                self.notes[row["Id"]] = {**row, "SystemStamp": self.clock.tick().isoformat()}
        return {name: len(rows) for name, rows in records.items()}

    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        if object_name != "Note":
            raise UnknownObjectError(object_name)
        return list(self.notes.values())

    def generate(self, world: Any) -> dict[str, int]:
        return {}

    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        return {"NOTES_URL": origin}

    def expire_sessions(self) -> None:
        self.session_valid = False

    def fault_response(self, fault: Fault, request: Request) -> Response:
        status = fault.status or (429 if fault.kind == "throttle" else 503)
        return JSONResponse({"error": fault.kind.value}, status_code=status)


@pytest.fixture
def notes() -> Any:
    backend = NotesBackend()
    server = serve_in_thread(build_app(backend))
    yield backend, server.origin
    server.stop()


def test_admin_seed_records_stats_and_reset(notes: Any) -> None:
    _, origin = notes
    with httpx.Client(base_url=origin) as client:
        assert client.get("/__admin/health").json()["status"] == "ok"
        seeded = client.post("/__admin/seed", json={"records": {"Note": [{"Id": "1"}, {"Id": "2"}]}})
        assert seeded.json() == {"seeded": {"Note": 2}}
        assert client.post("/__admin/seed", json={"records": {"Nope": []}}).status_code == 404
        records = client.get("/__admin/records/Note").json()
        assert records["count"] == 2 and records["records"][0]["SystemStamp"] < records["records"][1]["SystemStamp"]
        assert client.get("/__admin/records/Nope").status_code == 404
        client.get("/notes")
        client.post("/notes", json={"Id": "3"})
        stats = client.get("/__admin/stats").json()
        assert stats["total"] == 2 and stats["reads"] == 1 and stats["writes"] == 1 and stats["records_written"] == 1
        assert stats["per_route"] == {"GET /notes": 1, "POST /notes": 1}
        client.post("/__admin/reset")
        assert client.get("/__admin/records/Note").json()["count"] == 0
        assert client.get("/__admin/stats").json()["total"] == 0


def test_faults_for_next_n_calls_then_normal(notes: Any) -> None:
    _, origin = notes
    with httpx.Client(base_url=origin) as client:
        plan = {"faults": [{"kind": "throttle", "count": 2, "path": "^/notes$", "method": "GET"}]}
        assert client.post("/__admin/faults", json=plan).status_code == 200
        assert [client.get("/notes").status_code for _ in range(3)] == [429, 429, 200]
        assert client.get("/__admin/faults").json()["faults"][0]["fired"] == 2
        assert client.get("/__admin/stats").json()["faults_injected"] == {"throttle": 2}


def test_fault_rate_is_reproducible_from_seed(notes: Any) -> None:
    _, origin = notes

    def pattern() -> list[int]:
        with httpx.Client(base_url=origin) as client:
            client.post("/__admin/faults", json={"seed": 7, "faults": [{"kind": "server_error", "rate": 0.5}]})
            return [client.get("/notes").status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second and 503 in first and 200 in first


def test_reset_drops_the_connection_and_expiry_reaches_the_backend(notes: Any) -> None:
    _, origin = notes
    with httpx.Client(base_url=origin) as client:
        client.post("/__admin/faults", json={"faults": [{"kind": "reset"}]})
        with pytest.raises(httpx.TransportError):
            client.get("/notes")
        client.post("/__admin/faults", json={"faults": [{"kind": "expire_session"}]})
        assert client.get("/notes").status_code == 401
        client.post("/__admin/faults", json={"faults": [{"kind": "record_error", "object": "Note", "count": 1}]})
        assert client.post("/notes", json={"Id": "9"}).status_code == 400
        assert client.post("/notes", json={"Id": "9"}).status_code == 201


def test_bad_fault_plans_are_refused_with_a_reason() -> None:
    injector = FaultInjector()
    with pytest.raises(FaultPlanError, match="kind"):
        injector.configure({"faults": [{"kind": "meteor"}]})
    with pytest.raises(FaultPlanError, match="rate"):
        injector.configure({"faults": [{"kind": "throttle", "rate": 2}]})


def test_snapshot_round_trip(tmp_path: Path) -> None:
    backend = NotesBackend()
    backend.seed({"Note": [{"Id": "1"}]})
    backend.save_snapshot(tmp_path / "notes.snap")
    restored = NotesBackend()
    restored.load_snapshot(tmp_path / "notes.snap")
    assert restored.list_records("Note") == backend.list_records("Note")


def test_tls_server_is_trusted_through_the_bundle(tmp_path: Path) -> None:
    certs = create_sandbox_certificates(tmp_path)
    server = serve_in_thread(build_app(NotesBackend()), certs.cert_file, certs.key_file)
    try:
        assert server.origin.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(certs.bundle_file))) as client:
            assert client.get(f"{server.origin}/__admin/health").status_code == 200
        with pytest.raises(httpx.ConnectError), httpx.Client() as client:
            client.get(f"{server.origin}/__admin/health")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ({"kind": "truncated"}, lambda r: r.status_code == 200),
        ({"kind": "html"}, lambda r: r.headers["content-type"].startswith("text/html") and "<html>" in r.text),
        ({"kind": "wrong_content_type"}, lambda r: r.headers["content-type"].startswith("text/plain") and r.json()),
        ({"kind": "drop_field", "field": "Id"}, lambda r: r.json() == [{"Name": "one"}]),
    ],
)
def test_bad_response_faults_damage_the_real_reply(notes: Any, fault: dict[str, Any], check: Any) -> None:
    backend, origin = notes
    backend.seed({"Note": [{"Id": "1", "Name": "one"}]})
    backend.notes["1"].pop("SystemStamp")
    with httpx.Client(base_url=origin) as client:
        intact = client.get("/notes")
        client.post("/__admin/faults", json={"faults": [{**fault, "path": "^/notes$"}]})
        damaged = client.get("/notes")
        assert check(damaged), damaged.text
        assert client.get("/notes").content == intact.content  # one call only
    if fault["kind"] == "truncated":
        assert len(damaged.content) == len(intact.content) // 2
