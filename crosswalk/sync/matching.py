"""Pairing records never linked, before anything is created: by the ids the records carry, then by a natural key.

First the link fields (an external id one side keeps of the other: Salesforce ia_crm__Project_ID__c holds the
Intacct PROJECTID, Intacct SFDC_PROJECT_ID holds the Salesforce Id), so a lost store is rebuilt from the records.
Then the mapping's natural key (`match_on`, e.g. name and customer), compared case- and space-insensitively in the
left side's terms. A match must be unique on both sides: anything else goes to the review list with its
candidates, never a guess, and is neither linked nor created.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from crosswalk.sync.mapper import MappedRecord
from crosswalk.sync.mapping import EntityRule, SyncMapping
from crosswalk.sync.reconcile import Translate, Untranslatable, Value


@dataclass(frozen=True)
class Match:
    left_key: str
    right_key: str
    how: str  # "link field ia_crm__Project_ID__c", "natural key name, customer"


@dataclass(frozen=True)
class Review:
    """A record that could not be paired safely; a person links it (or fixes the data) and the next run acts."""

    system: str
    key: str
    candidates: tuple[str, ...]  # keys on the other side
    reason: str


@dataclass
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    left_alone: list[MappedRecord] = field(default_factory=list)  # no counterpart: candidates for a create
    right_alone: list[MappedRecord] = field(default_factory=list)


def match_records(
    mapping: SyncMapping,
    entity: EntityRule,
    left: Iterable[MappedRecord],
    right: Iterable[MappedRecord],
    translate: Translate,
) -> MatchResult:
    result = MatchResult()
    left_open = {record.key: record for record in left}
    right_open = {record.key: record for record in right}
    held: set[str] = set()  # keys on either side kept back for review

    # 1. The ids the records carry.
    claims: dict[tuple[str, str], set[str]] = defaultdict(set)  # (left key, right key) -> link fields saying so
    for system, link in entity.link_fields.items():
        own, other = (left_open, right_open) if system == mapping.left else (right_open, left_open)
        by_held: dict[str, list[str]] = defaultdict(list)
        for record in other.values():
            value = record.identity.get(link.holds)
            if value:
                by_held[value].append(record.key)
        for record in own.values():
            pointer = record.identity.get(link.field)
            if not pointer:
                continue
            found = by_held.get(pointer, [])
            if len(found) > 1:
                result.reviews.append(
                    Review(record.system, record.key, tuple(found), f"{link.field} {pointer!r} names several records")
                )
                held.add(record.key)
                continue
            if found:
                pair = (record.key, found[0]) if system == mapping.left else (found[0], record.key)
                claims[pair].add(link.field)
    _accept_claims(claims, mapping, result, held, left_open, right_open)

    # 2. The natural key, among what is left.
    if entity.match_on:
        left_index = _index(entity, mapping.left, left_open, translate, mapping)
        right_index = _index(entity, mapping.left, right_open, translate, mapping)
        how = "natural key " + ", ".join(entity.match_on)
        for key_value, right_keys in right_index.items():
            left_keys = left_index.get(key_value, [])
            if not left_keys:
                continue
            if len(left_keys) == 1 and len(right_keys) == 1:
                result.matches.append(Match(left_keys[0], right_keys[0], how))
                del left_open[left_keys[0]], right_open[right_keys[0]]
                continue
            reason = f"{how} {_show(key_value)} matches {len(left_keys)} {mapping.left} and {len(right_keys)} " \
                     f"{mapping.right} records"  # fmt: skip
            for key in left_keys:
                result.reviews.append(Review(mapping.left, key, tuple(right_keys), reason))
            for key in right_keys:
                result.reviews.append(Review(mapping.right, key, tuple(left_keys), reason))
            held.update(left_keys)
            held.update(right_keys)
    result.left_alone = [record for key, record in left_open.items() if key not in held]
    result.right_alone = [record for key, record in right_open.items() if key not in held]
    return result


def _accept_claims(
    claims: dict[tuple[str, str], set[str]],
    mapping: SyncMapping,
    result: MatchResult,
    held: set[str],
    left_open: dict[str, MappedRecord],
    right_open: dict[str, MappedRecord],
) -> None:
    """Pairs named by link fields, unless a record is claimed by two different pairs (the ids disagree)."""
    per_left: dict[str, list[str]] = defaultdict(list)
    per_right: dict[str, list[str]] = defaultdict(list)
    for left_key, right_key in claims:
        per_left[left_key].append(right_key)
        per_right[right_key].append(left_key)
    named: dict[frozenset[str], str] = {}  # the few sets of link fields -> how their matches are described
    for (left_key, right_key), fields in sorted(claims.items()):
        if left_key in held or right_key in held:
            continue
        if len(per_left[left_key]) > 1 or len(per_right[right_key]) > 1:
            reason = "link fields disagree: " + ", ".join(sorted(fields))
            result.reviews.append(Review(mapping.left, left_key, tuple(per_left[left_key]), reason))
            result.reviews.append(Review(mapping.right, right_key, tuple(per_right[right_key]), reason))
            held.update((left_key, right_key))
            continue
        key = frozenset(fields)
        how = named.get(key) or named.setdefault(key, "link field " + ", ".join(sorted(fields)))
        result.matches.append(Match(left_key, right_key, how))
        left_open.pop(left_key, None)
        right_open.pop(right_key, None)


def _index(
    entity: EntityRule,
    left_system: str,
    records: dict[str, MappedRecord],
    translate: Translate,
    mapping: SyncMapping,
) -> dict[tuple[Value, ...], list[str]]:
    index: dict[tuple[Value, ...], list[str]] = defaultdict(list)
    for record in records.values():
        if not record.ok:
            continue
        parts: list[Value] = []
        for name in entity.match_on:
            value = record.values.get(name)
            if value is None:
                break
            if record.system != left_system:
                try:
                    value = translate(entity.field(name), left_system, value)
                except Untranslatable:
                    break
            parts.append(_normal(value))
        else:
            index[tuple(parts)].append(record.key)
    return index


def _normal(value: Value) -> Value:
    return " ".join(value.casefold().split()) if isinstance(value, str) else value


def _show(values: tuple[Value, ...]) -> str:
    return "(" + ", ".join(repr(v) for v in values) + ")"
