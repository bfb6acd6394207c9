"""Progress of long command-line work on standard error, as sparse lines a person can follow and a log can keep.

A line says what finished (with its figures); while one thing runs long, a heartbeat line says how far it got, at
most every `interval` seconds: 10 s on a terminal, 60 s otherwise, so a CI log or a redirected file gets a line a
minute rather than a stream; CROSSWALK_PROGRESS_SECONDS sets another interval. Nothing goes to standard output, so
what scripts parse there (--json, env exports, benchmark tables) never changes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

INTERVAL_ENV = "CROSSWALK_PROGRESS_SECONDS"
TERMINAL_INTERVAL = 10.0
LOG_INTERVAL = 60.0


class ProgressLog:
    def __init__(self, stream: TextIO | None = None, *, interval: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval if interval is not None else self._interval_from_env()
        self._last = time.monotonic()

    def _interval_from_env(self) -> float:
        isatty = getattr(self.stream, "isatty", None)
        default = TERMINAL_INTERVAL if isatty is not None and isatty() else LOG_INTERVAL
        text = os.environ.get(INTERVAL_ENV, "").strip()
        if not text:
            return default
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            print(f"{INTERVAL_ENV} must be a number of seconds above 0, got {text!r}: a progress line every "
                  f"{default:.0f}s", file=self.stream, flush=True)  # fmt: skip
            return default
        return seconds

    def say(self, message: str) -> None:
        """One line now; the next heartbeat waits a whole interval from here."""
        print(message, file=self.stream, flush=True)
        self._last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval

    def heartbeat(self, message: Callable[[], str]) -> None:
        """A line when an interval has passed since the last one; `message` is only built then (it may cost a
        call, such as asking an emulator how many requests it has served)."""
        if self.due():
            self.say(message())


def process_memory(pid: int) -> str | None:
    """A process's resident memory, as `1.2 GB` or `340 MB` (from /proc; None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    kilobytes = int(line.split()[1])
                    break
            else:
                return None
    except (OSError, ValueError, IndexError):
        return None
    if kilobytes >= 1024 * 1024:
        return f"{kilobytes / 1024 / 1024:.1f} GB"
    return f"{kilobytes / 1024:.0f} MB"
