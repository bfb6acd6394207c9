"""The benchmarks report progress on standard error (each emulator ready, a heartbeat with the calls served while a
measurement runs, each measurement as it ends) and keep standard output to their tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from crosswalk.progress import INTERVAL_ENV
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow


def test_bench_extract_progress_goes_to_stderr_and_the_table_to_stdout() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "extract"), "--scale", "3000", "--streams", "intacct.PROJECT"],
        cwd=REPO, env={**os.environ, INTERVAL_ENV: "0.2"}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout.splitlines()
    assert out[0].startswith("machine: nproc ") and out[1].startswith("command: ")
    assert not any("running for" in line or " ready after " in line for line in out)
    [row] = [line for line in out if line.startswith("| intacct | PROJECT |")]
    records = int(row.split("|")[3])

    err = result.stderr.splitlines()
    assert any(re.fullmatch(r"intacct ready after \d+\.\ds \(\d+\.\ds generating [\d,]+ records\)", line)
               for line in err)  # fmt: skip
    heartbeat = re.compile(r"intacct\.PROJECT (raw|crosswalk): running for \d+s, \d+ calls")
    beats = [line for line in err if heartbeat.fullmatch(line)]
    assert beats, err
    # Calls only grow while a measurement runs, and every measurement ends with its figures.
    for kind in ("raw", "crosswalk"):
        calls = [int(line.split(", ")[-1].split()[0]) for line in beats if f" {kind}: " in line]
        assert calls == sorted(calls)
        assert any(line.startswith(f"intacct.PROJECT {kind}: {records} records, ") for line in err)
