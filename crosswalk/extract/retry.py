"""The one retry loop every API client uses: bounded, jittered exponential backoff that honours Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import requests

from crosswalk.extract.errors import RetriesExhaustedError, TransientError

T = TypeVar("T")

# Connection-level failures every client can hit; the rest is classified by each client into TransientError.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1`: Retry-After when given (capped), else jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class CallMeter:
    """API calls and retries made on behalf of one stream (reported in its run metadata)."""

    calls: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.calls = 0
        self.retries = 0
        self.retry_reasons = {}


def call_with_retry(
    operation: Callable[[], T],
    *,
    describe: str,
    policy: RetryPolicy,
    meter: CallMeter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run `operation`, retrying TransientError and transport errors; each attempt counts as one API call."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        if meter is not None:
            meter.calls += 1
        try:
            return operation()
        except (TransientError, *TRANSPORT_ERRORS) as exc:
            if attempt >= policy.max_attempts:
                raise RetriesExhaustedError(describe, attempt, exc) from exc
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            reason = exc.reason if isinstance(exc, TransientError) else type(exc).__name__
            if meter is not None:
                meter.retries += 1
                meter.retry_reasons[reason] = meter.retry_reasons.get(reason, 0) + 1
            sleep(policy.delay(attempt, retry_after, rng))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare in these APIs and ignored)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None
