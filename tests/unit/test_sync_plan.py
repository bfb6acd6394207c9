"""The plan of one entity: updates of linked pairs, creates with the identity chosen before any call, links made
by matching, refusals with reasons, deletes never propagated as deletes."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.sync.mapper import ValueTranslator, map_record
from crosswalk.sync.mapping import SyncMapping, load_mapping
from crosswalk.sync.plan import Action, EntityData, EntityPlan, LinkState, OnDelete, PlanOptions, plan_entity
from tests.unit.test_sync_reconcile import Links, intacct_project, salesforce_project

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "mappings" / "projects.yaml"


@pytest.fixture(scope="module")
def mapping() -> SyncMapping:
    return load_mapping(SHIPPED)


def plan(
    mapping: SyncMapping,
    left_rows: list[dict[str, object]],
    right_rows: list[dict[str, object]],
    links: list[LinkState],
    options: PlanOptions | None = None,
    entity: str = "project",
    references: Links | None = None,
    left_deleted: frozenset[str] = frozenset(),
    right_deleted: frozenset[str] = frozenset(),
) -> EntityPlan:
    rule = mapping.entities[entity]
    left = {str(r["RECORDNO"]): map_record(mapping, rule, "intacct", str(r["RECORDNO"]), r) for r in left_rows}
    right = {str(r["Id"]): map_record(mapping, rule, "salesforce", str(r["Id"]), r) for r in right_rows}
    translate = ValueTranslator(mapping, references or Links({"customer": {"C-1": "001A"}}))
    data = EntityData(left, right, links, left_deleted=left_deleted, right_deleted=right_deleted)
    return plan_entity(mapping, rule, data, translate, options or PlanOptions())


def synced_link(mapping: SyncMapping) -> LinkState:
    """The link of the identical pair intacct 7 / salesforce a0BA after a sync."""
    first = plan(mapping, [intacct_project()], [salesforce_project()], [LinkState(1, "7", "a0BA")])
    outcome = first.pairs["link:1"]
    return LinkState(1, "7", "a0BA", outcome.base_left, outcome.base_right)


def test_a_pair_in_sync_plans_nothing(mapping: SyncMapping) -> None:
    link = synced_link(mapping)
    result = plan(mapping, [intacct_project()], [salesforce_project()], [link])
    assert result.items == [] and result.counts["in_sync"] == 1 and result.pairs == {}


def test_a_salesforce_edit_is_one_update_of_intacct_with_the_field_diff(mapping: SyncMapping) -> None:
    link = synced_link(mapping)
    result = plan(mapping, [intacct_project()], [salesforce_project(Name="Launch 2")], [link])
    [item] = result.items
    assert (item.action, item.target, item.target_object, item.target_key) == (
        Action.UPDATE, "intacct", "PROJECT", "7",
    )  # fmt: skip
    assert item.values == {"name": "Launch 2"} and item.before == {"name": "Launch"}
    assert result.pairs["link:1"].base_left["name"] == result.pairs["link:1"].base_right["name"] == "Launch 2"


def test_an_intacct_only_project_is_upserted_on_salesforce_by_its_project_id(mapping: SyncMapping) -> None:
    result = plan(mapping, [intacct_project(RECORDNO="5", PROJECTID="PRJ-5", SFDC_PROJECT_ID="")], [], [])
    create, link_back = result.items
    assert (create.action, create.target, create.target_object) == (Action.CREATE, "salesforce", "ia_crm__Project__c")
    assert create.identity == ("ia_crm__Project_ID__c", "PRJ-5")
    assert create.link_values == {"ia_crm__Project_ID__c": "PRJ-5"}
    assert create.values["name"] == "Launch" and create.values["customer"] == "001A"
    assert create.values["begin_date"] == "2026-01-02" and create.values["percent_complete"] == "25"
    # Intacct learns the new record's Id from the create's result.
    assert (link_back.action, link_back.target, link_back.target_key) == (Action.UPDATE, "intacct", "5")
    assert link_back.link_from_result == "SFDC_PROJECT_ID" and link_back.pair == create.pair
    assert result.pairs[create.pair].left_key == "5" and result.pairs[create.pair].right_key is None


def test_a_salesforce_only_project_gets_its_intacct_key_chosen_before_the_call(mapping: SyncMapping) -> None:
    right = salesforce_project(Id="a0B9", Name="New", ia_crm__Project_ID__c=None)
    options = PlanOptions(new_identity=lambda key: f"SF-{key}")
    result = plan(mapping, [], [right], [], options)
    create, link_back = result.items
    assert (create.action, create.target, create.target_object) == (Action.CREATE, "intacct", "PROJECT")
    assert create.identity == ("PROJECTID", "SF-a0B9")
    assert create.link_values == {"SFDC_PROJECT_ID": "a0B9", "PROJECTID": "SF-a0B9"}
    # Fields Intacct owns (computed progress) are not written to Intacct.
    assert "percent_complete" not in create.values and create.values["name"] == "New"
    assert create.values["customer"] == "C-1"
    assert (link_back.target, link_back.target_key, link_back.link_values) == (
        "salesforce", "a0B9", {"ia_crm__Project_ID__c": "SF-a0B9"},
    )  # fmt: skip
    # Planned twice, the same identity: a retry finds the record instead of creating it again.
    again = plan(mapping, [], [right], [], options)
    assert again.items[0].identity == create.identity


def test_a_salesforce_project_naming_its_project_id_keeps_it(mapping: SyncMapping) -> None:
    right = salesforce_project(Id="a0B9", ia_crm__Project_ID__c="PRJ-77")
    [create] = plan(mapping, [], [right], []).items
    assert create.identity == ("PROJECTID", "PRJ-77") and create.link_values["PROJECTID"] == "PRJ-77"


def test_a_pair_matched_by_name_and_customer_is_linked_on_both_sides(mapping: SyncMapping) -> None:
    left = intacct_project(RECORDNO="2", PROJECTID="PRJ-2", NAME="Summit", SFDC_PROJECT_ID="")
    right = salesforce_project(Id="a0B2", Name="summit ", ia_crm__Project_ID__c=None)
    result = plan(mapping, [left], [right], [], PlanOptions())
    by_target = {item.target: item for item in result.items}
    assert by_target["intacct"].link_values == {"SFDC_PROJECT_ID": "a0B2"}
    assert by_target["salesforce"].link_values == {"ia_crm__Project_ID__c": "PRJ-2"}
    assert result.counts["matched"] == 1
    [outcome] = result.pairs.values()
    assert (outcome.left_key, outcome.right_key, outcome.matched_by) == ("2", "a0B2", "natural key name, customer")
    # The names differ in case and spacing only: a conflict settled by the policy (Intacct wins by default).
    assert by_target["salesforce"].values == {"name": "Summit"}


def test_a_record_with_a_bad_value_is_refused_and_its_pair_left_alone(mapping: SyncMapping) -> None:
    link = synced_link(mapping)
    result = plan(mapping, [intacct_project(BEGINDATE="31/31/2026")], [salesforce_project(Name="X")], [link])
    [refused] = result.items
    assert refused.action is Action.REFUSED and refused.source_key == "7"
    assert "BEGINDATE" in (refused.reason or "") and result.problems[0][1].rule == "type"


def test_a_deleted_record_flags_its_pair_and_deletes_nothing(mapping: SyncMapping) -> None:
    link = synced_link(mapping)
    result = plan(mapping, [], [salesforce_project()], [link], left_deleted=frozenset({"7"}))
    [flag] = result.items
    assert (flag.action, flag.target, flag.target_key) == (Action.FLAG, "salesforce", "a0BA")
    ignored = plan(mapping, [], [salesforce_project()], [link], PlanOptions(on_delete=OnDelete.IGNORE),
                   left_deleted=frozenset({"7"}))  # fmt: skip
    assert ignored.items == []


def test_creates_off_plans_no_creates(mapping: SyncMapping) -> None:
    options = PlanOptions(create_left=False, create_right=False)
    result = plan(mapping, [intacct_project(RECORDNO="5", SFDC_PROJECT_ID="")], [salesforce_project(Id="a0B9",
                  ia_crm__Project_ID__c=None, Name="Other")], [], options)  # fmt: skip
    assert result.items == []


def test_a_task_is_created_under_its_linked_project(mapping: SyncMapping) -> None:
    task = {"Id": "a0C1", "Name": "Design", "ia_crm__Task_ID__c": None, "ia_crm__Project__c": "a0BA",
            "ia_crm__Task_Status__c": "Planned", "ia_crm__Begin_Date__c": "2026-02-01",
            "ia_crm__End_Date__c": None, "ia_crm__Estimated_Duration__c": 12}  # fmt: skip
    references = Links({"project": {"PRJ-1": "a0BA"}})
    result = plan(mapping, [], [task], [], entity="task", references=references)
    create = result.items[0]
    assert (create.target, create.target_object, create.identity) == ("intacct", "TASK", ("TASKID", "a0C1"))
    assert create.values["project"] == "PRJ-1" and create.values["status"] == "Planned"
    orphan = dict(task, Id="a0C2", ia_crm__Project__c="a0BZ")
    waiting = plan(mapping, [], [orphan], [], entity="task", references=references)
    [refused] = waiting.items
    assert refused.action is Action.REFUSED and "project a0BZ is not linked to intacct yet" in (refused.reason or "")


def test_deactivate_makes_the_survivor_inactive_once(mapping: SyncMapping) -> None:
    link = synced_link(mapping)
    options = PlanOptions(on_delete=OnDelete.DEACTIVATE)
    result = plan(mapping, [intacct_project()], [], [link], options, right_deleted=frozenset({"a0BA"}))
    [update] = result.items
    assert (update.action, update.target, update.target_key, update.fixed_values) == (
        Action.UPDATE, "intacct", "7", {"STATUS": "inactive"},
    )  # fmt: skip
    assert update.values == {} and "deleted in salesforce" in (update.reason or "")
    done = plan(mapping, [intacct_project(STATUS="inactive")], [], [link], options,
                right_deleted=frozenset({"a0BA"}))  # fmt: skip
    assert done.items == [] and done.counts["inactive_already"] == 1
