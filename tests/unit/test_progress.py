"""ProgressLog: lines now, heartbeats at most once an interval, the interval from CROSSWALK_PROGRESS_SECONDS."""

from __future__ import annotations

import io
import os
import re

import pytest

from crosswalk.progress import INTERVAL_ENV, LOG_INTERVAL, ProgressLog, process_memory


def test_heartbeat_waits_for_its_interval_and_builds_its_line_only_then() -> None:
    stream = io.StringIO()
    built: list[str] = []

    def line() -> str:
        built.append("built")
        return "still going"

    quiet = ProgressLog(stream, interval=3600)
    quiet.heartbeat(line)
    quiet.say("stage done")
    assert (stream.getvalue(), built) == ("stage done\n", [])
    chatty = ProgressLog(stream, interval=0.0)
    chatty.heartbeat(line)
    assert (stream.getvalue(), built) == ("stage done\nstill going\n", ["built"])


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert ProgressLog(io.StringIO()).interval == LOG_INTERVAL  # not a terminal: a line a minute
    monkeypatch.setenv(INTERVAL_ENV, "2.5")
    assert ProgressLog(io.StringIO()).interval == 2.5
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        stream = io.StringIO()
        assert ProgressLog(stream).interval == LOG_INTERVAL
        assert stream.getvalue() == (
            f"{INTERVAL_ENV} must be a number of seconds above 0, got {bad!r}: a progress line every 60s\n"
        )


def test_process_memory_of_this_process() -> None:
    memory = process_memory(os.getpid())
    assert memory is not None and re.fullmatch(r"\d+ MB|\d+\.\d GB", memory)
    assert process_memory(2**22 + 1) is None  # above Linux's largest process id: no such process
