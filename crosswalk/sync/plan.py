"""Plan: from one entity's mapped records on both sides and its links, the writes a run will make, and why.

Per link: reconcile (three-way, field level) and plan an update of each side that must change, carrying the link
fields when a record lacks them. Never-linked records are matched first (matching.py); a match becomes a link, a
record without a counterpart becomes a create on the other side with the identity it will be found by (an external
id upsert on Salesforce, the Intacct key chosen here, before any call). Records whose mapping failed are refused
with the field and the reason, and their pairs are left alone this run; ambiguous matches go to review.

The plan is the plan: a dry run shows exactly these items, and a run executes exactly them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from crosswalk.sync.mapper import FieldProblem, MappedRecord
from crosswalk.sync.mapping import EntityRule, SyncMapping
from crosswalk.sync.matching import Review, match_records
from crosswalk.sync.reconcile import Conflict, ConflictPolicy, Side, Translate, Untranslatable, Value, reconcile_pair


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REFUSED = "refused"  # the record cannot be synced as it is (mapping problem, value the target cannot take)
    FLAG = "flag"  # the record was deleted on one side; the other is kept (Crosswalk never hard-deletes)
    LINK = "link"  # the pair's link and bases, stored once the pair's writes are settled (no API call)


class OnDelete(StrEnum):
    FLAG = "flag"
    DEACTIVATE = "deactivate"
    IGNORE = "ignore"


@dataclass(frozen=True)
class LinkState:
    """A stored link as the planner sees it: the pair and each side's base (None: never synced), and the state of
    each side's record when a plan last found the pair with nothing to do (None: not since it was last written)."""

    id: int | None
    left_key: str | None
    right_key: str | None
    base_left: Mapping[str, Value] | None = None
    base_right: Mapping[str, Value] | None = None
    left_hash: str | None = None
    right_hash: str | None = None


class LinkMark(NamedTuple):
    """A stored link without its bases: its keys and the state each side's record had when a plan last found the
    pair with nothing to do. A pair whose records still have those states is left unplanned."""

    id: int
    left_key: str | None
    right_key: str | None
    left_hash: str | None
    right_hash: str | None


@dataclass
class PlanItem:
    entity: str
    action: Action
    pair: str  # the pair this item belongs to: "link:<id>" or "new:<entity>:<left key or ->:<right key or ->"
    target: str | None = None  # the system written to
    target_object: str | None = None
    target_key: str | None = None  # the record updated; None for a create
    source: str | None = None
    source_key: str | None = None
    values: dict[str, Value] = field(default_factory=dict)  # mapped fields to write, in the target's terms
    link_values: dict[str, str] = field(default_factory=dict)  # API link fields to write (ids of the other side)
    fixed_values: dict[str, Any] = field(default_factory=dict)  # API fields a create sets (the mapping's defaults)
    link_from_result: str | None = None  # API link field that takes the key another item's create returns
    identity: tuple[str, str] | None = None  # (API field, value) the record is found by in the target
    scope: str | None = None  # where a create goes (an Intacct entity); None: the top level
    before: dict[str, Value] = field(default_factory=dict)  # the target's current values of `values`
    conflicts: list[Conflict] = field(default_factory=list)
    reason: str | None = None
    link: dict[str, Any] | None = None  # for LINK: link_id, left_key, right_key, base_left, base_right, matched_by

    def as_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "action": self.action.value,
            "pair": self.pair,
            "target": self.target,
            "target_object": self.target_object,
            "target_key": self.target_key,
            "source": self.source,
            "source_key": self.source_key,
            "values": self.values,
            "link_values": self.link_values,
            "fixed_values": self.fixed_values,
            "link_from_result": self.link_from_result,
            "identity": list(self.identity) if self.identity else None,
            "scope": self.scope,
            "before": self.before,
            "conflicts": [conflict.__dict__ for conflict in self.conflicts],
            "reason": self.reason,
            "link": self.link,
        }


@dataclass
class PairOutcome:
    """What a pair's link becomes once every item of the pair succeeded."""

    pair: str
    link_id: int | None
    left_key: str | None
    right_key: str | None  # None until the right side's create returns it
    base_left: dict[str, Value]
    base_right: dict[str, Value]
    matched_by: str | None = None


    def as_item(self, entity: str) -> PlanItem:
        return PlanItem(entity, Action.LINK, self.pair, link={
            "link_id": self.link_id, "left_key": self.left_key, "right_key": self.right_key,
            "base_left": self.base_left, "base_right": self.base_right, "matched_by": self.matched_by,
        })  # fmt: skip


@dataclass
class EntityPlan:
    entity: str
    items: list[PlanItem] = field(default_factory=list)
    pairs: dict[str, PairOutcome] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    problems: list[tuple[MappedRecord, FieldProblem]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # in_sync, linked, created, updated, refused, ...
    quiet: list[LinkState] = field(default_factory=list)  # linked pairs reconciled with nothing to do or store


@dataclass(frozen=True)
class EntityData:
    """One entity's mapped live records per side, keys deleted on each side, and its links."""

    left: Mapping[str, MappedRecord]
    right: Mapping[str, MappedRecord]
    links: list[LinkState]  # the links planned: every link but the unchanged ones
    left_deleted: frozenset[str] = frozenset()
    right_deleted: frozenset[str] = frozenset()
    # Pairs an earlier plan found with nothing to do, neither record changed since: not planned, their records in
    # neither side above. Their bases, read when asked for (`values_of`).
    unchanged: Mapping[int, LinkMark] = field(default_factory=dict)
    unchanged_bases: Callable[[], Iterable[tuple[Mapping[str, Value], Mapping[str, Value]]]] = lambda: ()

    def values_of(self, name: str) -> set[Value]:
        """A field's values over both sides' records; an unchanged pair's from its bases (what its records held
        when it was last found in sync, and hold still)."""
        values = {record.values.get(name) for side in (self.left, self.right) for record in side.values()}
        for base_left, base_right in self.unchanged_bases():
            values.update((base_left.get(name), base_right.get(name)))
        return values


@dataclass(frozen=True)
class PlanOptions:
    policy: ConflictPolicy = ConflictPolicy.LEFT_WINS
    on_delete: OnDelete = OnDelete.FLAG
    create_left: bool = True  # records only on the right are created on the left
    create_right: bool = True
    # The identity field value (an Intacct PROJECTID) of a record created from a source record that names none:
    # derived from the source key, so planning the same record again chooses the same value.
    new_identity: Callable[[str], str] = str
    # Where a record created in `target` from `source` goes (an Intacct entity for a project, SPEC A4).
    scope_of: Callable[[EntityRule, MappedRecord, str], str | None] = lambda _entity, _record, _target: None
    # API values a create sets beyond the mapped fields and the mapping's create_defaults (which they override).
    create_values_of: Callable[[EntityRule, MappedRecord, str], dict[str, Any]] = lambda _e, _r, _t: {}
    # Why a record is held back this run (a document its owner may not send), or None: a held record is neither
    # written nor matched, and the plan lists it with the reason; it is not quarantined (nothing is wrong with it).
    hold: Callable[[EntityRule, MappedRecord], str | None] = lambda _entity, _record: None


def plan_entity(
    mapping: SyncMapping,
    entity: EntityRule,
    data: EntityData,
    translate: Translate,
    options: PlanOptions,
) -> EntityPlan:
    plan = EntityPlan(entity.name)
    left_system, right_system = mapping.systems
    usable_left = _usable(data.left, plan, entity, left_system, options)
    usable_right = _usable(data.right, plan, entity, right_system, options)
    linked_left: set[str] = set()
    linked_right: set[str] = set()
    if data.unchanged:
        plan.counts["unchanged"] += len(data.unchanged)
        plan.counts["in_sync"] += len(data.unchanged) if entity.sync else 0

    for link in data.links:
        if link.left_key:
            linked_left.add(link.left_key)
        if link.right_key:
            linked_right.add(link.right_key)
        pair = f"link:{link.id}"
        left = data.left.get(link.left_key or "")
        right = data.right.get(link.right_key or "")
        if link.left_key in data.left_deleted or link.right_key in data.right_deleted:
            deleted_on = left_system if link.left_key in data.left_deleted else right_system
            survivor = right if deleted_on == left_system else left
            _plan_delete(plan, entity, mapping, link, deleted_on, survivor, pair, options)
            continue
        if left is None or right is None:
            plan.counts["waiting"] += 1  # one side not staged yet (or refused): nothing to compare this run
            continue
        if link.left_key not in usable_left or link.right_key not in usable_right:
            plan.counts["refused"] += 1
            continue
        if not entity.sync:
            plan.quiet.append(link)  # linked already; an entity this sync does not write has nothing to reconcile
            continue
        planned = len(plan.items)
        _plan_pair(plan, mapping, entity, translate, options, pair, link, left, right, None)
        if len(plan.items) == planned and pair not in plan.pairs:
            plan.quiet.append(link)

    open_left = [record for key, record in usable_left.items() if key not in linked_left]
    open_right = [record for key, record in usable_right.items() if key not in linked_right]
    matched = match_records(mapping, entity, open_left, open_right, translate)
    plan.reviews.extend(matched.reviews)
    plan.counts["review"] += len(matched.reviews)
    if not entity.sync:
        # An entity other fields refer to but this sync does not write: its pairs are linked, nothing is written.
        for match in matched.matches:
            pair = f"new:{entity.name}:{match.left_key}:{match.right_key}"
            plan.pairs[pair] = PairOutcome(pair, None, match.left_key, match.right_key, {}, {}, match.how)
            plan.counts["matched"] += 1
        return plan
    for match in matched.matches:
        link = LinkState(None, match.left_key, match.right_key)
        pair = f"new:{entity.name}:{match.left_key}:{match.right_key}"
        _plan_pair(
            plan, mapping, entity, translate, options, pair, link, usable_left[match.left_key],
            usable_right[match.right_key], match.how,
        )  # fmt: skip
        plan.counts["matched"] += 1
    if options.create_right:
        for record in matched.left_alone:
            _plan_create(plan, mapping, entity, translate, options, record, right_system)
    if options.create_left:
        for record in matched.right_alone:
            _plan_create(plan, mapping, entity, translate, options, record, left_system)
    return plan


def _usable(
    records: Mapping[str, MappedRecord], plan: EntityPlan, entity: EntityRule, system: str, options: PlanOptions
) -> dict[str, MappedRecord]:
    usable: dict[str, MappedRecord] = {}
    for key, record in records.items():
        if record.ok:
            why = options.hold(entity, record)
            if why is None:
                usable[key] = record
                continue
            plan.items.append(PlanItem(entity.name, Action.REFUSED, f"record:{system}:{key}", source=system,
                                       source_key=key, reason=f"held back: {why}"))  # fmt: skip
            plan.counts["held"] += 1
            continue
        for problem in record.problems:
            plan.problems.append((record, problem))
        reasons = "; ".join(problem.reason for problem in record.problems)
        plan.items.append(
            PlanItem(entity.name, Action.REFUSED, f"record:{system}:{key}", source=system, source_key=key,
                     reason=reasons)
        )  # fmt: skip
        plan.counts["refused"] += 1
    return usable


def _link_field_values(
    mapping: SyncMapping, entity: EntityRule, target: str, target_record: MappedRecord | None, other: MappedRecord
) -> dict[str, str]:
    """The link field of `target` that must be written so it names `other` (empty when it already does)."""
    link = entity.link_fields.get(target)
    if link is None:
        return {}
    wanted = other.key if link.holds not in other.identity else other.identity.get(link.holds)
    if not wanted:
        return {}
    current = target_record.identity.get(link.field) if target_record is not None else None
    return {} if current == wanted else {link.field: wanted}


def _plan_pair(
    plan: EntityPlan,
    mapping: SyncMapping,
    entity: EntityRule,
    translate: Translate,
    options: PlanOptions,
    pair: str,
    link: LinkState,
    left: MappedRecord,
    right: MappedRecord,
    matched_by: str | None,
) -> None:
    left_system, right_system = mapping.systems
    result = reconcile_pair(
        entity, mapping.systems, Side(left.values, link.base_left), Side(right.values, link.base_right),
        options.policy, translate,
    )  # fmt: skip
    writes = 0
    for target, record, other, values in (
        (left_system, left, right, result.to_left),
        (right_system, right, left, result.to_right),
    ):
        link_values = _link_field_values(mapping, entity, target, record, other)
        if not values and not link_values:
            continue
        plan.items.append(
            PlanItem(
                entity.name, Action.UPDATE, pair, target=target, target_object=entity.objects[target],
                target_key=record.key, source=other.system, source_key=other.key, values=dict(values),
                link_values=link_values, before={name: record.values.get(name) for name in values},
                conflicts=[c for c in result.conflicts if c.field in values],
                reason=matched_by,
            )
        )
        writes += 1
        plan.counts[f"update_{target}"] += 1
    if result.conflicts:
        plan.counts["conflicts"] += len(result.conflicts)
        if not writes:  # a conflict whose winner already holds the value elsewhere: record it on the pair anyway
            plan.items.append(
                PlanItem(entity.name, Action.UPDATE, pair, target=None, conflicts=list(result.conflicts),
                         reason="conflict settled without a write")
            )  # fmt: skip
    for name, why in result.waiting.items():
        plan.counts["waiting_fields"] += 1
        plan.items.append(
            PlanItem(entity.name, Action.REFUSED, pair, source=left_system, source_key=left.key,
                     reason=f"{name}: {why}")
        )  # fmt: skip
    changed_bases = (
        dict(link.base_left or {}) != result.base_left or dict(link.base_right or {}) != result.base_right
    )
    if writes or changed_bases or link.id is None:
        plan.pairs[pair] = PairOutcome(
            pair, link.id, left.key, right.key, result.base_left, result.base_right, matched_by
        )
    if not writes:
        plan.counts["in_sync"] += 1


def plan_matched_pair(
    plan: EntityPlan,
    mapping: SyncMapping,
    entity: EntityRule,
    translate: Translate,
    options: PlanOptions,
    pair: str,
    link: LinkState,
    left: MappedRecord,
    right: MappedRecord,
    matched_by: str | None,
) -> None:
    """Plan a pair a sync matched by its own rule, exactly as a pair matched here is planned."""
    _plan_pair(plan, mapping, entity, translate, options, pair, link, left, right, matched_by)


def _plan_create(
    plan: EntityPlan,
    mapping: SyncMapping,
    entity: EntityRule,
    translate: Translate,
    options: PlanOptions,
    record: MappedRecord,
    target: str,
) -> None:
    source = record.system
    values: dict[str, Value] = {}
    base_source: dict[str, Value] = {}
    for rule in entity.fields:
        if not rule.flows_to(target, mapping.systems) or rule.name not in record.values:
            continue
        try:
            values[rule.name] = translate(rule, target, record.values[rule.name])
        except Untranslatable as exc:
            plan.items.append(
                PlanItem(entity.name, Action.REFUSED, f"record:{source}:{record.key}", source=source,
                         source_key=record.key, reason=f"{rule.name}: {exc}; created once it can be")
            )  # fmt: skip
            plan.counts["waiting"] += 1
            return
        base_source[rule.name] = record.values[rule.name]
    identity: tuple[str, str] | None = None
    link_values: dict[str, str] = {}
    link_from_result: str | None = None
    target_link = entity.link_fields.get(target)  # the field on the new record naming the source record
    source_link = entity.link_fields.get(source)  # the field on the source record naming the new one
    source_update: dict[str, str] = {}
    if target_link is not None:
        held = record.key if target_link.holds not in record.identity else record.identity.get(target_link.holds)
        if held:
            link_values[target_link.field] = held
            identity = (target_link.field, held)
    if source_link is not None:
        if source_link.holds == entity.keys[target]:
            link_from_result = source_link.field  # the new record's key is known once the create returns it
        else:
            # The source keeps a field of the new record that is chosen now (an Intacct PROJECTID), so the record
            # is found by it if the create's answer is lost, and nothing is created twice.
            chosen = record.identity.get(source_link.field) or options.new_identity(record.key)
            link_values[source_link.holds] = chosen
            identity = (source_link.holds, chosen)
            if record.identity.get(source_link.field) != chosen:
                source_update[source_link.field] = chosen
    left_key, right_key = (record.key, "-") if source == mapping.left else ("-", record.key)
    pair = f"new:{entity.name}:{left_key}:{right_key}"
    plan.items.append(
        PlanItem(
            entity.name, Action.CREATE, pair, target=target, target_object=entity.objects[target], source=source,
            source_key=record.key, values=values, link_values=link_values, identity=identity,
            scope=options.scope_of(entity, record, target),
            fixed_values={**entity.create_defaults.get(target, {}), **options.create_values_of(entity, record, target)},
        )
    )
    if source_update or link_from_result:
        plan.items.append(
            PlanItem(
                entity.name, Action.UPDATE, pair, target=source, target_object=entity.objects[source],
                target_key=record.key, source=target, link_values=source_update, link_from_result=link_from_result,
                reason="link back to the record created",
            )
        )
    plan.counts[f"create_{target}"] += 1
    base_target = dict(values)
    left_base, right_base = (base_source, base_target) if source == mapping.left else (base_target, base_source)
    plan.pairs[pair] = PairOutcome(
        pair,
        None,
        record.key if source == mapping.left else None,
        record.key if source == mapping.right else None,
        left_base,
        right_base,
        "created",
    )


def _plan_delete(
    plan: EntityPlan,
    entity: EntityRule,
    mapping: SyncMapping,
    link: LinkState,
    deleted_on: str,
    survivor: MappedRecord | None,
    pair: str,
    options: PlanOptions,
) -> None:
    """A linked record deleted on one side: the other is never deleted. `deactivate` writes the mapping's inactive
    values to it (once: a record already inactive is left alone); `flag` only reports it; `ignore` says nothing."""
    plan.counts[f"deleted_{deleted_on}"] += 1
    if options.on_delete is OnDelete.IGNORE:
        return
    other = mapping.other(deleted_on)
    other_key = link.right_key if other == mapping.right else link.left_key
    deleted_key = link.left_key if deleted_on == mapping.left else link.right_key
    inactive = entity.deactivate.get(other, {})
    if options.on_delete is OnDelete.DEACTIVATE and inactive and survivor is not None:
        if all(str(survivor.identity.get(name)) == str(value) for name, value in inactive.items()):
            plan.counts["inactive_already"] += 1
            return
        plan.items.append(PlanItem(
            entity.name, Action.UPDATE, pair, target=other, target_object=entity.objects[other], target_key=other_key,
            source=deleted_on, source_key=deleted_key, fixed_values=dict(inactive),
            reason=f"deleted in {deleted_on}: the {other} record is made inactive",
        ))  # fmt: skip
        plan.counts[f"deactivate_{other}"] += 1
        return
    why = "" if options.on_delete is OnDelete.FLAG else f"; the mapping says no way to deactivate a {other} record"
    plan.items.append(
        PlanItem(
            entity.name, Action.FLAG, pair, target=other, target_object=entity.objects[other], target_key=other_key,
            source=deleted_on, source_key=deleted_key,
            reason=f"deleted in {deleted_on}; the {other} record is kept{why}",
        )
    )
