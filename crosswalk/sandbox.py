"""`crosswalk sandbox`: the four emulators on free loopback ports, seeded, and an env file pointing Crosswalk at them.

Each emulator runs in its own process (python -m emulators.serve), so the four generate their data in parallel
and serve with their own interpreter. Salesforce and QuickBooks Online are served over HTTPS with a CA made at start.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from crosswalk.config import config_path
from crosswalk.progress import ProgressLog, process_memory
from crosswalk.settings import (
    AUTOMATION_ENV,
    CONFIG_ENV,
    DATABASE_URL_ENV,
    crosswalk_home,
    database_url_from_env,
)
from emulators.core.tls import create_sandbox_certificates
from emulators.registry import SYSTEMS, backend_class


class SandboxError(RuntimeError):
    pass


@dataclass
class EmulatorProcess:
    system: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    log_file: Path
    ready: dict[str, object] = field(default_factory=dict)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Sandbox:
    """Start with `with Sandbox(...) as sandbox:`; `sandbox.env` holds every variable Crosswalk needs."""

    def __init__(
        self,
        state_dir: Path | None = None,
        scale: str = "demo",
        seed: int = 1,
        counts: dict[str, int] | None = None,
        systems: tuple[str, ...] = tuple(SYSTEMS),
        ready_timeout: float = 600.0,
        progress: ProgressLog | None = None,
    ) -> None:
        """`progress`, when given, gets a line as each emulator is ready and, while some still generate their
        data, a heartbeat naming them."""
        self.state_dir = state_dir or crosswalk_home() / "sandbox"
        self.scale = scale
        self.seed = seed
        self.counts = counts or {}
        self.systems = systems
        self.ready_timeout = ready_timeout
        self.progress = progress
        self.processes: list[EmulatorProcess] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> dict[str, str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        certs = create_sandbox_certificates(self.state_dir / "tls")
        for system in self.systems:
            ready_file = self.state_dir / f"{system}.ready.json"
            ready_file.unlink(missing_ok=True)
            log_file = self.state_dir / f"{system}.log"
            command = [
                sys.executable, "-m", "emulators.serve", system,
                "--scale", str(self.scale), "--seed", str(self.seed), "--ready-file", str(ready_file),
            ]  # fmt: skip
            for kind, count in self.counts.items():
                command += ["--count", f"{kind}={count}"]
            if backend_class(system).requires_tls:
                command += ["--cert-file", str(certs.cert_file), "--key-file", str(certs.key_file)]
                command += ["--ca-bundle", str(certs.bundle_file)]
            with log_file.open("wb") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.processes.append(EmulatorProcess(system, process, ready_file, log_file))
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        env: dict[str, str] = {
            DATABASE_URL_ENV: database_url_from_env(),
            CONFIG_ENV: str(config_path()),
            # Trying Crosswalk starts nothing by itself: its schedules and sensors stay off until turned on.
            AUTOMATION_ENV: "stopped",
        }
        for emulator in self.processes:
            env.update(emulator.ready["env"])  # type: ignore[arg-type]
        self.env = env
        return env

    def _wait_until_ready(self) -> None:
        started = time.monotonic()
        deadline = started + self.ready_timeout
        pending = list(self.processes)
        while pending:
            for emulator in list(pending):
                if emulator.ready_file.exists():
                    emulator.ready = json.loads(emulator.ready_file.read_text())
                    pending.remove(emulator)
                    if self.progress is not None:
                        self.progress.say(_ready_line(emulator, time.monotonic() - started))
                elif emulator.process.poll() is not None:
                    raise SandboxError(
                        f"the {emulator.system} emulator exited with code {emulator.process.returncode} before it "
                        f"was ready; its log ({emulator.log_file}) ends with:\n{emulator.log_tail()}"
                    )
            if pending and time.monotonic() > deadline:
                names = ", ".join(e.system for e in pending)
                raise SandboxError(f"emulators not ready after {self.ready_timeout:.0f}s: {names}")
            if pending and self.progress is not None:
                self.progress.heartbeat(lambda: _generating_line(pending, time.monotonic() - started))
            time.sleep(0.05)

    def origins(self) -> dict[str, str]:
        return {e.system: str(e.ready["origin"]) for e in self.processes}

    def seeded_counts(self) -> dict[str, dict[str, int]]:
        return {e.system: dict(e.ready.get("counts", {})) for e in self.processes}  # type: ignore[arg-type]

    def wait(self) -> int:
        """Serve until interrupted or until an emulator dies; returns the exit code to use."""
        while True:
            for emulator in self.processes:
                if emulator.process.poll() is not None:
                    print(
                        f"the {emulator.system} emulator stopped (code {emulator.process.returncode}); log:\n"
                        f"{emulator.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        for emulator in self.processes:
            if emulator.process.poll() is None:
                emulator.process.terminate()
        for emulator in self.processes:
            try:
                emulator.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emulator.process.kill()
                emulator.process.wait()
        self.processes = []


def _ready_line(emulator: EmulatorProcess, elapsed: float) -> str:
    counts = emulator.ready.get("counts") or {}
    records = sum(int(count) for count in counts.values()) if isinstance(counts, dict) else 0
    seeding = emulator.ready.get("seed_seconds")
    timing = f"{float(seeding):.1f}s generating" if isinstance(seeding, int | float) else "generated"
    return f"{emulator.system} ready after {elapsed:.1f}s ({timing} {records:,} records)"


def _generating_line(pending: list[EmulatorProcess], elapsed: float) -> str:
    """Which emulators still generate their data, with the memory each has taken so far (it grows as they do)."""
    parts = []
    for emulator in pending:
        memory = process_memory(emulator.process.pid)
        parts.append(f"{emulator.system} ({memory})" if memory else emulator.system)
    return f"still generating after {elapsed:.0f}s: {', '.join(parts)}"


def env_file_text(env: dict[str, str]) -> str:
    lines = ["# Crosswalk sandbox: `source` this file to point Crosswalk at the local emulators."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, env: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(env_file_text(env))
    tmp.chmod(0o600)  # it holds the sandbox's credentials
    tmp.replace(path)
