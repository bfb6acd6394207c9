"""Fault injection, reproducible from a seed: which call fails, and how.

A plan is a list of rules posted to /__admin/faults. Each rule matches calls by path (regex) and method and
fires either for the next `count` matching calls or at a `rate` (0..1) drawn from the plan's seeded RNG, so the
same plan against the same call sequence fails the same calls.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    THROTTLE = "throttle"  # the API's own rate-limit reply (429 or its equivalent)
    SERVER_ERROR = "server_error"  # a 5xx in the API's own outage shape
    SLOW = "slow"  # the reply is delayed by delay_seconds, then served normally
    RESET = "reset"  # the server sends headers then drops the connection
    EXPIRE_SESSION = "expire_session"  # every live session/token is expired before the call is served
    RECORD_ERROR = "record_error"  # one record of a write fails with the API's per-record error
    # Bad responses: the real reply, damaged on the way out.
    TRUNCATED = "truncated"  # the body is cut in half (a dropped connection behind a proxy)
    HTML = "html"  # a 200 HTML page instead of the API's reply (a captive portal or maintenance page)
    WRONG_CONTENT_TYPE = "wrong_content_type"  # the real body labelled text/plain
    DROP_FIELD = "drop_field"  # the first occurrence of `field` (JSON key or XML element) is removed from the body


BAD_RESPONSE_KINDS = frozenset(
    {FaultKind.TRUNCATED, FaultKind.HTML, FaultKind.WRONG_CONTENT_TYPE, FaultKind.DROP_FIELD}
)


class FaultPlanError(ValueError):
    pass


@dataclass
class Fault:
    kind: FaultKind
    path: str | None = None
    method: str | None = None
    rate: float | None = None
    count: int | None = None
    status: int | None = None
    delay_seconds: float = 0.0
    retry_after: float | None = None
    object: str | None = None
    message: str | None = None
    target_field: str | None = None  # "field" in the plan: what DROP_FIELD removes
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Fault:
        try:
            kind = FaultKind(raw["kind"])
        except (KeyError, ValueError) as exc:
            raise FaultPlanError(
                f"fault needs 'kind', one of {[k.value for k in FaultKind]}; got {raw.get('kind')!r}"
            ) from exc
        rate = raw.get("rate")
        count = raw.get("count")
        if rate is None and count is None:
            count = 1
        if rate is not None and not 0 <= float(rate) <= 1:
            raise FaultPlanError(f"fault 'rate' must be within 0..1, got {rate!r}")
        if kind is FaultKind.DROP_FIELD and not raw.get("field"):
            raise FaultPlanError("a drop_field fault needs 'field' (the JSON key or XML element to remove)")
        if count is not None and int(count) < 0:
            raise FaultPlanError(f"fault 'count' must be >= 0, got {count!r}")
        path = raw.get("path")
        try:
            pattern = re.compile(path) if path else None
        except re.error as exc:
            raise FaultPlanError(f"fault 'path' is not a valid regular expression: {exc}") from exc
        return cls(
            kind=kind,
            path=path,
            method=(raw.get("method") or None) and str(raw["method"]).upper(),
            rate=float(rate) if rate is not None else None,
            count=int(count) if count is not None else None,
            status=int(raw["status"]) if raw.get("status") is not None else None,
            delay_seconds=float(raw.get("delay_seconds", 0.0)),
            retry_after=float(raw["retry_after"]) if raw.get("retry_after") is not None else None,
            object=raw.get("object"),
            message=raw.get("message"),
            target_field=raw.get("field"),
            _pattern=pattern,
        )

    def as_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "rate": self.rate,
            "count": self.count,
            "status": self.status,
            "delay_seconds": self.delay_seconds,
            "retry_after": self.retry_after,
            "object": self.object,
            "message": self.message,
            "field": self.target_field,
            "fired": self.fired,
        }
        return {k: v for k, v in out.items() if v is not None}

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return not (self._pattern and not self._pattern.search(path))

    def exhausted(self) -> bool:
        return self.rate is None and self.count is not None and self.count <= 0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.seed: int = 0
        self._rng = random.Random(0)

    def configure(self, plan: dict[str, Any]) -> None:
        """Replace the plan: {"seed": int, "faults": [rule, ...]} (a single rule dict is accepted too)."""
        rules = plan.get("faults")
        if rules is None and "kind" in plan:
            rules = [plan]
        if not isinstance(rules, list):
            raise FaultPlanError("body must be {'seed': int, 'faults': [{'kind': ..., ...}, ...]}")
        faults = [Fault.from_dict(rule) for rule in rules]
        with self._lock:
            self.faults = faults
            self.seed = int(plan.get("seed", 0))
            self._rng = random.Random(self.seed)

    def clear(self) -> None:
        with self._lock:
            self.faults = []
            self._rng = random.Random(self.seed)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "faults": [f.as_dict() for f in self.faults]}

    def draw(self, method: str, path: str) -> Fault | None:
        """The call-level fault (anything but RECORD_ERROR) that fires for this call, if any."""
        return self._draw(lambda f: f.kind is not FaultKind.RECORD_ERROR and f.matches(method, path))

    def draw_record_error(self, object_name: str) -> Fault | None:
        """Consulted by a backend once per record it is about to write."""
        return self._draw(lambda f: f.kind is FaultKind.RECORD_ERROR and (f.object is None or f.object == object_name))

    def _draw(self, predicate: Any) -> Fault | None:
        if not self.faults:
            return None
        with self._lock:
            for fault in self.faults:
                if fault.exhausted() or not predicate(fault):
                    continue
                if fault.rate is not None:
                    if self._rng.random() >= fault.rate:
                        continue
                elif fault.count is not None:
                    fault.count -= 1
                fault.fired += 1
                return fault
        return None
