"""Three-way field-level reconcile and matching of never-linked records, on the shipped projects mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crosswalk.sync.mapper import MappedRecord, ValueTranslator, map_record
from crosswalk.sync.mapping import SyncMapping, load_mapping
from crosswalk.sync.matching import match_records
from crosswalk.sync.reconcile import ConflictPolicy, Reconciled, Side, policy_from_setting, reconcile_pair

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "mappings" / "projects.yaml"


class Links:
    """Links of referenced entities: (entity, intacct value) <-> salesforce value."""

    def __init__(self, pairs: dict[str, dict[str, str]]) -> None:
        self.to_right = pairs
        self.to_left = {entity: {v: k for k, v in table.items()} for entity, table in pairs.items()}

    def translate(self, entity: str, target: str, value: str) -> str | None:
        table = self.to_right if target == "salesforce" else self.to_left
        return table.get(entity, {}).get(value)


@pytest.fixture(scope="module")
def mapping() -> SyncMapping:
    return load_mapping(SHIPPED)


def translator(mapping: SyncMapping) -> ValueTranslator:
    return ValueTranslator(mapping, Links({"customer": {"C-1": "001A"}, "project": {"PRJ-1": "a0BA"}}))


def intacct_project(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "RECORDNO": "7", "PROJECTID": "PRJ-1", "NAME": "Launch", "DESCRIPTION": "", "PROJECTSTATUS": "In Progress",
        "BEGINDATE": "01/02/2026", "ENDDATE": "03/04/2026", "BUDGETAMOUNT": "500.00", "CUSTOMERID": "C-1",
        "SFDCKEY": "", "MEGAENTITYID": "", "PERCENTCOMPLETE": "25", "ESTQTY": "40", "ACTUALQTY": "10",
        "REMAININGQTY": "30", "RECORD_URL": "https://intacct/7", "SFDC_PROJECT_ID": "a0BA",
    }  # fmt: skip
    row.update(changes)
    return row


def salesforce_project(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "Id": "a0BA", "Name": "Launch", "ia_crm__Description__c": None, "ia_crm__Project_Status__c": "In Progress",
        "ia_crm__Begin_Date__c": "2026-01-02", "ia_crm__End_Date__c": "2026-03-04", "ia_crm__Budget_Amount__c": 500,
        "ia_crm__Customer__c": "001A", "ia_crm__Opportunity__c": None, "ia_crm__Intacct_Entity__c": None,
        "ia_crm__Complete_by_Duration__c": 25.0, "ia_crm__Estimated_Duration__c": 40.0,
        "ia_crm__Actual_Duration__c": 10.0, "ia_crm__Remaining_Duration__c": 30.0,
        "ia_crm__View_Project__c": "https://intacct/7", "ia_crm__Project_ID__c": "PRJ-1",
    }  # fmt: skip
    row.update(changes)
    return row


def mapped(mapping: SyncMapping, system: str, row: dict[str, object], entity: str = "project") -> MappedRecord:
    key = str(row["RECORDNO"] if system == "intacct" else row["Id"])
    record = map_record(mapping, mapping.entities[entity], system, key, row)
    assert record.ok, record.problems
    return record


def run(
    mapping: SyncMapping,
    left_row: dict[str, object],
    right_row: dict[str, object],
    base_left: dict[str, object] | None,
    base_right: dict[str, object] | None,
    policy: ConflictPolicy = ConflictPolicy.LEFT_WINS,
    left_modified: datetime | None = None,
    right_modified: datetime | None = None,
) -> Reconciled:
    left = mapped(mapping, "intacct", left_row)
    right = mapped(mapping, "salesforce", right_row)
    return reconcile_pair(
        mapping.entities["project"],
        mapping.systems,
        Side(left.values, base_left, left_modified),
        Side(right.values, base_right, right_modified),
        policy,
        translator(mapping),
    )


def bases(mapping: SyncMapping) -> tuple[dict[str, object], dict[str, object]]:
    """The bases after a sync of the identical pair."""
    result = run(mapping, intacct_project(), salesforce_project(), None, None)
    assert result.in_sync and not result.conflicts
    return result.base_left, result.base_right


def test_equal_meaning_in_both_systems_is_in_sync(mapping: SyncMapping) -> None:
    base_left, base_right = bases(mapping)
    assert base_left["begin_date"] == base_right["begin_date"] == "2026-01-02"
    assert base_left["budget_amount"] == base_right["budget_amount"] == "500"
    assert base_left["customer"] == "C-1" and base_right["customer"] == "001A"


def test_a_change_on_one_side_flows_to_the_other_only_for_the_changed_field(mapping: SyncMapping) -> None:
    base_left, base_right = bases(mapping)
    result = run(mapping, intacct_project(), salesforce_project(Name="Launch 2"), base_left, base_right)
    assert result.to_left == {"name": "Launch 2"} and result.to_right == {} and not result.conflicts
    assert result.base_left["name"] == result.base_right["name"] == "Launch 2"
    result = run(mapping, intacct_project(ENDDATE="04/30/2026"), salesforce_project(), base_left, base_right)
    assert result.to_right == {"end_date": "2026-04-30"} and result.to_left == {}


def test_what_was_written_is_the_new_base_so_nothing_echoes(mapping: SyncMapping) -> None:
    base_left, base_right = bases(mapping)
    first = run(mapping, intacct_project(), salesforce_project(Name="Launch 2"), base_left, base_right)
    # The next run reads Intacct with the value written to it: no change either way.
    second = run(
        mapping, intacct_project(NAME="Launch 2"), salesforce_project(Name="Launch 2"), first.base_left,
        first.base_right,
    )  # fmt: skip
    assert second.in_sync and not second.conflicts


def test_a_value_truncated_by_the_target_does_not_flow_back(mapping: SyncMapping) -> None:
    long_name = "N" * 95
    first = run(mapping, intacct_project(NAME=long_name), salesforce_project(Name="Launch"), *bases(mapping))
    assert first.to_right == {"name": "N" * 80}
    second = run(
        mapping, intacct_project(NAME=long_name), salesforce_project(Name="N" * 80), first.base_left, first.base_right
    )
    assert second.in_sync


def test_a_reference_is_compared_and_written_through_links(mapping: SyncMapping) -> None:
    base_left, base_right = bases(mapping)
    result = run(mapping, intacct_project(CUSTOMERID="C-9"), salesforce_project(), base_left, base_right)
    # C-9 has no Salesforce Account linked yet: the field waits, the rest of the record still syncs.
    assert result.to_right == {} and "customer" in result.waiting
    assert "not linked to salesforce" in result.waiting["customer"]


def test_a_field_owned_by_intacct_is_written_back_over_a_salesforce_edit(mapping: SyncMapping) -> None:
    base_left, base_right = bases(mapping)
    result = run(
        mapping, intacct_project(), salesforce_project(ia_crm__Complete_by_Duration__c=99), base_left, base_right
    )
    assert result.to_right == {"percent_complete": "25"} and result.to_left == {} and not result.conflicts
    both = run(
        mapping, intacct_project(PERCENTCOMPLETE="50"), salesforce_project(ia_crm__Complete_by_Duration__c=99),
        base_left, base_right,
    )  # fmt: skip
    assert both.to_right == {"percent_complete": "50"}
    assert [(c.field, c.winner, c.rule) for c in both.conflicts] == [("percent_complete", "left", "direction")]


@pytest.mark.parametrize(
    ("policy", "left_modified", "right_modified", "winner", "value"),
    [
        (ConflictPolicy.LEFT_WINS, None, None, "left", "From Intacct"),
        (ConflictPolicy.RIGHT_WINS, None, None, "right", "From Salesforce"),
        (ConflictPolicy.LATEST_WINS, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "right",
         "From Salesforce"),
        (ConflictPolicy.LATEST_WINS, datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "left",
         "From Intacct"),
    ],
)
def test_a_conflict_is_settled_by_policy_and_recorded_with_base_and_both_values(
    mapping: SyncMapping,
    policy: ConflictPolicy,
    left_modified: datetime | None,
    right_modified: datetime | None,
    winner: str,
    value: str,
) -> None:
    base_left, base_right = bases(mapping)
    result = run(
        mapping, intacct_project(NAME="From Intacct"), salesforce_project(Name="From Salesforce"), base_left,
        base_right, policy, left_modified, right_modified,
    )  # fmt: skip
    [conflict] = result.conflicts
    assert (conflict.field, conflict.base_left, conflict.left, conflict.right) == (
        "name", "Launch", "From Intacct", "From Salesforce",
    )  # fmt: skip
    assert conflict.winner == winner
    assert result.base_left["name"] == result.base_right["name"] == value
    assert (result.to_right if winner == "left" else result.to_left) == {"name": value}


def test_conflict_policy_names_come_from_the_sync_systems() -> None:
    systems = ("intacct", "salesforce")
    assert policy_from_setting("intacct_wins", systems) is ConflictPolicy.LEFT_WINS
    assert policy_from_setting("salesforce_wins", systems) is ConflictPolicy.RIGHT_WINS
    assert policy_from_setting("latest_wins", systems) is ConflictPolicy.LATEST_WINS
    with pytest.raises(ValueError, match="conflict_policy must be one of intacct_wins, salesforce_wins"):
        policy_from_setting("esp_wins", systems)


def test_an_unmapped_status_is_a_named_problem(mapping: SyncMapping) -> None:
    record = map_record(
        mapping, mapping.entities["project"], "intacct", "7", intacct_project(PROJECTSTATUS="Dormant", ENDDATE="x")
    )
    reasons = {(p.field, p.rule) for p in record.problems}
    assert reasons == {("status", "value_map"), ("end_date", "type")}
    assert any("PROJECTSTATUS: 'Dormant' is not in the value map" in p.reason for p in record.problems)


def test_matching_by_link_fields_then_natural_key_and_ambiguity_to_review(mapping: SyncMapping) -> None:
    entity = mapping.entities["project"]
    links = Links({"customer": {"C-1": "001A", "C-2": "001B"}})
    translate = ValueTranslator(mapping, links)
    left = [
        # Linked by Salesforce's external id (ia_crm__Project_ID__c = PROJECTID) though Intacct lost its link field.
        mapped(mapping, "intacct", intacct_project(RECORDNO="1", PROJECTID="PRJ-1", SFDC_PROJECT_ID="")),
        # Same name and customer as exactly one Salesforce record.
        mapped(mapping, "intacct", intacct_project(RECORDNO="2", PROJECTID="PRJ-2", NAME="Summit  ",
                                                   SFDC_PROJECT_ID="")),
        # Two Intacct and one Salesforce record share a name and customer: review, never a guess.
        mapped(mapping, "intacct", intacct_project(RECORDNO="3", PROJECTID="PRJ-3", NAME="Twin", SFDC_PROJECT_ID="")),
        mapped(mapping, "intacct", intacct_project(RECORDNO="4", PROJECTID="PRJ-4", NAME="twin", SFDC_PROJECT_ID="")),
        # Intacct only.
        mapped(mapping, "intacct", intacct_project(RECORDNO="5", PROJECTID="PRJ-5", NAME="Solo", SFDC_PROJECT_ID="")),
    ]  # fmt: skip
    right = [
        mapped(mapping, "salesforce", salesforce_project(Id="a0B1", ia_crm__Project_ID__c="PRJ-1")),
        mapped(mapping, "salesforce", salesforce_project(Id="a0B2", Name="summit", ia_crm__Project_ID__c=None)),
        mapped(mapping, "salesforce", salesforce_project(Id="a0B3", Name="Twin", ia_crm__Project_ID__c=None)),
        # Same name as PRJ-2 but another customer: not a match.
        mapped(mapping, "salesforce", salesforce_project(Id="a0B6", Name="Summit", ia_crm__Customer__c="001B",
                                                         ia_crm__Project_ID__c=None)),
    ]  # fmt: skip
    result = match_records(mapping, entity, left, right, translate)
    assert {(m.left_key, m.right_key, m.how) for m in result.matches} == {
        ("1", "a0B1", "link field ia_crm__Project_ID__c"),
        ("2", "a0B2", "natural key name, customer"),
    }
    assert sorted((r.system, r.key, r.candidates) for r in result.reviews) == [
        ("intacct", "3", ("a0B3",)),
        ("intacct", "4", ("a0B3",)),
        ("salesforce", "a0B3", ("3", "4")),
    ]
    assert [r.key for r in result.left_alone] == ["5"]
    assert [r.key for r in result.right_alone] == ["a0B6"]


def test_link_fields_that_disagree_go_to_review(mapping: SyncMapping) -> None:
    entity = mapping.entities["project"]
    translate = ValueTranslator(mapping, Links({}))
    left = [mapped(mapping, "intacct", intacct_project(RECORDNO="1", PROJECTID="PRJ-1", SFDC_PROJECT_ID="a0B2"))]
    right = [
        mapped(mapping, "salesforce", salesforce_project(Id="a0B1", ia_crm__Project_ID__c="PRJ-1")),
        mapped(mapping, "salesforce", salesforce_project(Id="a0B2", ia_crm__Project_ID__c=None)),
    ]
    result = match_records(mapping, entity, left, right, translate)
    assert result.matches == []
    assert {(r.system, r.key) for r in result.reviews} >= {("intacct", "1")}
    assert all("link fields disagree" in r.reason for r in result.reviews)


def test_a_never_synced_pair_fills_a_blank_side_instead_of_clearing_the_other(mapping: SyncMapping) -> None:
    result = run(
        mapping, intacct_project(SFDCKEY=""), salesforce_project(ia_crm__Opportunity__c="0065g0000000005AAA"),
        None, None,
    )  # fmt: skip
    assert result.to_left == {"opportunity": "0065g0000000005AAA"} and "opportunity" not in result.to_right
    assert not [c for c in result.conflicts if c.field == "opportunity"]


def test_a_mapping_change_resyncs_the_field_it_touches_without_a_conflict(mapping: SyncMapping, tmp_path: Path) -> None:
    synced = run(mapping, intacct_project(PROJECTSTATUS="On Hold"),
                 salesforce_project(ia_crm__Project_Status__c="On Hold"), None, None)  # fmt: skip
    assert synced.in_sync
    path = tmp_path / "projects.yaml"
    old = "Completed: Completed, On Hold: On Hold,\n                 Cancelled: Cancelled}"
    assert old in SHIPPED.read_text()
    path.write_text(SHIPPED.read_text().replace(old, "Completed: Completed, On Hold: Cancelled,\n"
                                                     "                 Cancelled: On Hold}"))  # fmt: skip
    remapped = load_mapping(path)
    left = mapped(remapped, "intacct", intacct_project(PROJECTSTATUS="On Hold"))
    right = mapped(remapped, "salesforce", salesforce_project(ia_crm__Project_Status__c="On Hold"))
    result = reconcile_pair(
        remapped.entities["project"], remapped.systems, Side(left.values, synced.base_left),
        Side(right.values, synced.base_right), ConflictPolicy.LEFT_WINS, translator(remapped),
    )  # fmt: skip
    # Exactly the field whose mapped value changed is written, and it is no conflict between edits.
    assert result.to_right == {"status": "Cancelled"} and result.to_left == {} and result.conflicts == []
