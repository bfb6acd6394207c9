"""Map: a staged raw record to its entity's canonical values, in its own system's terms, with every problem named.

Values keep their side's vocabulary (status names, ids); types are canonical (dates ISO, decimals normalised, empty
text None) so two sides compare once translated. Translation into the other side's terms (value maps, references
through links, the target's length, defaults) is `ValueTranslator`, used by reconcile and by creates alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from crosswalk.extract.streams import dotted_get
from crosswalk.sync.mapping import EntityRule, FieldRule, SyncMapping
from crosswalk.sync.reconcile import Untranslatable, Value
from crosswalk.sync.values import BadValue, canonical, truncate


@dataclass(frozen=True)
class FieldProblem:
    """Why one field of a record cannot be synced: quarantine names the rule, the field and the reason."""

    field: str  # canonical field name
    api_field: str
    rule: str  # "type" | "value_map" (map), or the Great Expectations expectation that failed (validate)
    reason: str
    stage: str = "map"


@dataclass
class MappedRecord:
    system: str
    object: str
    key: str
    values: dict[str, Value]
    identity: dict[str, str | None] = field(default_factory=dict)  # API fields naming records: link, refer_by
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def identity_fields(entity: EntityRule, system: str, other: str) -> tuple[str, ...]:
    """The API fields of a side's record used to link it: its link field, the field the other side's link field
    holds, and the field other records refer to it by."""
    names: list[str] = []
    if system in entity.link_fields:
        names.append(entity.link_fields[system].field)
    if other in entity.link_fields:
        names.append(entity.link_fields[other].holds)
    if system in entity.refer_by:
        names.append(entity.refer_by[system])
    names.extend(entity.deactivate.get(system, {}))  # to see whether a record is inactive already
    return tuple(dict.fromkeys(names))


def map_record(
    mapping: SyncMapping, entity: EntityRule, system: str, key: str, payload: Mapping[str, Any]
) -> MappedRecord:
    out = MappedRecord(system=system, object=entity.objects[system], key=key, values={})
    for api_field in identity_fields(entity, system, mapping.other(system)):
        raw = dotted_get(payload, api_field)
        out.identity[api_field] = None if raw in (None, "") else str(raw)
    for rule in entity.fields:
        api_field = rule.fields[system]
        raw = dotted_get(payload, api_field)
        try:
            value = canonical(rule.type, raw)
        except BadValue as exc:
            out.problems.append(FieldProblem(rule.name, api_field, "type", f"{api_field}: {exc}"))
            continue
        if value is not None and rule.values:
            allowed = rule.values.keys() if system == mapping.left else set(rule.values.values())
            if _text(value) not in allowed:
                known = ", ".join(sorted(allowed))
                out.problems.append(
                    FieldProblem(
                        rule.name, api_field, "value_map", f"{api_field}: {value!r} is not in the value map ({known})"
                    )
                )
                continue
        out.values[rule.name] = value
    return out


class References(Protocol):
    """Resolves a reference value from one side's terms into the other's through an entity's links."""

    def translate(self, entity: str, target: str, value: str) -> str | None:
        """The target's reference value for the record `value` names on the other side; None when not linked."""
        ...


@dataclass
class ValueTranslator:
    """translate(rule, target, value): a value of the other side in `target`'s terms (see reconcile.Translate)."""

    mapping: SyncMapping
    references: References

    def __call__(self, rule: FieldRule, target: str, value: Value) -> Value:
        if value is None:
            default = rule.defaults.get(target)
            return canonical(rule.type, default) if default is not None else None
        if rule.reference is not None:
            resolved = self.references.translate(rule.reference, target, str(value))
            if resolved is None:
                raise Untranslatable(f"{rule.reference} {value} is not linked to {target} yet")
            return resolved
        if rule.values:
            text = _text(value)
            table = rule.values if target == self.mapping.right else rule.inverse_values
            if text not in table:
                raise Untranslatable(f"{value!r} is not in the value map")
            value = canonical(rule.type, table[text])
        length = rule.max_length.get(target)
        if length is not None and rule.truncate and isinstance(value, str):
            value = truncate(value, length)
        return value


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
