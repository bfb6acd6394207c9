"""Great Expectations suites built from the mapping refuse exactly the records that break a rule, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.sync.mapper import MappedRecord, map_record
from crosswalk.sync.mapping import SyncMapping, load_mapping
from crosswalk.sync.validation import suite_names, validate_side
from tests.unit.test_sync_reconcile import intacct_project

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "mappings" / "projects.yaml"


@pytest.fixture(scope="module")
def mapping() -> SyncMapping:
    return load_mapping(SHIPPED)


def projects(mapping: SyncMapping, rows: list[dict[str, object]]) -> list[MappedRecord]:
    entity = mapping.entities["project"]
    return [map_record(mapping, entity, "intacct", str(row["RECORDNO"]), row) for row in rows]


def bare(**changes: object) -> dict[str, object]:
    """A project naming no Salesforce record (no shared link field)."""
    return intacct_project(**{"SFDC_PROJECT_ID": "", **changes})


def test_each_rule_refuses_only_the_records_that_break_it(mapping: SyncMapping) -> None:
    rows = [
        bare(RECORDNO="1", PROJECTID="P-1"),
        bare(RECORDNO="2", PROJECTID="P-2", NAME=""),  # required
        bare(RECORDNO="3", PROJECTID="P-3", PERCENTCOMPLETE="150"),  # range
        bare(RECORDNO="4", PROJECTID="P-4", BEGINDATE="05/01/2026", ENDDATE="04/01/2026"),  # ordered
        bare(RECORDNO="5", PROJECTID="P-5", DESCRIPTION="d" * 1001),  # Salesforce holds 1000
        bare(RECORDNO="6", PROJECTID="P-6", NAME="n" * 150),  # cut to 80 for Salesforce: fine
        intacct_project(RECORDNO="7", PROJECTID="P-DUP", SFDC_PROJECT_ID="a0B7"),  # unique ids
        intacct_project(RECORDNO="8", PROJECTID="P-DUP", SFDC_PROJECT_ID="a0B8"),
        bare(RECORDNO="9", PROJECTID="P-9", PROJECTSTATUS="Dormant"),  # mapped already refused
    ]
    records = projects(mapping, rows)
    result = validate_side(mapping, mapping.entities["project"], "intacct", records, {})
    assert result.name == "project.intacct" and result.evaluated == 8 and not result.success
    assert result.seconds > 0  # Great Expectations' own run, timed
    refused = {key: sorted((p.field, p.rule) for p in problems) for key, problems in result.refused.items()}
    assert refused == {
        "2": [("name", "expect_column_values_to_not_be_null")],
        "3": [("percent_complete", "expect_column_values_to_be_between")],
        "4": [("end_date", "expect_column_pair_values_a_to_be_greater_than_b")],
        "5": [("description", "expect_column_value_lengths_to_be_between")],
        "7": [("PROJECTID", "expect_column_values_to_be_unique")],
        "8": [("PROJECTID", "expect_column_values_to_be_unique")],
    }
    assert all(p.stage == "validate" for problems in result.refused.values() for p in problems)
    reasons = [p.reason for p in result.refused["5"]]
    assert reasons == ["DESCRIPTION: DESCRIPTION is longer than the 1000 characters salesforce's "
                       "ia_crm__Description__c holds"]  # fmt: skip


def test_a_task_naming_a_project_its_side_does_not_have_is_refused(mapping: SyncMapping) -> None:
    entity = mapping.entities["task"]
    rows = [{"RECORDNO": "1", "TASKID": "T-1", "NAME": "Design", "PROJECTID": "P-1"},
            {"RECORDNO": "2", "TASKID": "T-2", "NAME": "Orphan", "PROJECTID": "P-404"}]  # fmt: skip
    records = [map_record(mapping, entity, "intacct", str(row["RECORDNO"]), row) for row in rows]
    result = validate_side(mapping, entity, "intacct", records, {"project": {"P-1"}})
    assert list(result.refused) == ["2"]
    [problem] = result.refused["2"]
    assert problem.reason == "PROJECTID: PROJECTID names a project that intacct does not have"


def test_the_shipped_mapping_gives_a_suite_per_synced_entity_and_side(mapping: SyncMapping) -> None:
    assert suite_names(mapping) == [
        ("project", "intacct"), ("project", "salesforce"), ("task", "intacct"), ("task", "salesforce"),
    ]  # fmt: skip


def test_a_suites_asset_check_says_how_long_great_expectations_took(mapping: SyncMapping) -> None:
    from assets.sync_steps import check_result

    records = projects(mapping, [bare(RECORDNO="1", PROJECTID="P-1"), bare(RECORDNO="2", PROJECTID="P-2", NAME="")])
    suite = validate_side(mapping, mapping.entities["project"], "intacct", records, {})
    check = check_result(suite)
    assert check.metadata["seconds"].value == round(suite.seconds, 3) > 0
    assert check.metadata["refused"].value == 1 and check.description == "1 of 2 records refused and quarantined"
