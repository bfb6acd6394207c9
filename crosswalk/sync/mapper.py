"""Map: a staged raw record to its entity's canonical values, in its own system's terms, with every problem named.

Values keep their side's vocabulary (status names, ids); types are canonical (dates ISO, decimals normalised, empty
text None) so two sides compare once translated. Translation into the other side's terms (value maps, references
through links, the target's length, defaults) is `ValueTranslator`, used by reconcile and by creates alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from crosswalk.extract.streams import dotted_get
from crosswalk.sync.mapping import EntityRule, FieldRule, SyncMapping
from crosswalk.sync.reconcile import Untranslatable, Value
from crosswalk.sync.values import BadValue, FieldType, canonical, lines_of, truncate


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
    checked: dict[str, Any] = field(default_factory=dict)  # columns the entity's checks read, as the record has them
    digest: str | None = None  # the staged record's content hash (None: a record made from others)

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


@dataclass(frozen=True)
class _FieldReader:
    name: str
    api_field: str
    convert: Callable[[Any], Value]  # raises BadValue
    allowed: frozenset[str] | None  # the side's value-map values, when the field has a value map
    dotted: bool  # a path into nested objects (most fields are top-level: read without dotted_get's call)


@dataclass(frozen=True)
class _SideReader:
    """How one side's records of an entity are read, worked out once rather than per record."""

    identity: tuple[str, ...]
    fields: tuple[_FieldReader, ...]
    checked: tuple[str, ...]


_MEMO_LIMIT = 100_000  # values remembered per converter (dates, numbers and flags repeat across records)


def _text_value(raw: Any) -> Value:
    """canonical(TEXT, raw), inlined: text is most of every record."""
    if raw is None:
        return None
    if type(raw) is str:
        return None if not raw or raw.isspace() else raw
    return canonical(FieldType.TEXT, raw)


def _converter(field_type: FieldType) -> Callable[[Any], Value]:
    if field_type is FieldType.TEXT:
        return _text_value
    memo: dict[Any, Value] = {}

    def convert(raw: Any) -> Value:
        try:
            return memo[raw]
        except KeyError:
            pass
        except TypeError:  # not hashable (a nested value): converted, never remembered
            return canonical(field_type, raw)
        value = canonical(field_type, raw)  # BadValue propagates and nothing is remembered
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[raw] = value
        return value

    return convert


def _reader(mapping: SyncMapping, entity: EntityRule, system: str) -> _SideReader:
    # Kept on the (frozen) rule itself, so it lives and dies with the mapping it was made from.
    readers: dict[str, _SideReader] = entity.__dict__.setdefault("_readers", {})
    reader = readers.get(system)
    if reader is None:
        fields = []
        for rule in entity.fields:
            allowed = None
            if rule.values:
                allowed = frozenset(rule.values) if system == mapping.left else frozenset(rule.values.values())
            api_field = rule.fields[system]
            fields.append(_FieldReader(rule.name, api_field, _converter(rule.type), allowed, "." in api_field))
        checked = {name for check in entity.checks.get(system, ()) for name in (check.column, check.argument)
                   if name == check.column or check.rule == "equals_column"}  # fmt: skip
        reader = _SideReader(identity_fields(entity, system, mapping.other(system)), tuple(fields), tuple(checked))
        readers[system] = reader
    return reader


def map_record(
    mapping: SyncMapping, entity: EntityRule, system: str, key: str, payload: Mapping[str, Any]
) -> MappedRecord:
    reader = _reader(mapping, entity, system)
    out = MappedRecord(system=system, object=entity.objects[system], key=key, values={})
    get = payload.get
    for api_field in reader.identity:
        raw = dotted_get(payload, api_field) if "." in api_field else get(api_field)
        out.identity[api_field] = None if raw is None or raw == "" else str(raw)
    values = out.values
    for field_reader in reader.fields:
        api_field = field_reader.api_field
        raw = dotted_get(payload, api_field) if field_reader.dotted else get(api_field)
        try:
            value = field_reader.convert(raw)
        except BadValue as exc:
            out.problems.append(FieldProblem(field_reader.name, api_field, "type", f"{api_field}: {exc}"))
            continue
        if value is not None and field_reader.allowed is not None and _text(value) not in field_reader.allowed:
            known = ", ".join(sorted(field_reader.allowed))
            reason = f"{api_field}: {value!r} is not in the value map ({known})"
            out.problems.append(FieldProblem(field_reader.name, api_field, "value_map", reason))
            continue
        values[field_reader.name] = value
    for column in reader.checked:
        out.checked[column] = dotted_get(payload, column)
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
        if rule.line_references:
            return self._lines(rule, target, value)
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


    def _lines(self, rule: FieldRule, target: str, value: Value) -> Value:
        """Each line's references (its item, its customer) in `target`'s terms."""
        lines = lines_of(value)
        for number, line in enumerate(lines, start=1):
            for path, entity in rule.line_references.items():
                parent, _, leaf = path.rpartition(".")
                holder = dotted_get(line, parent) if parent else line
                if not isinstance(holder, dict) or holder.get(leaf) in (None, ""):
                    continue
                resolved = self.references.translate(entity, target, str(holder[leaf]))
                if resolved is None:
                    raise Untranslatable(f"line {number}: {entity} {holder[leaf]} is not linked to {target} yet")
                holder[leaf] = resolved
        return canonical(FieldType.LINES, lines)


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
