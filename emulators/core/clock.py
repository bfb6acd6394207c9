"""A clock whose stamps strictly increase, so modification-stamp watermarks are deterministic."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class EmulatorClock:
    """`tick()` returns the wall time, or one `resolution` past the previous tick when the wall clock has not moved.

    Vendors stamp records with second (Intacct, QBO) or millisecond (Salesforce) precision; two writes in the
    same instant get distinct, ordered stamps here, which is what a watermark-based reader relies on.
    """

    def __init__(self, resolution: timedelta = timedelta(milliseconds=1), offset: timedelta = timedelta()) -> None:
        self.resolution = resolution
        self.offset = offset  # lets tests move the emulator's "now" (e.g. to age CDC windows or tokens)
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def tick(self) -> datetime:
        with self._lock:
            current = self.now()
            if self.resolution >= timedelta(seconds=1):
                current = current.replace(microsecond=0)
            else:
                current = current.replace(microsecond=current.microsecond // 1000 * 1000)
            if self._last is not None and current <= self._last:
                current = self._last + self.resolution
            self._last = current
            return current

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.offset += delta

    def observe(self, stamp: datetime) -> None:
        """Make later ticks come after a stamp that was set directly (seeded data)."""
        with self._lock:
            if self._last is None or stamp > self._last:
                self._last = stamp
