"""Progress of `crosswalk sandbox` while the emulators generate their data: a line on standard error as each is
ready, a heartbeat naming those still generating, and standard output left to the env exports alone."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crosswalk.progress import ProgressLog
from crosswalk.sandbox import Sandbox
from tests.e2e.conftest import REPO
from tests.e2e.test_sandbox_command import read_exports

pytestmark = pytest.mark.slow
SYSTEMS = ("intacct", "salesforce", "quickbooks", "esp")
READY = re.compile(r"^(\w+) ready after \d+\.\ds \(\d+\.\ds generating ([\d,]+) records\)$")


def test_sandbox_command_reports_each_emulator_on_stderr_and_keeps_stdout_to_the_exports(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    crosswalk = Path(sys.executable).parent / "crosswalk"
    process = subprocess.Popen(
        [str(crosswalk), "sandbox", "--env-file", str(env_file), "--scale", "2000", "--state-dir", str(tmp_path / "s")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "CROSSWALK_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not env_file.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no env file after 300 s"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    # Standard output is exactly what the env file holds: the progress went elsewhere.
    assert read_exports(stdout) == read_exports(env_file.read_text())
    assert all(line.startswith(("#", "export ")) for line in stdout.splitlines())

    lines = stderr.splitlines()
    ready = {m.group(1): int(m.group(2).replace(",", "")) for line in lines if (m := READY.match(line))}
    assert set(ready) == set(SYSTEMS)
    # Each ready line counts the records the emulator then lists by object, and comes before that list.
    for system, records in ready.items():
        [summary] = [line for line in lines if line.startswith(f"{system:<11} http")]
        listed = sum(int(count) for count in re.findall(r" (\d+)(?:,|\))", summary))
        assert records == listed > 2000
        assert lines.index(summary) > next(n for n, line in enumerate(lines) if line.startswith(f"{system} ready "))


def test_sandbox_heartbeat_names_the_emulators_still_generating(tmp_path: Path) -> None:
    stream = io.StringIO()
    progress = ProgressLog(stream, interval=0.2)
    with Sandbox(state_dir=tmp_path / "s", scale="demo", counts={"tasks": 20000}, systems=("intacct",),
                 progress=progress):  # fmt: skip
        pass
    lines = stream.getvalue().splitlines()
    beats = [line for line in lines if line.startswith("still generating after ")]
    assert beats, lines
    assert all(re.fullmatch(r"still generating after \d+s: intacct \(\d+ MB\)", beat) for beat in beats), beats
    assert READY.match(lines[-1]) and lines[-1].startswith("intacct ready after ")
