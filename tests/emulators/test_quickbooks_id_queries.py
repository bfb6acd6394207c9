"""The QBO emulator's query language on Id, as real QBO has it: only `=` and `IN` filter on Id (any other operator is
4001 `QueryValidationError`), while `ORDERBY Id` with STARTPOSITION/MAXRESULTS pages every row in numeric Id order."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import ValidationException

from tests.quickbooks_client import connected_quickbooks

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def qbo(start_emulator: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, QuickBooks]]:
    """(the running emulator, python-quickbooks connected to it)."""
    emulator = start_emulator("quickbooks", scale="demo", seed=1)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    with connected_quickbooks(emulator.env) as qb:
        yield emulator, qb


@pytest.mark.parametrize("condition", ["Id > '1005'", "Id >= '1005'", "Id < '1005'", "Id <= '1005'", "Id LIKE '10%'"])
def test_an_id_range_or_pattern_is_refused_with_4001(qbo: tuple[Any, QuickBooks], condition: str) -> None:
    _emulator, qb = qbo
    with pytest.raises(ValidationException) as refused:
        qb.query(f"SELECT * FROM Customer WHERE {condition} ORDERBY Id MAXRESULTS 10")
    operator = condition.split()[1]
    assert refused.value.error_code == 4001
    assert refused.value.detail == f"QueryValidationError: Operator {operator} not supported for property Id"


def test_id_equality_in_and_orderby_id_offsets_are_served(qbo: tuple[Any, QuickBooks]) -> None:
    emulator, qb = qbo
    stored = sorted((c["Id"] for c in emulator.backend.list_records("Customer")), key=int)
    one = qb.query(f"SELECT * FROM Customer WHERE Id = '{stored[0]}' AND Active IN (true, false)")
    assert [c["Id"] for c in one["QueryResponse"]["Customer"]] == [stored[0]]
    some = qb.query(f"SELECT * FROM Customer WHERE Id IN ('{stored[1]}', '{stored[2]}') AND Active IN (true, false)")
    assert sorted(c["Id"] for c in some["QueryResponse"]["Customer"]) == stored[1:3]

    paged: list[str] = []
    start = 1
    while True:
        reply = qb.query(f"SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id STARTPOSITION {start} "
                         "MAXRESULTS 7")["QueryResponse"]  # fmt: skip
        page = [c["Id"] for c in reply.get("Customer", [])]
        paged.extend(page)
        if len(page) < 7:
            break
        start += 7
    assert paged == stored
