"""Stamp-range queries answered by bisection give exactly what filtering every record gives.

The Intacct and QBO emulators cut a cached, ordered row set at the bound of a leading `stamp >= x` condition
(the way incremental readers page); these tests compare that path with the plain predicate path."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.esp.search import Tail
from emulators.intacct.backend import IntacctBackend
from emulators.intacct.querylang import Combination, Comparison
from emulators.intacct.schema import SCHEMAS
from emulators.intacct.values import format_timestamp
from emulators.quickbooks.backend import QuickBooksBackend
from emulators.quickbooks.query import compile_where, parse_query, sort_records
from emulators.world import World


@pytest.fixture(scope="module")
def intacct() -> IntacctBackend:
    backend = IntacctBackend()
    backend.generate(World(seed=5, scale=300))
    return backend


@pytest.fixture(scope="module")
def quickbooks() -> QuickBooksBackend:
    backend = QuickBooksBackend()
    backend.generate(World(seed=5, scale=300))
    return backend


def _bounds(stamps: list[Any]) -> list[Any]:
    ordered = sorted(set(stamps))
    middle = ordered[len(ordered) // 2]
    return [ordered[0], middle, ordered[-1]]


@pytest.mark.parametrize("op", ["ge", "gt"])
@pytest.mark.parametrize("object_name", ["PROJECT", "TASK", "CUSTOMER"])
def test_intacct_stamp_range_matches_the_filtered_rows(intacct: IntacctBackend, object_name: str, op: str) -> None:
    model = intacct.model
    schema = SCHEMAS[object_name]
    orderby = (("WHENMODIFIED", True), ("RECORDNO", True))
    stamps = [model.value(object_name, r, "WHENMODIFIED") for r in model.tables[object_name].values()]
    assert len(stamps) > 10
    for bound in _bounds(stamps):
        text = format_timestamp(bound)
        ranged = Comparison("WHENMODIFIED", op, (text,))
        # `or` over one part is the same condition but is not recognised as a range: the predicate path.
        filtered = Combination("or", (ranged,))
        expected = model.select(schema, filtered, "", True, orderby)
        assert model.select(schema, ranged, "", True, orderby) == expected
        with_rest = Combination("and", (Comparison("RECORDNO", "gt", ("3",)), ranged))
        assert model.select(schema, with_rest, "", True, orderby) == [
            r for r in expected if int(model.value(object_name, r, "RECORDNO")) > 3
        ]
        assert bool(expected) == (op == "ge" or bound != max(stamps)), "the bounds come from the data"


@pytest.mark.parametrize("op", [">=", ">"])
@pytest.mark.parametrize("entity", ["Customer", "Invoice", "Item"])
def test_quickbooks_stamp_range_matches_the_filtered_rows(
    quickbooks: QuickBooksBackend, entity: str, op: str
) -> None:
    company = quickbooks.company
    stamps = [r["MetaData"]["LastUpdatedTime"] for r in company.records[entity].values()]
    assert len(stamps) > 10
    for bound in _bounds(stamps):
        query = (
            f"SELECT * FROM {entity} WHERE MetaData.LastUpdatedTime {op} '{bound}' "
            "ORDERBY MetaData.LastUpdatedTime, Id MAXRESULTS 1000"
        )
        plan = parse_query(query, quickbooks.company_time, quickbooks.today())
        predicate = compile_where(plan.conditions)
        assert predicate is not None
        active = [r for r in company.records[entity].values() if predicate(r) and r.get("Active", True) is not False]
        assert company.selection(plan) == sort_records(active, plan.order)


def test_esp_tail_reads_like_the_sliced_list() -> None:
    rows = list(range(10))
    for start in (0, 3, 10):
        tail, sliced = Tail(rows, start), rows[start:]
        assert len(tail) == len(sliced)
        assert list(tail) == sliced
        for window in (slice(0, 4), slice(2, 100), slice(5, 2), slice(None)):
            assert tail[window] == sliced[window]
        if sliced:
            assert (tail[0], tail[-1]) == (sliced[0], sliced[-1])
        with pytest.raises(IndexError):
            tail[len(sliced)]
