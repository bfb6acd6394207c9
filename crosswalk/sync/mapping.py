"""A sync's mapping file (config/mappings/<sync>.yaml): entities, their objects on each side, links and fields.

A mapping names two systems, `left` and `right` (projects: intacct and salesforce). Each entity pairs one object of
each, says where each side keeps the other's id (so links can be rebuilt from the records), which canonical fields
match unlinked pairs, and maps fields: the API field on each side, a direction, a type, value maps, defaults, the
target's length, a reference to another entity (resolved through its links) and, optionally, the field's owner.

Everything is checked when the file is loaded, against the fields each stream really has, and every error names
the file, the line and the key.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from crosswalk.sync.values import BadValue, FieldType, canonical
from crosswalk.yamlfile import LocatedYaml, YamlFileError, load_located_yaml

Path_ = tuple[str, ...]
BOTH = "both"
MAPPING_VERSION = 1


class MappingError(YamlFileError):
    """The mapping file is wrong; the message names the file, line and key."""


@dataclass(frozen=True)
class LinkField:
    """A field on one side's record that holds the other side's identity (an external id)."""

    field: str  # e.g. Salesforce ia_crm__Project_ID__c
    holds: str  # the other side's field it copies, e.g. Intacct PROJECTID (or that side's key)


CHECK_RULES = ("between", "equals_column", "not_null", "in")


@dataclass(frozen=True)
class RecordCheck:
    """An expectation on one side's records beyond their fields' own rules: a document's total equals the sum of its
    lines, every line names an item. `column` is a field of the record as the sync presents it."""

    column: str
    rule: str  # one of CHECK_RULES
    argument: Any  # [low, high] | the other column | True | the allowed values
    reason: str


@dataclass(frozen=True)
class FieldRule:
    name: str  # canonical name, e.g. begin_date
    fields: dict[str, str]  # system -> API field (dotted path)
    type: FieldType
    direction: str  # "both", or "<source>_to_<target>"
    values: dict[str, str]  # left value -> right value; canonical values are the left side's
    defaults: dict[str, Any]  # target system -> value written when the source has none
    max_length: dict[str, int]  # target system -> characters the target field holds (longer values are refused...)
    truncate: bool  # ...unless the field is cut to that length instead
    required: bool  # a record without a value is refused
    range: tuple[float, float] | None  # a number outside it is refused
    reference: str | None  # entity whose links resolve this field's values
    owner: str | None  # system whose value wins a conflict on this field
    line: int
    # For a `lines` field: path inside each line -> entity whose links resolve the value there (a line's item).
    line_references: dict[str, str] = field(default_factory=dict)

    def flows_to(self, target: str, systems: tuple[str, str]) -> bool:
        """Whether this field's values may be written to `target`."""
        if self.direction == BOTH:
            return True
        source = systems[0] if target == systems[1] else systems[1]
        return self.direction == f"{source}_to_{target}"

    @cached_property
    def inverse_values(self) -> dict[str, str]:  # read for every translated value: made once
        return {right: left for left, right in self.values.items()}


@dataclass(frozen=True)
class EntityRule:
    name: str
    objects: dict[str, str]  # system -> API object
    keys: dict[str, str]  # system -> the field holding the record's key (its stream's primary key)
    link_fields: dict[str, LinkField]  # system -> the field on that system's records naming the other side
    refer_by: dict[str, str]  # system -> the field other records use to refer to this one (absent: the key)
    match_on: tuple[str, ...]  # canonical field names matching unlinked pairs (a natural key)
    fields: tuple[FieldRule, ...]
    ordered: tuple[tuple[str, str], ...]  # field pairs whose first value may not come after the second (begin, end)
    create_defaults: dict[str, dict[str, Any]]  # system -> API field -> value set when Crosswalk creates a record
    deactivate: dict[str, dict[str, Any]]  # system -> API field -> value that makes a record inactive (on_delete)
    sync: bool  # False: links only (an entity other fields refer to, not written by this sync)
    line: int
    checks: dict[str, tuple[RecordCheck, ...]] = field(default_factory=dict)  # system -> expectations on records

    def references(self) -> set[str]:
        """Entities this one's fields refer to, in lines too."""
        names = {rule.reference for rule in self.fields if rule.reference}
        names.update(entity for rule in self.fields for entity in rule.line_references.values())
        return {name for name in names if name and name != self.name}

    def field(self, name: str) -> FieldRule:
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(name)


@dataclass(frozen=True)
class SyncMapping:
    path: Path
    sync: str
    systems: tuple[str, str]  # (left, right)
    entities: dict[str, EntityRule]
    content_hash: str  # of the file's text: the mapped assets' code version
    field_mappings: dict[str, Any] = field(default_factory=dict)  # a sync's own named settings (QBO accounts)

    @property
    def left(self) -> str:
        return self.systems[0]

    @property
    def right(self) -> str:
        return self.systems[1]

    def other(self, system: str) -> str:
        return self.right if system == self.left else self.left

    def directions(self) -> tuple[str, ...]:
        return (BOTH, f"{self.left}_to_{self.right}", f"{self.right}_to_{self.left}")


@dataclass(frozen=True)
class StreamShape:
    key: str  # the field holding a record's key
    fields: Iterable[str] | None  # the fields read, or None when the stream reads every field (cannot be checked)


# The shape of a system's object; raises KeyError when Crosswalk has no such stream.
FieldCatalog = Callable[[str, str], StreamShape]


def catalog_fields(system: str, object_name: str) -> StreamShape:
    """The key and fields Crosswalk extracts for a stream (crosswalk/clients/catalog.py)."""
    from crosswalk.clients.catalog import find_stream

    spec = find_stream(system, object_name)
    key = spec.primary_key if isinstance(spec.primary_key, str) else ":".join(spec.primary_key)
    return StreamShape(key, None if spec.fields == ("*",) else spec.fields)


def load_mapping(path: Path, fields_of: FieldCatalog = catalog_fields) -> SyncMapping:
    try:
        located = load_located_yaml(path)
    except YamlFileError as exc:
        raise MappingError(str(exc)) from None
    return _Parser(located, fields_of).parse()


_TOP_KEYS = ("version", "sync", "systems", "entities", "field_mappings")
_ENTITY_KEYS = (
    "objects", "link_fields", "refer_by", "match_on", "sync", "fields", "create_defaults", "deactivate", "ordered",
    "checks",
)  # fmt: skip
_FIELD_KEYS = (
    "type", "direction", "values", "default", "max_length", "truncate", "required", "range", "reference", "owner",
    "references",
)  # fmt: skip


@dataclass
class _Parser:
    doc: LocatedYaml
    fields_of: FieldCatalog
    systems: tuple[str, str] = field(default=("", ""))

    def fail(self, at: Path_, problem: str) -> MappingError:
        return MappingError(str(self.doc.error(at, problem)))

    def mapping_at(self, value: Any, at: Path_) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(at, f"must be a mapping, got {_kind(value)}")
        return value

    def check_keys(self, section: dict[str, Any], at: Path_, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in section:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f" (did you mean {hint[0]}?)" if hint else f" (known: {', '.join(allowed)})"
                raise self.fail((*at, key), f"unknown key{suggestion}")

    def parse(self) -> SyncMapping:
        top = self.mapping_at(self.doc.data, ())
        self.check_keys(top, (), _TOP_KEYS)
        version = top.get("version", MAPPING_VERSION)
        if version != MAPPING_VERSION:
            raise self.fail(("version",), f"this Crosswalk reads mapping version {MAPPING_VERSION}, got {version!r}")
        sync = top.get("sync")
        if not isinstance(sync, str) or not sync:
            raise self.fail(("sync",), "must name the sync, e.g. projects")
        systems = top.get("systems")
        if not (isinstance(systems, list) and len(systems) == 2 and all(isinstance(s, str) for s in systems)):
            raise self.fail(("systems",), "must list the two systems, left then right, e.g. [intacct, salesforce]")
        if systems[0] == systems[1]:
            raise self.fail(("systems",), "must name two different systems")
        self.systems = (systems[0], systems[1])
        entities_section = self.mapping_at(top.get("entities"), ("entities",))
        if not entities_section:
            raise self.fail(("entities",), "must define at least one entity")
        entities = {
            name: self.entity(name, self.mapping_at(value, ("entities", name)))
            for name, value in entities_section.items()
        }
        for entity in entities.values():
            for rule in entity.fields:
                named = [("reference",), *((("references", path),) for path in rule.line_references)]
                for where, target in zip(named, [rule.reference, *rule.line_references.values()], strict=True):
                    if target is not None and target not in entities:
                        raise self.fail(
                            ("entities", entity.name, "fields", rule.name, *where),
                            f"names no entity of this mapping: {target!r} (entities: {', '.join(entities)})",
                        )
        digest = hashlib.sha256(self.doc.path.read_bytes()).hexdigest()
        field_mappings = self.mapping_at(top.get("field_mappings") or {}, ("field_mappings",))
        for key, value in field_mappings.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise self.fail(("field_mappings", key), f"must be one value (a name), got {_kind(value)}")
        return SyncMapping(self.doc.path, sync, self.systems, entities, digest, dict(field_mappings))

    def entity(self, name: str, section: dict[str, Any]) -> EntityRule:
        at: Path_ = ("entities", name)
        self.check_keys(section, at, _ENTITY_KEYS)
        objects_section = self.mapping_at(section.get("objects"), (*at, "objects"))
        self.check_keys(objects_section, (*at, "objects"), self.systems)
        objects: dict[str, str] = {}
        keys: dict[str, str] = {}
        known: dict[str, set[str] | None] = {}
        for system in self.systems:
            object_name = objects_section.get(system)
            if not isinstance(object_name, str):
                raise self.fail((*at, "objects"), f"must name the {system} object")
            try:
                shape = self.fields_of(system, object_name)
            except KeyError:
                raise self.fail((*at, "objects", system), f"{system} has no stream {object_name!r}") from None
            objects[system] = object_name
            keys[system] = shape.key
            known[system] = set(shape.fields) if shape.fields is not None else None

        def check_field(system: str, api_field: Any, where: Path_) -> str:
            if not isinstance(api_field, str) or not api_field:
                raise self.fail(where, f"must be a {system} field name, got {_kind(api_field)}")
            names = known[system]
            if names is not None and api_field not in names:
                hint = difflib.get_close_matches(api_field, sorted(names), n=1)
                suggestion = f"; did you mean {hint[0]}?" if hint else ""
                raise self.fail(where, f"{system} {objects[system]} has no field {api_field!r}{suggestion}")
            return api_field

        link_section = section.get("link_fields") or {}
        self.mapping_at(link_section, (*at, "link_fields"))
        self.check_keys(link_section, (*at, "link_fields"), self.systems)
        link_fields: dict[str, LinkField] = {}
        for system, spec in link_section.items():
            where = (*at, "link_fields", system)
            spec = self.mapping_at(spec, where)
            self.check_keys(spec, where, ("field", "holds"))
            other = self.other(system)
            link_fields[system] = LinkField(
                field=check_field(system, spec.get("field"), (*where, "field")),
                holds=check_field(other, spec.get("holds"), (*where, "holds")),
            )

        refer_section = self.mapping_at(section.get("refer_by") or {}, (*at, "refer_by"))
        self.check_keys(refer_section, (*at, "refer_by"), self.systems)
        refer_by = {
            system: check_field(system, value, (*at, "refer_by", system)) for system, value in refer_section.items()
        }

        def api_values(key: str) -> dict[str, dict[str, Any]]:
            """system -> {API field: value} under `key`: values Crosswalk sets as they are."""
            section_at = (*at, key)
            given = self.mapping_at(section.get(key) or {}, section_at)
            self.check_keys(given, section_at, self.systems)
            out: dict[str, dict[str, Any]] = {}
            for system, values in given.items():
                where = (*section_at, system)
                values = self.mapping_at(values, where)
                for api_field, value in values.items():
                    check_field(system, api_field, (*where, api_field))
                    if not isinstance(value, str | int | float | bool):
                        raise self.fail((*where, api_field), f"must be one value, got {_kind(value)}")
                out[system] = dict(values)
            return out

        create_defaults = api_values("create_defaults")
        deactivate = api_values("deactivate")

        sync_flag = section.get("sync", True)
        if not isinstance(sync_flag, bool):
            raise self.fail((*at, "sync"), f"must be true or false, got {sync_flag!r}")
        fields_section = self.mapping_at(section.get("fields") or {}, (*at, "fields"))
        rules = tuple(
            self.field(name, self.mapping_at(value, (*at, "fields", name)), (*at, "fields", name), check_field)
            for name, value in fields_section.items()
        )
        names = {rule.name for rule in rules}
        match_on = section.get("match_on") or []
        if not isinstance(match_on, list) or not all(isinstance(item, str) for item in match_on):
            raise self.fail((*at, "match_on"), "must be a list of field names of this entity")
        for index, item in enumerate(match_on):
            if item not in names:
                raise self.fail((*at, "match_on", str(index)), f"{item!r} is not a field of {name}")
        ordered_section = section.get("ordered") or []
        if not isinstance(ordered_section, list):
            raise self.fail((*at, "ordered"), "must be a list of [earlier, later] field pairs")
        ordered: list[tuple[str, str]] = []
        for index, pair in enumerate(ordered_section):
            where = (*at, "ordered", str(index))
            if not (isinstance(pair, list) and len(pair) == 2 and all(item in names for item in pair)):
                raise self.fail(where, f"must be a pair of fields of {name}, e.g. [begin_date, end_date], got {pair!r}")
            ordered.append((pair[0], pair[1]))
        checks = self.checks(section.get("checks"), (*at, "checks"))
        return EntityRule(
            name=name,
            checks=checks,
            objects=objects,
            keys=keys,
            link_fields=link_fields,
            refer_by=refer_by,
            match_on=tuple(match_on),
            fields=rules,
            create_defaults=create_defaults,
            deactivate=deactivate,
            ordered=tuple(ordered),
            sync=sync_flag,
            line=self.doc.line(at) or 0,
        )

    def other(self, system: str) -> str:
        return self.systems[1] if system == self.systems[0] else self.systems[0]

    def checks(self, section: Any, at: Path_) -> dict[str, tuple[RecordCheck, ...]]:
        if section is None:
            return {}
        section = self.mapping_at(section, at)
        self.check_keys(section, at, self.systems)
        out: dict[str, tuple[RecordCheck, ...]] = {}
        for system, items in section.items():
            if not isinstance(items, list):
                raise self.fail((*at, system), f"must be a list of checks, got {_kind(items)}")
            checks = []
            for index, item in enumerate(items):
                where = (*at, system, str(index))
                item = self.mapping_at(item, where)
                self.check_keys(item, where, ("column", "reason", *CHECK_RULES))
                column = item.get("column")
                if not isinstance(column, str) or not column:
                    raise self.fail(where, "must name the column it checks")
                rules = [rule for rule in CHECK_RULES if rule in item]
                if len(rules) != 1:
                    raise self.fail(where, f"must give exactly one of {', '.join(CHECK_RULES)}")
                rule, argument = rules[0], item[rules[0]]
                shapes = {
                    "between": isinstance(argument, list) and len(argument) == 2
                    and all(isinstance(b, int | float) and not isinstance(b, bool) for b in argument),
                    "equals_column": isinstance(argument, str) and bool(argument),
                    "not_null": argument is True,
                    "in": isinstance(argument, list) and bool(argument),
                }  # fmt: skip
                if not shapes[rule]:
                    raise self.fail((*where, rule), f"not a valid {rule} check: {argument!r}")
                reason = item.get("reason") or f"{column} fails {rule} {argument!r}"
                checks.append(RecordCheck(column, rule, argument, str(reason)))
            out[system] = tuple(checks)
        return out

    def field(
        self, name: str, section: dict[str, Any], at: Path_, check_field: Callable[[str, Any, Path_], str]
    ) -> FieldRule:
        self.check_keys(section, at, (*self.systems, *_FIELD_KEYS))
        fields = {system: check_field(system, section[system], (*at, system)) for system in self.systems
                  if system in section}  # fmt: skip
        if not fields:
            raise self.fail(at, f"must name the field on {self.systems[0]}, {self.systems[1]} or both")
        type_name = section.get("type", FieldType.TEXT.value)
        try:
            field_type = FieldType(type_name)
        except ValueError:
            known = ", ".join(t.value for t in FieldType)
            raise self.fail((*at, "type"), f"unknown type {type_name!r} (known: {known})") from None
        left, right = self.systems
        directions = (BOTH, f"{left}_to_{right}", f"{right}_to_{left}")
        direction = section.get("direction", BOTH)
        if direction not in directions:
            raise self.fail((*at, "direction"), f"must be one of {', '.join(directions)}, got {direction!r}")
        if len(fields) == 1:
            raise self.fail(at, f"names a field on {next(iter(fields))} only: a synced field needs both sides")
        owner = section.get("owner")
        if owner is not None and owner not in self.systems:
            raise self.fail((*at, "owner"), f"must be {left} or {right}, got {owner!r}")
        if owner is not None and direction != BOTH:
            raise self.fail((*at, "owner"), "only a field synced both ways has an owner (a one-way field's source has)")
        values = self.value_map(section.get("values"), (*at, "values"), direction, field_type)
        defaults = self.per_target(section.get("default"), (*at, "default"), field_type, check_type=True)
        max_length = self.per_target(section.get("max_length"), (*at, "max_length"), field_type, check_type=False)
        for system, length in max_length.items():
            if not isinstance(length, int) or isinstance(length, bool) or length < 1:
                raise self.fail((*at, "max_length", system), f"must be a positive whole number, got {length!r}")
            if field_type is not FieldType.TEXT:
                raise self.fail((*at, "max_length"), f"applies to text fields only, this one is {field_type.value}")
        flags = {}
        for flag in ("truncate", "required"):
            flags[flag] = section.get(flag, False)
            if not isinstance(flags[flag], bool):
                raise self.fail((*at, flag), f"must be true or false, got {flags[flag]!r}")
        if flags["truncate"] and not max_length:
            raise self.fail((*at, "truncate"), "cuts text to max_length: give max_length for the target too")
        bounds = section.get("range")
        if bounds is not None:
            numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
                isinstance(b, int | float) and not isinstance(b, bool) for b in bounds
            )
            if not numbers or bounds[0] > bounds[1]:
                raise self.fail((*at, "range"), f"must be [lowest, highest], got {bounds!r}")
            if field_type not in (FieldType.DECIMAL, FieldType.INTEGER):
                raise self.fail((*at, "range"), f"applies to numbers only, this field is {field_type.value}")
        reference = section.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise self.fail((*at, "reference"), f"must name an entity, got {_kind(reference)}")
        if reference is not None and values:
            raise self.fail((*at, "values"), "a reference field's values are ids resolved through links: no value map")
        line_references = self.mapping_at(section.get("references") or {}, (*at, "references"))
        if line_references and field_type is not FieldType.LINES:
            raise self.fail((*at, "references"), "names references inside lines: the field's type must be lines")
        for path, entity_name in line_references.items():
            if not isinstance(entity_name, str):
                raise self.fail((*at, "references", path), f"must name an entity, got {_kind(entity_name)}")
        return FieldRule(
            name=name,
            fields=fields,
            type=field_type,
            direction=direction,
            values=values,
            defaults=defaults,
            max_length=max_length,
            truncate=flags["truncate"],
            required=flags["required"],
            range=(float(bounds[0]), float(bounds[1])) if bounds is not None else None,
            reference=reference,
            owner=owner,
            line=self.doc.line(at) or 0,
            line_references=dict(line_references),
        )

    def value_map(self, section: Any, at: Path_, direction: str, field_type: FieldType) -> dict[str, str]:
        """left value -> right value. Values that flow right to left need the map to be one-to-one."""
        if section is None:
            return {}
        section = self.mapping_at(section, at)
        left, right = self.systems
        if set(section) <= {left, right} and section:
            raise self.fail(at, f"maps {left} values to {right} values directly, e.g. {{'Active': 'In Progress'}}")
        values: dict[str, str] = {}
        seen: dict[str, str] = {}
        for left_value, right_value in section.items():
            where = (*at, str(left_value))
            if not isinstance(right_value, str | int | float | bool) or right_value is None:
                raise self.fail(where, f"must map to one {right} value, got {_kind(right_value)}")
            left_text, right_text = str(left_value), _scalar_text(right_value)
            try:
                canonical(field_type, left_text)
                canonical(field_type, right_text)
            except BadValue as exc:
                raise self.fail(where, f"not a {field_type.value} value: {exc}") from None
            if right_text in seen and direction != f"{left}_to_{right}":
                raise self.fail(
                    where,
                    f"{right} value {right_text!r} is mapped from both {seen[right_text]!r} and {left_text!r}: "
                    f"a field that flows {right} to {left} needs a one-to-one map",
                )
            seen[right_text] = left_text
            values[left_text] = right_text
        return values

    def per_target(self, section: Any, at: Path_, field_type: FieldType, *, check_type: bool) -> dict[str, Any]:
        if section is None:
            return {}
        section = self.mapping_at(section, at)
        self.check_keys(section, at, self.systems)
        if check_type:
            for system, value in section.items():
                try:
                    canonical(field_type, value)
                except BadValue as exc:
                    raise self.fail((*at, system), f"not a {field_type.value} value: {exc}") from None
        return dict(section)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
