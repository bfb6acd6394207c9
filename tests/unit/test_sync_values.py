"""Canonical values: the same meaning gives the same value, whatever system wrote it."""

from __future__ import annotations

import pytest

from crosswalk.sync.values import BadValue, FieldType, WireStyle, canonical, to_wire, truncate


@pytest.mark.parametrize(
    ("field_type", "a", "b"),
    [
        (FieldType.DATE, "01/02/2026", "2026-01-02"),
        (FieldType.DATE, "1/2/2026", "2026-01-02T10:00:00.000+0000"),
        (FieldType.DECIMAL, "50", "50.00"),
        (FieldType.DECIMAL, 50, 50.0),
        (FieldType.DECIMAL, "1,250.50", 1250.5),
        (FieldType.DECIMAL, "-0.00", 0),
        (FieldType.INTEGER, "7", 7.0),
        (FieldType.BOOLEAN, "true", True),
        (FieldType.BOOLEAN, "0", False),
        (FieldType.TEXT, "", None),
        (FieldType.DATE, "", None),
    ],
)
def test_same_meaning_same_canonical_value(field_type: FieldType, a: object, b: object) -> None:
    assert canonical(field_type, a) == canonical(field_type, b)


@pytest.mark.parametrize(
    ("field_type", "value", "message"),
    [
        (FieldType.DATE, "13/45/2026", "not a valid date"),
        (FieldType.DATE, "tomorrow", "not a date"),
        (FieldType.DECIMAL, "12abc", "not a number"),
        (FieldType.DECIMAL, "NaN", "not a finite number"),
        (FieldType.DECIMAL, True, "not a number"),
        (FieldType.INTEGER, "1.5", "not a whole number"),
        (FieldType.BOOLEAN, "maybe", "not true or false"),
    ],
)
def test_bad_values_say_what_was_found(field_type: FieldType, value: object, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        canonical(field_type, value)


def test_values_are_written_in_each_systems_form() -> None:
    assert to_wire(FieldType.DATE, "2026-01-02", WireStyle.INTACCT) == "01/02/2026"
    assert to_wire(FieldType.DATE, "2026-01-02", WireStyle.JSON) == "2026-01-02"
    assert to_wire(FieldType.DECIMAL, "50", WireStyle.JSON) == 50
    assert to_wire(FieldType.DECIMAL, "12.5", WireStyle.JSON) == 12.5
    assert to_wire(FieldType.DECIMAL, "12.5", WireStyle.INTACCT) == "12.5"
    assert to_wire(FieldType.BOOLEAN, True, WireStyle.INTACCT) == "true"
    assert to_wire(FieldType.TEXT, None, WireStyle.JSON) is None
    assert truncate("abcdef", 4) == "abcd"
    assert truncate("abc", 4) == "abc"
