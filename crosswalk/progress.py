"""Progress of long command-line work on standard error, as sparse lines a person can follow and a log can keep.

A line says what finished (with its figures); while one thing runs long, a heartbeat line says how far it got, at
most every `interval` seconds: 10 s on a terminal, 60 s otherwise, so a CI log or a redirected file gets a line a
minute rather than a stream. Nothing goes to standard output, so what scripts parse there (--json, env exports,
benchmark tables) never changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

TERMINAL_INTERVAL = 10.0
LOG_INTERVAL = 60.0


class ProgressLog:
    def __init__(self, stream: TextIO | None = None, *, interval: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if interval is None:
            isatty = getattr(self.stream, "isatty", None)
            interval = TERMINAL_INTERVAL if isatty is not None and isatty() else LOG_INTERVAL
        self.interval = interval
        self._last = time.monotonic()

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
