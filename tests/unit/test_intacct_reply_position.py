"""Naming the record of an Intacct reply that a parser refused, from the parser's error position alone."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree as SafeElementTree

from crosswalk.clients.intacct import record_at

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<response><operation><result><status>success</status>'


def position_of_error(body: bytes) -> tuple[int, int]:
    with pytest.raises(SafeElementTree.ParseError) as raised:
        SafeElementTree.fromstring(body)
    return raised.value.position


def test_a_control_character_is_placed_in_its_record_whichever_side_of_the_key_it_is() -> None:
    body = (HEAD + '<data listtype="CUSTOMER" count="3"><CUSTOMER><RECORDNO>5</RECORDNO><NAME>fine é</NAME>'
            "</CUSTOMER><CUSTOMER><NAME>été ctrl\x01</NAME><RECORDNO>6</RECORDNO></CUSTOMER>"
            "<CUSTOMER><RECORDNO>7</RECORDNO></CUSTOMER></data></result></operation></response>").encode()
    assert record_at(body, *position_of_error(body)) == "record 2 of the reply (CUSTOMER RECORDNO 6)"


def test_lines_of_an_indented_reply_are_counted() -> None:
    body = (HEAD + '\n<data count="2">\n  <PROJECT>\n    <RECORDNO>11</RECORDNO>\n  </PROJECT>\n  <PROJECT>\n'
            "    <NAME>x\x1b</NAME>\n    <RECORDNO>12</RECORDNO>\n  </PROJECT>\n</data></result></operation>"
            "</response>").encode()
    line, column = position_of_error(body)
    assert line > 2
    assert record_at(body, line, column) == "record 2 of the reply (PROJECT RECORDNO 12)"


def test_a_cut_reply_names_the_record_it_stops_in_and_outside_data_there_is_none() -> None:
    whole = (HEAD + "<data><TASK><RECORDNO>1</RECORDNO></TASK><TASK><RECORDNO>2</RECORDNO><NAME>long name"
             "</NAME></TASK></data></result></operation></response>").encode()
    cut = whole[: whole.index(b"long")]
    assert record_at(cut, *position_of_error(cut)) == "record 2 of the reply (TASK RECORDNO 2)"
    keyless = whole[: whole.index(b"<RECORDNO>2")]
    assert record_at(keyless, *position_of_error(keyless)) == "record 2 of the reply (TASK, its RECORDNO unreadable)"
    no_data = (HEAD + "<status>\x02</status></result></operation></response>").encode()
    assert record_at(no_data, *position_of_error(no_data)) is None
