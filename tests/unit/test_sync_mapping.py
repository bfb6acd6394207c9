"""The mapping file: the shipped one loads; every mistake is refused naming file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crosswalk.sync.mapping import MappingError, load_mapping
from crosswalk.sync.values import FieldType

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "mappings" / "projects.yaml"


def test_shipped_projects_mapping_loads_against_the_stream_catalog() -> None:
    mapping = load_mapping(SHIPPED)
    assert mapping.systems == ("intacct", "salesforce")
    assert set(mapping.entities) == {"customer", "project", "task"}
    project = mapping.entities["project"]
    assert project.objects == {"intacct": "PROJECT", "salesforce": "ia_crm__Project__c"}
    assert project.link_fields["salesforce"].field == "ia_crm__Project_ID__c"
    assert project.link_fields["intacct"].holds == "Id"
    assert project.match_on == ("name", "customer")
    assert project.field("begin_date").type is FieldType.DATE
    assert project.field("percent_complete").direction == "intacct_to_salesforce"
    assert project.field("customer").reference == "customer"
    assert mapping.entities["task"].field("project").reference == "project"
    assert not mapping.entities["customer"].sync
    assert re.fullmatch(r"[0-9a-f]{64}", mapping.content_hash)


BASE = """\
version: 1
sync: projects
systems: [intacct, salesforce]
entities:
  project:
    objects: {intacct: PROJECT, salesforce: ia_crm__Project__c}
    match_on: [name]
    fields:
      name: {intacct: NAME, salesforce: Name}
      status:
        intacct: PROJECTSTATUS
        salesforce: ia_crm__Project_Status__c
        values: {Active: In Progress, Done: Completed}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "projects.yaml"
    path.write_text(text)
    return path


def test_a_valid_small_mapping_loads(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, BASE))
    status = mapping.entities["project"].field("status")
    assert status.values == {"Active": "In Progress", "Done": "Completed"}
    assert status.inverse_values == {"In Progress": "Active", "Completed": "Done"}
    assert status.flows_to("intacct", mapping.systems) and status.flows_to("salesforce", mapping.systems)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("salesforce: Name}", "salesforce: Nmae}", 9, r"project\.fields\.name\.salesforce: salesforce "
         r"ia_crm__Project__c has no field 'Nmae'; did you mean Name\?"),
        ("intacct: NAME,", "intacct: NAMEE,", 9, r"intacct PROJECT has no field 'NAMEE'"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, direction: sideways}", 9,
         r"direction: must be one of both, intacct_to_salesforce, salesforce_to_intacct, got 'sideways'"),
        ("Done: Completed", "Done: In Progress", 13, r"salesforce value 'In Progress' is mapped from both 'Active' "
         r"and 'Done'"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, type: money}", 9,
         r"unknown type 'money'"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, colour: red}", 9,
         r"colour: unknown key"),
        ("    match_on: [name]", "    match_on: [title]", 7, r"'title' is not a field of project"),
        ("salesforce: ia_crm__Project__c}", "salesforce: ia_crm__Projet__c}", 6, r"salesforce has no stream "
         r"'ia_crm__Projet__c'"),
        ("    fields:", "    feilds:", 8, r"feilds: unknown key \(did you mean fields\?\)"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME}", 9, r"names a field on intacct only"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, reference: account}", 9,
         r"reference: names no entity of this mapping: 'account'"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, max_length: {salesforce: 0}}", 9,
         r"max_length\.salesforce: must be a positive whole number"),
        ("{intacct: NAME, salesforce: Name}", "{intacct: NAME, salesforce: Name, owner: quickbooks}", 9,
         r"owner: must be intacct or salesforce"),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert re.search(message, text), text


def test_broken_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"projects\.yaml:\d+: not valid YAML"):
        load_mapping(write(tmp_path, BASE + "  bad: [unclosed\n"))
    with pytest.raises(MappingError, match=r"nowhere\.yaml: no such file"):
        load_mapping(tmp_path / "nowhere.yaml")


def test_a_many_to_one_value_map_is_allowed_on_a_field_that_flows_left_to_right_only(tmp_path: Path) -> None:
    text = BASE.replace("Done: Completed", "Done: In Progress").replace(
        "        values:", "        direction: intacct_to_salesforce\n        values:"
    )
    mapping = load_mapping(write(tmp_path, text))
    assert mapping.entities["project"].field("status").values == {"Active": "In Progress", "Done": "In Progress"}
