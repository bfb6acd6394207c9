"""The one retry loop every API client uses: bounded, jittered exponential backoff that honours Retry-After.

When retries run out because no connection could be opened, the error names the server (scheme://host:port, never
credentials, path or query) and, through the policy's ConnectionCircuit, every later call for the same system in
the run fails at once with the same error instead of spending the whole backoff again.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import requests
import urllib3

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


# Failures to open a connection at all (refused, name not resolved, connect timeout): the server is unreachable.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    requests.ConnectTimeout,
    urllib3.exceptions.ConnectTimeoutError,  # NewConnectionError and NameResolutionError too
    ConnectionRefusedError,
    socket.gaierror,
)
DEFAULT_PORTS = {"http": 80, "https": 443}


class ConnectionCircuit:
    """One system's memory, for one run, that its server could not be connected to: set when a call ran out of
    retries that way, after which every call of that system fails at once with the same error."""

    def __init__(self) -> None:
        self.failure: RetriesExhaustedError | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    circuit: ConnectionCircuit | None = field(default=None, compare=False, repr=False)

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
    circuit = policy.circuit
    if circuit is not None and circuit.failure is not None:
        known = circuit.failure
        raise RetriesExhaustedError(known.operation, known.attempts, known.last, known.origin, known.detail)
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
                error = exhausted(describe, attempt, exc)
                if circuit is not None and error.origin is not None:
                    circuit.failure = error
                raise error from exc
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            reason = exc.reason if isinstance(exc, TransientError) else type(exc).__name__
            if meter is not None:
                meter.retries += 1
                meter.retry_reasons[reason] = meter.retry_reasons.get(reason, 0) + 1
            sleep(policy.delay(attempt, retry_after, rng))


def exhausted(operation: str, attempts: int, last: BaseException) -> RetriesExhaustedError:
    """The error for retries run out on `last`, naming the server when no connection could be opened to it."""
    if isinstance(last, TransientError):
        return RetriesExhaustedError(operation, attempts, last)
    detail = _without_query(str(last))
    if not any(isinstance(cause, CONNECT_ERRORS) for cause in _causes(last)):
        return RetriesExhaustedError(operation, attempts, last, detail=detail)
    origin = _origin(last) or "the server"
    # The operating system's words (e.g. "[Errno 111] Connection refused") say it without repeating the URL.
    reason = next((str(c) for c in _causes(last) if isinstance(c, OSError) and c.errno is not None), None)
    timed_out = any(isinstance(c, httpx.ConnectTimeout | requests.ConnectTimeout | TimeoutError) for c in _causes(last))
    return RetriesExhaustedError(
        operation, attempts, last, origin=origin, detail=reason or ("connect timeout" if timed_out else detail)
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: chained causes, urllib3's `reason`, requests' wrapped first argument."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args[:1]]
        pending.extend(w for w in wrapped if isinstance(w, BaseException))


def _origin(exc: BaseException) -> str | None:
    """scheme://host:port of the request an error was about, without credentials, path or query."""
    for cause in _causes(exc):
        url: object = None
        if isinstance(cause, httpx.RequestError):
            try:
                url = str(cause.request.url)
            except RuntimeError:  # raised without its request
                continue
        else:
            url = getattr(getattr(cause, "request", None), "url", None)
        if isinstance(url, str) and url:
            parts = urlsplit(url)
            if parts.scheme and parts.hostname:
                host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                try:
                    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
                except ValueError:
                    port = None
                return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return None


def _without_query(text: str) -> str:
    """Error text with URL query strings cut (requests names the URL it failed on; its query may hold a filter or
    a token)."""
    return re.sub(r"\?[^\s()'\"]+", "", text)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare in these APIs and ignored)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None
