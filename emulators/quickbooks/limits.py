"""QBO's per-realm throttles: requests per minute, concurrent requests, and batch calls per minute.

Counted on the real (monotonic) clock in sliding one-minute windows; a call over any limit gets the 429
ThrottleExceeded reply. Defaults are QBO's published limits (research note §6).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class ThrottleSettings:
    requests_per_minute: int = 500
    concurrent_requests: int = 10
    batch_per_minute: int = 40
    throttle_body: str = "xml"  # "xml" as QBO's gateway really answers, or "json" (Fault code 3001)


class RealmThrottle:
    def __init__(self, settings: ThrottleSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._batches: deque[float] = deque()
        self.in_flight = 0

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._batches.clear()
            self.in_flight = 0

    @staticmethod
    def _within_minute(window: deque[float], now: float) -> int:
        while window and now - window[0] >= 60.0:
            window.popleft()
        return len(window)

    def enter(self, is_batch: bool) -> bool:
        """Admit one call (and hold a concurrency slot until `leave`), or refuse it: False means throttled."""
        now = time.monotonic()
        with self._lock:
            if self.in_flight >= self.settings.concurrent_requests:
                return False
            if self._within_minute(self._calls, now) >= self.settings.requests_per_minute:
                return False
            if is_batch and self._within_minute(self._batches, now) >= self.settings.batch_per_minute:
                return False
            self._calls.append(now)
            if is_batch:
                self._batches.append(now)
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
