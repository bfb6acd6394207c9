"""Serving an emulator app on a loopback port with uvicorn: in a background thread (tests) or as the main loop."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0 = any free port), bound before uvicorn starts so the port is known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: ASGIApp, cert_file: Path | None = None, key_file: Path | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(cert_file) if cert_file else None,
        ssl_keyfile=str(key_file) if key_file else None,
        timeout_keep_alive=30,
        # Clients that keep a TLS connection open must not hold a stop (tests, Ctrl-C) for uvicorn's default wait.
        timeout_graceful_shutdown=1,
        backlog=2048,
    )


@dataclass
class ThreadedServer:
    """An emulator served from a daemon thread of the current process; `origin` is scheme://host:port."""

    server: uvicorn.Server
    thread: threading.Thread
    origin: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: ASGIApp, cert_file: Path | None = None, key_file: Path | None = None) -> ThreadedServer:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, cert_file, key_file))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"emulator-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"emulator server on port {port} did not start")
        time.sleep(0.01)
    scheme = "https" if cert_file else "http"
    return ThreadedServer(server=server, thread=thread, origin=f"{scheme}://{LOOPBACK}:{port}")
