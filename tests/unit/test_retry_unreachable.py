"""Retries run out on a server nobody listens at: the error names scheme://host:port only, and the system's circuit
makes later calls fail at once. Real httpx and requests calls to a refused loopback port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests

from crosswalk.extract.errors import RetriesExhaustedError, TransientError
from crosswalk.extract.retry import CallMeter, ConnectionCircuit, RetryPolicy, call_with_retry


@pytest.fixture
def refused_port() -> Iterator[int]:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused and the port stays ours
    yield closed.getsockname()[1]
    closed.close()


def no_sleep(_seconds: float) -> None:
    pass


def httpx_post(url: str) -> Callable[[], Any]:
    def call() -> Any:
        with httpx.Client(timeout=5) as client:
            return client.post(url, content=b"<request/>")

    return call


def requests_get(url: str) -> Callable[[], Any]:
    return lambda: requests.get(url, timeout=5)


@pytest.mark.parametrize("client", [httpx_post, requests_get], ids=["httpx", "requests"])
def test_the_error_names_the_server_without_credentials_path_or_query(client: Any, refused_port: int) -> None:
    url = f"http://crosswalk:hunter2@127.0.0.1:{refused_port}/v3/company/1/query?query=select&token=t0ps3cret"
    circuit = ConnectionCircuit()
    policy = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0, circuit=circuit)
    meter = CallMeter()
    with pytest.raises(RetriesExhaustedError) as caught:
        call_with_retry(client(url), describe="esp query", policy=policy, meter=meter, sleep=no_sleep)
    message = str(caught.value)
    assert message == (
        f"esp query: cannot connect to http://127.0.0.1:{refused_port}, still failing after 3 attempts: "
        "[Errno 111] Connection refused"
    )
    assert (meter.calls, meter.retries) == (3, 2)

    again = CallMeter()
    with pytest.raises(RetriesExhaustedError) as second:
        call_with_retry(client(url), describe="esp other", policy=policy, meter=again, sleep=no_sleep)
    assert str(second.value) == message
    assert (again.calls, again.retries) == (0, 0)


def test_other_failures_do_not_open_the_circuit() -> None:
    circuit = ConnectionCircuit()
    policy = RetryPolicy(max_attempts=2, base_delay=0, max_delay=0, circuit=circuit)

    def throttled() -> Any:
        raise TransientError("HTTP 503")

    with pytest.raises(RetriesExhaustedError, match="still failing after 2 attempts: HTTP 503"):
        call_with_retry(throttled, describe="salesforce query", policy=policy, sleep=no_sleep)
    assert circuit.failure is None
    assert call_with_retry(lambda: "ok", describe="salesforce query", policy=policy, sleep=no_sleep) == "ok"


def test_without_a_circuit_every_call_retries(refused_port: int) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=0, max_delay=0)
    url = f"http://127.0.0.1:{refused_port}/"
    for _ in range(2):
        meter = CallMeter()
        with pytest.raises(RetriesExhaustedError):
            call_with_retry(requests_get(url), describe="x", policy=policy, meter=meter, sleep=no_sleep)
        assert meter.calls == 2
