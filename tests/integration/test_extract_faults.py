"""Bad responses and transient failures, the same rules for every system: one table, one set of tests.

A bad response (truncated, HTML, wrong content type, a record without its key) stops only that stream, with an error
naming system, object and page and the watermark left where the run found it; transient failures (throttling, 5xx,
reset connections, on the API and on the token endpoint) are retried and counted in the run's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crosswalk.extract.errors import BadResponseError
from tests.integration.extract_support import HarnessFactory


@dataclass(frozen=True)
class FaultCase:
    stream: str  # the stream a fault is aimed at
    other_stream: str  # a stream of the same system that must still extract afterwards
    api_path: str  # regex of the API route the stream's pages use
    token_path: str | None  # regex of the token endpoint (None: sessions open through api_path)
    key_field: str
    not_parseable: str  # how the error describes a truncated body


CASES = {
    # Every Intacct gateway call shares one path; the session is opened first so the fault hits a page.
    "intacct": FaultCase("PROJECT", "CUSTOMER", "/ia/xml/xmlgw", None, "RECORDNO", "not well-formed XML"),
    "salesforce": FaultCase("Opportunity", "Account", "/queryAll", "/services/oauth2/token", "Id", "not valid JSON"),
    "quickbooks": FaultCase("Customer", "Vendor", "/query$", "/oauth2/v1/tokens/bearer", "Id", "not JSON"),
    "esp": FaultCase("companies", "contacts", "/companies/search", "/oauth2/token", "Id", "not valid JSON"),
}
BAD_RESPONSES = {
    "truncated": ({"kind": "truncated"}, None),
    "html": ({"kind": "html"}, "text/html"),
    "wrong_content_type": ({"kind": "wrong_content_type"}, "text/plain"),
    "missing_key": ({"kind": "drop_field"}, "has no"),
}


@pytest.mark.parametrize("damage", list(BAD_RESPONSES))
@pytest.mark.parametrize("system", list(CASES))
def test_a_bad_response_stops_only_that_stream_and_keeps_its_watermark(
    extract_harness: HarnessFactory, system: str, damage: str
) -> None:
    case = CASES[system]
    harness = extract_harness(system)
    source = harness.source()
    harness.run(case.stream, source)
    watermark = harness.store.get_watermark(system, case.stream)
    assert watermark is not None

    rule, problem = BAD_RESPONSES[damage]
    if damage == "missing_key":
        rule = {**rule, "field": case.key_field}
        problem = f"record 1 has no {case.key_field}"
    harness.fault(path=case.api_path, count=1, **rule)
    with pytest.raises(BadResponseError) as raised:
        harness.run(case.stream, source)
    error = raised.value
    assert (error.system, error.object_name, error.page) == (system, case.stream, 1)
    assert str(error).startswith(f"{system} {case.stream}: page 1: "), str(error)
    assert (problem or case.not_parseable) in str(error), str(error)
    assert harness.store.get_watermark(system, case.stream) == watermark
    assert harness.store.latest_extract_runs()[(system, case.stream)]["status"] == "failed"

    assert harness.run(case.other_stream, source).error is None
    assert harness.run(case.stream, source).error is None  # and the stream itself recovers on the next run


# Token-endpoint failures only where the system has one (Intacct logs in through the gateway call itself).
TRANSIENT = [
    (system, failure)
    for system, case in CASES.items()
    for failure in ("throttle", "server_error", "reset", "token_throttle", "token_server_error")
    if case.token_path or not failure.startswith("token_")
]


@pytest.mark.parametrize(("system", "failure"), TRANSIENT)
def test_transient_failures_are_retried_and_counted(extract_harness: HarnessFactory, system: str, failure: str) -> None:
    case = CASES[system]
    on_token = failure.startswith("token_")
    harness = extract_harness(system)
    harness.fault(kind=failure.removeprefix("token_"), path=case.token_path if on_token else case.api_path, count=2)
    result = harness.run(case.stream, harness.source())
    assert result.error is None
    assert result.retries >= 2 and sum(result.retry_reasons.values()) == result.retries
    assert harness.staged_keys(case.stream, include_deleted=True)
    assert harness.store.latest_extract_runs()[(system, case.stream)]["retries"] == result.retries
