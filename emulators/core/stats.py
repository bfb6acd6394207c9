"""Request counters served by /__admin/stats: what a client cost the API."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.per_route: Counter[str] = Counter()
            self.reads = 0
            self.writes = 0
            self.records_written = 0
            self.sessions = 0
            self.faults: Counter[str] = Counter()

    def request(self, route: str) -> None:
        with self._lock:
            self.total += 1
            self.per_route[route] += 1

    def read(self, calls: int = 1) -> None:
        """A call that only read data (queries, reads, describes, paging)."""
        with self._lock:
            self.reads += calls

    def write(self, records: int, calls: int = 1) -> None:
        """A call that created, changed or deleted data; `records` is how many records it wrote."""
        with self._lock:
            self.writes += calls
            self.records_written += records

    def session(self) -> None:
        """A login or token call."""
        with self._lock:
            self.sessions += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "per_route": dict(sorted(self.per_route.items())),
                "reads": self.reads,
                "writes": self.writes,
                "records_written": self.records_written,
                "sessions": self.sessions,
                "faults_injected": dict(self.faults),
            }
