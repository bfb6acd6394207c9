"""The wire forms of the clients' writes and lookups, without servers: SOQL and readByQuery literals, Bulk CSV cells
and results, gateway functions that are always well-formed XML."""

from __future__ import annotations

import pytest
from defusedxml.ElementTree import fromstring

from crosswalk.clients.intacct import UnwritableRequest, read_by_query_string, write_function
from crosswalk.clients.salesforce import (
    BulkOutcome,
    bulk_cell,
    bulk_columns,
    bulk_error_text,
    bulk_results,
    bulk_row,
    item_result,
    soql_in_lists,
    soql_string,
)
from crosswalk.sync.writer import WriteOp, WriteRequest


def test_soql_string_escapes_backslash_quote_and_control_characters() -> None:
    assert soql_string("O'Hara\\x") == "'O\\'Hara\\\\x'"
    assert soql_string("a\nb\tc") == "'a\\nb\\tc'"


def test_soql_in_lists_split_by_count_and_by_length() -> None:
    assert soql_in_lists(["a", "b", "c"], per_list=2) == ["'a', 'b'", "'c'"]
    lists = soql_in_lists(["x" * 50] * 10, per_list=200, max_chars=120)
    assert all(len(text) <= 120 for text in lists) and sum(text.count("'x") for text in lists) == 10


def test_a_collection_item_without_an_id_is_a_failure_and_lock_errors_are_retryable() -> None:
    request = WriteRequest(WriteOp.UPSERT, "Account", {"Name": "A"}, "m", external_id=("Ext__c", "1"))
    assert not item_result(request, {"success": True, "errors": []}).ok
    locked = item_result(
        request, {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]}
    )
    assert locked.retryable and locked.errors == ("UNABLE_TO_LOCK_ROW: locked",)
    invalid = item_result(
        request,
        {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "m", "fields": ["Name"]}]},
    )
    assert not invalid.retryable and invalid.errors == ("REQUIRED_FIELD_MISSING: m (fields: Name)",)


def test_bulk_rows_write_null_as_na_and_leave_unsent_columns_empty() -> None:
    requests = [
        WriteRequest(WriteOp.UPSERT, "P__c", {"Name": "a", "D__c": None}, "1", external_id=("E__c", "e1")),
        WriteRequest(
            WriteOp.UPSERT,
            "P__c",
            {"Rel__r": {"X__c": "x"}, "N__c": 1.5, "B__c": False},
            "2",
            external_id=("E__c", "e2"),
        ),
    ]
    columns = bulk_columns(requests)
    assert columns == ["E__c", "Name", "D__c", "Rel__r.X__c", "N__c", "B__c"]
    assert bulk_row(requests[0], columns) == ["e1", "a", "#N/A", "", "", ""]
    assert bulk_row(requests[1], columns) == ["e2", "", "", "x", "1.5", "false"]
    with pytest.raises(ValueError):
        bulk_cell(float("nan"))


def test_bulk_results_are_matched_to_requests_by_the_row_each_sent() -> None:
    requests = [WriteRequest(WriteOp.CREATE, "P__c", {"Name": name}, name) for name in ("a", "b", "a", "c")]
    rows = [bulk_row(r, ["Name"]) for r in requests]
    outcome = BulkOutcome(
        successful=[(("a",), "id1", "true"), (("a",), "id2", "true")],
        failed=[(("b",), "", "STRING_TOO_LONG:Name: too long: data value too large:Name --")],
    )
    results = bulk_results(requests, rows, outcome)
    assert [r.key for r in results] == ["id1", None, "id2", None]
    assert results[1].errors == ("STRING_TOO_LONG: Name: too long: data value too large (fields: Name)",)
    assert results[3].retryable and results[3].errors[0].startswith("NOT_PROCESSED: ")
    assert bulk_error_text("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--")[0] == "UNABLE_TO_LOCK_ROW"


def test_gateway_functions_are_escaped_xml_and_unwritable_values_are_refused() -> None:
    request = WriteRequest(
        WriteOp.CREATE,
        "PROJECT",
        {"NAME": 'A & <B> "c"', "DISPLAYCONTACT.PRINTAS": "x", "NOTE": None, "BILLABLE": True, "QTY": 2},
        'marker "1"',
    )
    element = fromstring(write_function(request))
    project = element.find("PROJECT")
    assert project is not None and project.findtext("NAME") == 'A & <B> "c"'
    assert project.findtext("DISPLAYCONTACT/PRINTAS") == "x" and project.find("NOTE") is None
    assert (project.findtext("BILLABLE"), project.findtext("QTY")) == ("true", "2")
    update = fromstring(write_function(WriteRequest(WriteOp.UPDATE, "PROJECT", {"NOTE": None}, "u", key="7")))
    assert update.findtext("PROJECT/RECORDNO") == "7" and update.find("PROJECT/NOTE") is not None
    for bad in (
        WriteRequest(WriteOp.CREATE, "PROJECT", {"NAME": "bell \x07"}, "m"),
        WriteRequest(WriteOp.CREATE, "PROJECT", {"NAME": "surrogate \ud800"}, "m"),
        WriteRequest(WriteOp.CREATE, "PROJECT", {"BAD NAME": "x"}, "m"),
        WriteRequest(WriteOp.CREATE, "PROJECT", {"NAME": "x"}, "m\x00"),
        WriteRequest(WriteOp.UPDATE, "PROJECT", {"NAME": "x"}, "m", key="P-1"),
        WriteRequest(WriteOp.UPSERT, "PROJECT", {"NAME": "x"}, "m", external_id=("PROJECTID", "P-1")),
    ):
        with pytest.raises(UnwritableRequest):
            write_function(bad)


def test_read_by_query_strings_escape_quotes_and_backslashes() -> None:
    assert read_by_query_string("PROJECTID", ["O'Neil\\x", "P"]) == "PROJECTID IN ('O\\'Neil\\\\x', 'P')"
