"""The canonical JSON form that staging hashes and stores."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crosswalk.hashing import canonical_json, content_hash


def _standard_form(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@pytest.mark.parametrize(
    "value",
    [
        {"Name": "Acme", "Id": "001", "Active": True, "Balance": 1250.5, "Parent": None, "Count": -3},
        {"b": {"d": 1, "c": [1, 2, {"z": None, "a": False}]}, "a": []},
        OrderedDict([("z", 1), ("a", OrderedDict([("y", "é日本🎉"), ("b", 0.1)]))]),  # simple-salesforce's type
        {"text": "quote \" backslash \\ slash / newline \n tab \t nul \x00 unit \x1f del \x7f \u2028"},
        {"when": datetime(2026, 11, 24, 12, 30, tzinfo=UTC), "amount": Decimal("19.90")},
        {"big": 2**63, "bigger": 2**64 + 1, "negative": -(2**63) - 1},
        [1.0, 100.0, 3.14159, 123456789.123, 1e16, 1e22],
    ],
)
def test_canonical_json_is_the_standard_librarys_sorted_compact_form(value: Any) -> None:
    assert canonical_json(value) == _standard_form(value)


def test_key_order_and_mapping_type_do_not_change_the_hash() -> None:
    one = {"a": 1, "b": {"x": "1", "y": [1, 2]}}
    two = OrderedDict([("b", OrderedDict([("y", [1, 2]), ("x", "1")])), ("a", 1)])
    assert content_hash(one) == content_hash(two)
    assert content_hash(one) != content_hash({**one, "a": 2})
    assert json.loads(canonical_json(two)) == one


def test_integer_keys_are_written_as_text() -> None:
    assert canonical_json({2: "b", 1: "a"}) == '{"1":"a","2":"b"}'
