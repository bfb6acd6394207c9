"""The sync engine over the staging store: map the staged records of a sync's entities, plan, and load the plan into
each target through its client. Shared by every sync; knows no vendor API and nothing of Dagster.

plan(): entities in reference order (customer before project before task), each mapped from staging, planned
(plan.py) with references resolved through links, including the pairs planned earlier in the same plan. A dry run
stops there. A real run stores the plan, then load(target) writes that target's items in plan order, creates before
updates within an entity, each write committed as an intent first; settle() stores each pair's link and bases once
every write of the pair has an outcome.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crosswalk.heap import collector_paused
from crosswalk.staging.intents import DONE, FAILED, Intent, IntentLog, Outcome
from crosswalk.staging.links import InSync, LinkStore, LinkWrite
from crosswalk.staging.plans import PlanStore
from crosswalk.staging.store import StagingStore
from crosswalk.sync.mapper import MappedRecord, ValueTranslator, map_record
from crosswalk.sync.mapping import EntityRule, SyncMapping
from crosswalk.sync.plan import Action, EntityData, EntityPlan, LinkMark, PlanItem, PlanOptions, plan_entity
from crosswalk.sync.reconcile import Translate
from crosswalk.sync.validation import SuiteResult, unique_identities, validate_side
from crosswalk.sync.values import FieldType, WireStyle, canonical, lines_of, to_wire
from crosswalk.sync.writer import RecordWriter, WriteOp, WriteRequest

PENDING = "\x00pending:"  # a reference to a record this plan creates: resolved at load, once it has a key
LOAD_STAGE = "load"
MAP_STAGE = "map"
VALIDATE_STAGE = "validate"
WRITE_CHUNK = 9_600  # writes whose intents are committed together before they are sent: a multiple of every
# batch size (QBO 30, Intacct 100, Salesforce 200), so only the last chunk of a group ends in a partial batch
WRITTEN_SAMPLE = 25  # records a load names in its report
# Records to map at or above this share of a stream are read in one scan of it, fewer by key.
SCAN_SHARE = 0.25
STATE_DIGEST = 48  # characters of a record's content hash a pair's mark keeps (before the plan context)
# A plan's time, per phase: staged records read and mapped (and the links and marks that choose them), the
# validation suites, matching + reconcile + plan items (and a sync's own planning), and what makes an entity's pairs
# resolvable by the entities after it and marks the pairs found in sync.
READ_MAP, VALIDATE, MATCH_RECONCILE, REFERENCES = "read_map", "validate", "match_reconcile", "references"
PLAN_PHASES = (READ_MAP, VALIDATE, MATCH_RECONCILE, REFERENCES)


def pending_reference(pair: str) -> str:
    """Stands for the key that the create of `pair` returns, until the load knows it."""
    return f"{PENDING}{pair}"


# (engine, entity, its data, its plan so far, translate) -> adds items and pairs to the entity's plan.
PlanExtension = Callable[["SyncEngine", EntityRule, EntityData, EntityPlan, Translate], None]
# The records one side of an entity holds, as (key, record, deleted), when they are not simply its staged stream:
# some of a stream's records (companies that are customers), or records made from others (items named by lines).
RecordSource = Callable[[StagingStore], Iterable[tuple[str, Mapping[str, Any], bool]]]


class LinkReferences:
    """References.translate over an entity's links: the value a record is referred to by on one side (its refer_by
    field, else its key) to the other side's; pairs planned in this plan count, a create's key as pending."""

    def __init__(self, right: str) -> None:
        self.right = right
        self._to_right: dict[str, dict[str, str]] = defaultdict(dict)
        self._to_left: dict[str, dict[str, str]] = defaultdict(dict)

    def add(self, entity: str, left_value: str | None, right_value: str | None) -> None:
        if left_value and right_value:
            self._to_right[entity][left_value] = right_value
            self._to_left[entity][right_value] = left_value

    def translate(self, entity: str, target: str, value: str) -> str | None:
        table = self._to_right if target == self.right else self._to_left
        return table[entity].get(value)


@dataclass
class SyncPlan:
    plan_id: str
    sync: str
    mapping_hash: str
    entities: dict[str, EntityPlan] = field(default_factory=dict)
    validation: list[SuiteResult] = field(default_factory=list)
    in_sync: list[InSync] = field(default_factory=list)  # pairs found with nothing to do: marked when saved
    seconds: Counter[str] = field(default_factory=Counter)  # where planning took its time: PLAN_PHASES

    @property
    def items(self) -> list[PlanItem]:
        return [item for plan in self.entities.values() for item in plan.items]

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for plan in self.entities.values():
            total.update(plan.counts)
        return total

    def writes(self) -> list[PlanItem]:
        return [i for i in self.items if i.action in (Action.CREATE, Action.UPDATE) and i.target is not None]


@dataclass
class LoadResult:
    target: str
    created: int = 0
    updated: int = 0
    failed: int = 0
    retryable: int = 0
    recovered: int = 0  # writes of an earlier, interrupted run found in the target by their lookup field
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)
    written: list[tuple[str, str, str, str]] = field(default_factory=list)  # first writes: entity, action, object, key


class _PhaseClock:
    """Seconds per phase of one entity's planning, each lap charged to the phase it names."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] += now - self._last
        self._last = now

    def total(self) -> float:
        return sum(self.seconds.values())

    def describe(self) -> str:
        return ", ".join(f"{phase} {self.seconds[phase]:.1f}s" for phase in PLAN_PHASES if phase in self.seconds)


class SyncEngine:
    def __init__(
        self,
        store: StagingStore,
        mapping: SyncMapping,
        options: PlanOptions,
        *,
        skip_fields: Iterable[tuple[str, str]] = (),
        skip_entities: Iterable[str] = (),
        upsert_targets: Iterable[str] = (),
        extend_plan: PlanExtension | None = None,
        record_sources: Mapping[tuple[str, str], RecordSource] | None = None,
    ) -> None:
        self.store = store
        self.mapping = mapping
        self.options = options
        self.links = LinkStore(store, mapping.sync, mapping.systems)
        self.plans = PlanStore(store, mapping.sync)
        self.intents = IntentLog(store)
        self.skip_fields = set(skip_fields)
        self.skip_entities = set(skip_entities)
        self.upsert_targets = set(upsert_targets)  # systems whose clients upsert by an external id
        self.extend_plan = extend_plan  # a sync's own planning after each entity (projects: from opportunities)
        self.record_sources = dict(record_sources or {})  # (entity, system) -> its records, when not a stream
        self._found: dict[tuple[str, str], str] = {}  # (target, pair) -> key of a create an interrupted run landed
        # What a linked pair's plan depends on besides its two records: a change of it plans every pair again.
        context = [self.mapping.content_hash, sorted(self.skip_fields), sorted(self.skip_entities)]
        self.context = hashlib.sha256(repr(context).encode()).hexdigest()[:16]
        # Entities other records refer to (a task's project): the only ones whose records' references are resolved.
        self.referenced = {
            name for rule in self.mapping.entities.values() for f in rule.fields
            for name in (f.reference, *f.line_references.values()) if name
        }  # fmt: skip

    # ---- plan --------------------------------------------------------------------------------------------

    def entity_order(self) -> list[EntityRule]:
        """Entities after the ones their references name."""
        order: list[EntityRule] = []
        seen: set[str] = set()

        def visit(rule: EntityRule, trail: tuple[str, ...]) -> None:
            if rule.name in seen:
                return
            if rule.name in trail:
                raise ValueError(f"{self.mapping.path}: entities refer to each other in a cycle: {' -> '.join(trail)}")
            for name in sorted(rule.references()):
                visit(self.mapping.entities[name], (*trail, rule.name))
            seen.add(rule.name)
            order.append(rule)

        for rule in self.mapping.entities.values():
            visit(rule, ())
        return [rule for rule in order if rule.name not in self.skip_entities]

    def entity_data(self, entity: EntityRule) -> EntityData:
        """The entity's links and each side's live records, mapped, and deleted keys. A linked pair that a plan found
        with nothing to do is left unmapped while neither record has changed since (`EntityData.unchanged`), unless
        a record mapped now shares one of its unique identities (then validation must see both)."""
        systems = self.mapping.systems
        sides: tuple[dict[str, MappedRecord], dict[str, MappedRecord]] = ({}, {})
        gone: tuple[set[str], set[str]] = (set(), set())
        if any((entity.name, system) in self.record_sources for system in systems):
            for index, system in enumerate(systems):
                rows = ((key, payload, is_deleted, None) for key, payload, is_deleted in self._records(entity, system))
                self._map_rows(entity, system, rows, sides[index], gone[index])
            links = self.links.links(entity.name)
            return EntityData(sides[0], sides[1], links, frozenset(gone[0]), frozenset(gone[1]))
        marks = self.links.marks(entity.name)
        states = [self.store.staged_states(system, entity.objects[system]) for system in systems]
        unchanged = self._unchanged(marks, states[0], states[1])
        for index, system in enumerate(systems):
            quiet = {mark.left_key if index == 0 else mark.right_key for mark in unchanged.values()}
            wanted = states[index].keys() - quiet
            rows = self._staged(entity, system, wanted, len(states[index]))
            self._map_rows(entity, system, rows, sides[index], gone[index])
        while clashing := self._clashing(entity, sides, unchanged):
            for index, system in enumerate(systems):
                keys = {(unchanged[i].left_key if index == 0 else unchanged[i].right_key) or "" for i in clashing}
                rows = self.store.iter_staged_records_of(system, entity.objects[system], sorted(keys))
                self._map_rows(entity, system, rows, sides[index], gone[index])
            for link_id in clashing:
                del unchanged[link_id]
        planned = [m.id for m in marks if m.id not in unchanged] if unchanged else None
        links = self.links.links(entity.name, planned, among=len(marks))
        kept = sorted(unchanged)

        def unchanged_bases() -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
            return self.links.bases(entity.name, kept)

        return EntityData(sides[0], sides[1], links, frozenset(gone[0]), frozenset(gone[1]), unchanged,
                          unchanged_bases)  # fmt: skip

    def record_state(self, digest: str) -> str:
        """A staged record's state as a pair's marks keep it: its content hash with the plan context."""
        return digest[:STATE_DIGEST] + self.context

    def _unchanged(
        self, marks: Sequence[LinkMark], left: Mapping[str, tuple[Any, str]], right: Mapping[str, tuple[Any, str]]
    ) -> dict[int, LinkMark]:
        absent = (True, "")
        unchanged: dict[int, LinkMark] = {}
        context, cut = self.context, -len(self.context)
        for mark in marks:
            left_hash, right_hash = mark.left_hash, mark.right_hash
            # record_state(digest) == mark, without building each state: a mark of another context never matches
            if left_hash is None or right_hash is None or left_hash[cut:] != context or right_hash[cut:] != context:
                continue
            left_deleted, left_digest = left.get(mark.left_key or "", absent)
            right_deleted, right_digest = right.get(mark.right_key or "", absent)
            if left_deleted or right_deleted:
                continue
            if left_digest[:STATE_DIGEST] == left_hash[:cut] and right_digest[:STATE_DIGEST] == right_hash[:cut]:
                unchanged[mark.id] = mark
        return unchanged

    def _staged(
        self, entity: EntityRule, system: str, keys: set[str], total: int
    ) -> Iterable[tuple[str, Mapping[str, Any], bool, str | None]]:
        object_name = entity.objects[system]
        if len(keys) >= total * SCAN_SHARE:  # most of the stream: one scan beats lookups by key
            for row in self.store.iter_staged_records(system, object_name):
                if row[0] in keys:
                    yield row
            return
        yield from self.store.iter_staged_records_of(system, object_name, sorted(keys))

    def _map_rows(
        self,
        entity: EntityRule,
        system: str,
        rows: Iterable[tuple[str, Mapping[str, Any], bool, str | None]],
        live: dict[str, MappedRecord],
        gone: set[str],
    ) -> None:
        left_out = [name for skipped, name in self.skip_fields if skipped == entity.name]
        for key, payload, is_deleted, digest in rows:
            if is_deleted:
                gone.add(key)
                continue
            record = map_record(self.mapping, entity, system, key, payload)
            record.digest = digest
            for name in left_out:
                record.values.pop(name, None)
            live[key] = record

    def _clashing(
        self,
        entity: EntityRule,
        sides: tuple[Mapping[str, MappedRecord], Mapping[str, MappedRecord]],
        unchanged: Mapping[int, LinkMark],
    ) -> set[int]:
        """Unchanged pairs with a record sharing a unique identity value with a record mapped now."""
        clashing: set[int] = set()
        if not unchanged:
            return clashing
        for index, system in enumerate(self.mapping.systems):
            fields = unique_identities(entity, system, self.mapping.other(system))
            # Values, not (field, value): a value two fields share only costs a pair mapped that need not be.
            values = {value for record in sides[index].values() for name in fields
                      if (value := record.identity.get(name))}  # fmt: skip
            if values:
                clashing.update(link_id for link_id in self.links.holding(entity.name, system, values)
                                if link_id in unchanged)  # fmt: skip
        return clashing

    def _records(self, entity: EntityRule, system: str) -> Iterable[tuple[str, Mapping[str, Any], bool]]:
        source = self.record_sources.get((entity.name, system))
        if source is not None:
            yield from source(self.store)
            return
        for key, payload, is_deleted, _digest in self.store.iter_staged_records(system, entity.objects[system]):
            yield key, payload, is_deleted

    def plan(self, *, progress: Callable[[str], None] = lambda _message: None) -> SyncPlan:
        """The next run's plan, from what is staged now; writes nothing. `progress` hears of each entity planned."""
        with collector_paused():  # a third of a large plan's time went to collections finding no garbage
            return self._plan(progress)

    def _plan(self, progress: Callable[[str], None]) -> SyncPlan:
        plan = SyncPlan(uuid.uuid4().hex, self.mapping.sync, self.mapping.content_hash)
        references = LinkReferences(self.mapping.right)
        translate = ValueTranslator(self.mapping, references)
        known: dict[str, dict[str, set[str]]] = {}  # entity -> system -> values records refer to it by
        for entity in self.entity_order():
            clock = _PhaseClock()
            data = self.entity_data(entity)
            clock.lap(READ_MAP)
            kept = self._kept_refer_values(entity, data) if entity.name in self.referenced else ({}, {})
            if entity.name in self.referenced:
                known[entity.name] = {
                    system: self._refer_values(entity, system, data, kept_refs)
                    for system, kept_refs in zip(self.mapping.systems, kept, strict=True)
                }
            clock.lap(REFERENCES)
            if entity.sync:
                plan.validation.extend(self._validate(entity, data, known))
            clock.lap(VALIDATE)
            entity_plan = plan_entity(self.mapping, entity, data, translate, self.options)
            if self.extend_plan is not None:
                self.extend_plan(self, entity, data, entity_plan, translate)
            entity_plan.items.extend(outcome.as_item(entity.name) for outcome in entity_plan.pairs.values())
            plan.entities[entity.name] = entity_plan
            clock.lap(MATCH_RECONCILE)
            plan.in_sync.extend(self._in_sync(entity, data, entity_plan))
            if entity.name in self.referenced:
                self._register(references, entity, data, entity_plan, kept)
            clock.lap(REFERENCES)
            plan.seconds.update(clock.seconds)
            left, right = self.mapping.systems
            progress(f"planned {entity.name}: {len(data.left):,} {left} and {len(data.right):,} {right} records "
                     f"mapped, {len(data.unchanged):,} pairs unchanged, {len(entity_plan.items):,} items, "
                     f"{clock.total():.1f}s ({clock.describe()})")  # fmt: skip
        return plan

    def _kept_refer_values(self, entity: EntityRule, data: EntityData) -> tuple[dict[int, str], dict[int, str]]:
        """Per side, link id -> the value records refer to an unchanged pair's record by (kept with its marks)."""
        sides: list[dict[int, str]] = []
        for index, system in enumerate(self.mapping.systems):
            if not data.unchanged:
                sides.append({})
            elif system in entity.refer_by:
                kept = self.links.identities(entity.name, system, entity.refer_by[system])
                sides.append({link_id: kept[link_id] for link_id in data.unchanged if link_id in kept})
            else:
                sides.append({link_id: key for link_id, mark in data.unchanged.items()
                              if (key := mark.left_key if index == 0 else mark.right_key)})  # fmt: skip
        return sides[0], sides[1]

    def _refer_values(self, entity: EntityRule, system: str, data: EntityData, kept: Mapping[int, str]) -> set[str]:
        """The values records refer to this side's records by: mapped ones' and unchanged pairs' kept ones."""
        side = data.left if system == self.mapping.left else data.right
        values = {ref for record in side.values() if (ref := _refer_value(entity, system, record))}
        values.update(kept.values())
        return values

    def _in_sync(self, entity: EntityRule, data: EntityData, plan: EntityPlan) -> list[InSync]:
        """The pairs this plan found with nothing to do, each side's state and identities to mark them with."""
        busy = {item.pair for item in plan.items}
        kept_fields = {system: self._kept_fields(entity, system) for system in self.mapping.systems}
        marks: list[InSync] = []
        for link in plan.quiet:
            left, right = data.left.get(link.left_key or ""), data.right.get(link.right_key or "")
            if link.id is None or f"link:{link.id}" in busy or left is None or right is None:
                continue
            if left.digest is None or right.digest is None:
                continue
            left_hash, right_hash = self.record_state(left.digest), self.record_state(right.digest)
            if (left_hash, right_hash) != (link.left_hash, link.right_hash):  # the same states give the same identities
                marks.append(InSync(entity.name, link.id, left_hash, right_hash,
                                    _kept_identity(left, kept_fields[left.system]),
                                    _kept_identity(right, kept_fields[right.system])))  # fmt: skip
        return marks

    def _kept_fields(self, entity: EntityRule, system: str) -> tuple[str, ...]:
        """The identity fields a marked pair keeps of a side's record: what no other record of its side may share,
        and what records refer to it by."""
        fields = unique_identities(entity, system, self.mapping.other(system))
        if system in entity.refer_by:
            fields.append(entity.refer_by[system])
        return tuple(dict.fromkeys(fields))

    def plan_writes_to(self, target: str, **kwargs: Any) -> SyncPlan:
        """A plan of only the writes to `target` (a sync's second pass in a run, once the other side's computed
        values have been read again). Writes to the other system wait for the next run, and so do the bases of
        their pairs: a pair is settled only with every write it needs."""
        plan = self.plan(**kwargs)
        writes = (Action.CREATE, Action.UPDATE)
        for entity_plan in plan.entities.values():
            deferred = {i.pair for i in entity_plan.items if i.target not in (target, None) and i.action in writes}
            entity_plan.items[:] = [
                item for item in entity_plan.items
                if item.pair not in deferred or (item.target == target and item.action in writes)
            ]  # fmt: skip
            for pair in deferred:
                entity_plan.pairs.pop(pair, None)
        return plan

    def _validate(
        self, entity: EntityRule, data: EntityData, known: Mapping[str, Mapping[str, set[str]]]
    ) -> list[SuiteResult]:
        """Each side's suite; a record that fails it is refused (with the expectation and reason) before planning."""
        results = []
        for system, side in zip(self.mapping.systems, (data.left, data.right), strict=True):
            references = {name: refs[system] for name, refs in known.items() if system in refs}
            suite = validate_side(self.mapping, entity, system, side.values(), references)
            suite.unchanged = len(data.unchanged)
            for key, problems in suite.refused.items():
                side[key].problems.extend(problems)
            results.append(suite)
        return results

    def _register(
        self,
        references: LinkReferences,
        entity: EntityRule,
        data: EntityData,
        plan: EntityPlan,
        kept: tuple[Mapping[int, str], Mapping[int, str]],
    ) -> None:
        """Make the entity's pairs, stored and planned, resolvable for the entities that refer to it."""
        left_system, right_system = self.mapping.systems

        def ref(system: str, record: MappedRecord | None, key: str | None) -> str | None:
            if record is None:
                return None if system in entity.refer_by else key
            return _refer_value(entity, system, record)

        for link_id in data.unchanged:
            references.add(entity.name, kept[0].get(link_id), kept[1].get(link_id))
        for link in data.links:
            left = data.left.get(link.left_key or "")
            right = data.right.get(link.right_key or "")
            references.add(entity.name, ref(left_system, left, link.left_key), ref(right_system, right, link.right_key))
        creates = {item.pair: item for item in plan.items if item.action is Action.CREATE}
        for outcome in plan.pairs.values():
            if outcome.link_id is not None:
                continue
            left = data.left.get(outcome.left_key or "")
            right = data.right.get(outcome.right_key or "")
            left_ref = ref(left_system, left, outcome.left_key)
            right_ref = ref(right_system, right, outcome.right_key)
            create = creates.get(outcome.pair)
            if create is not None and create.target == left_system and left_system in entity.refer_by:
                left_ref = create.link_values.get(entity.refer_by[left_system])  # the key chosen for it
            if create is not None and create.target == right_system and right_ref is None and left_ref:
                right_ref = pending_reference(outcome.pair)
            if create is not None and create.target == left_system and left_ref is None and right_ref:
                left_ref = pending_reference(outcome.pair)
            references.add(entity.name, left_ref, right_ref)

    def save_plan(self, plan: SyncPlan, run_id: str | None) -> None:
        """Store the plan, its conflicts, the review lists and the records the mapping refused."""
        with collector_paused():  # rows for every item and mark, none of them garbage while this runs
            self._save_plan(plan, run_id)

    def _save_plan(self, plan: SyncPlan, run_id: str | None) -> None:
        items = plan.items
        counts = plan.counts()
        counts.update({
            "creates": sum(1 for i in items if i.action is Action.CREATE),
            "updates": sum(1 for i in items if i.action is Action.UPDATE and i.target is not None),
            "refused": sum(1 for i in items if i.action is Action.REFUSED),
            "flagged": sum(1 for i in items if i.action is Action.FLAG),
        })  # fmt: skip
        self.plans.save(plan.plan_id, items, run_id=run_id, mapping_hash=plan.mapping_hash, counts=counts)
        self.links.mark_in_sync(plan.in_sync)
        pairs = {
            i.pair: (i.link["left_key"], i.link["right_key"]) for i in items if i.action is Action.LINK and i.link
        }
        self.plans.record_conflicts(plan.plan_id, run_id, items, pairs)
        for name, entity_plan in plan.entities.items():
            if self.mapping.entities[name].sync:
                self.plans.record_reviews(name, run_id, entity_plan.reviews)
            by_stream: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
            for record, problem in entity_plan.problems:
                entries = by_stream[(record.system, record.object, problem.stage)]
                entry = entries.setdefault(record.key, {"record_key": record.key, "rule": problem.rule,
                                                        "reason": f"{name}: {problem.reason}", "payload": None})
                if problem.reason not in entry["reason"]:  # one row per record and stage, every reason in it
                    entry["reason"] += f"; {problem.reason}"
            for (system, object_name, stage), entries_by_key in by_stream.items():
                self.store.quarantine(system, object_name, stage, list(entries_by_key.values()), run_id)
        self._release_mapped(plan)

    def _release_mapped(self, plan: SyncPlan) -> None:
        """A record quarantined by the mapping or validation that passes now leaves the quarantine (a record is
        planned again whenever it is read, so a fixed one syncs on the run that sees the fix)."""
        refused = {
            (record.system, record.object, record.key, problem.stage)
            for entity_plan in plan.entities.values()
            for record, problem in entity_plan.problems
        }
        for name in plan.entities:
            entity = self.mapping.entities[name]
            for system in self.mapping.systems:
                object_name = entity.objects[system]
                for stage in (MAP_STAGE, VALIDATE_STAGE):
                    open_keys = self.store.open_quarantine_keys(system, object_name, stage)
                    fixed = [key for key in open_keys if (system, object_name, key, stage) not in refused]
                    self.store.resolve_quarantine(system, object_name, stage, fixed)

    # ---- load --------------------------------------------------------------------------------------------

    def created_in(self, plan_id: str, target: str) -> int:
        """Records the plan's creates made in `target` (a sync's second pass runs only when the run made some)."""
        done = self.intents.outcomes(plan_id)
        creates = self.plans.items(plan_id, action=Action.CREATE.value, target=target)
        return sum(1 for s in creates if s.seq in done and done[s.seq].state == DONE)

    def recover(self, target: str, writer: RecordWriter) -> int:
        """Close the open intents of an interrupted run: a create whose record the target has is done. An update has
        nothing to look up (its record exists either way): whether it landed is what the next extract reads, and
        the plan made from that writes it again if it did not."""
        recovered = 0
        outcomes: list[Outcome] = []
        by_lookup: dict[tuple[str, str], list[Intent]] = defaultdict(list)
        for intent in self.intents.open_intents(target):
            if intent.operation == WriteOp.UPDATE.value:
                outcomes.append(Outcome(intent.marker, FAILED, error="interrupted update; planned again if not landed"))
            elif intent.lookup_field and intent.lookup_value:
                by_lookup[(intent.target_object, intent.lookup_field)].append(intent)
            else:
                outcomes.append(Outcome(intent.marker, FAILED, error="interrupted before its outcome was recorded"))
        for (object_name, lookup_field), intents in by_lookup.items():
            found = writer.find(object_name, lookup_field, [i.lookup_value or "" for i in intents])
            landed: list[tuple[Intent, str]] = []
            for intent in intents:
                record = found.get(intent.lookup_value or "")
                key = _key_of(record) if record else None
                if key:
                    recovered += 1
                    outcomes.append(Outcome(intent.marker, DONE, result_key=key))
                    landed.append((intent, key))
                else:
                    outcomes.append(Outcome(intent.marker, FAILED, error="interrupted; not found in the target"))
            self._remember_landed(target, landed)
        self.intents.close(outcomes)
        return recovered

    def _remember_landed(self, target: str, landed: Sequence[tuple[Intent, str]]) -> None:
        """A plan made before an interrupted create showed in the target plans that create again, for the same
        pair (a create's pair is named by its source record): that create takes the found key, not a new record."""
        by_plan: dict[str, list[tuple[Intent, str]]] = defaultdict(list)
        for intent, key in landed:
            by_plan[intent.plan_id].append((intent, key))
        for plan_id, found in by_plan.items():
            items = self.plans.items_at(plan_id, [intent.seq for intent, _key in found])
            for intent, key in found:
                item = items.get(intent.seq)
                if item is not None and item["action"] == Action.CREATE.value:
                    self._found[(target, item["pair"])] = key

    def load(self, plan_id: str, target: str, writer: RecordWriter, run_id: str | None,
             *, progress: Callable[[str], None] = lambda _message: None) -> LoadResult:  # fmt: skip
        """Write the plan's items for `target`, entity by entity, creates then updates, in plan order."""
        result = LoadResult(target)
        result.recovered = self.recover(target, writer)
        calls_before = writer.meter.calls
        done = self.intents.outcomes(plan_id)
        # Only the creates are kept whole (their keys resolve references and link-backs); each group of writes is
        # read from the stored plan when its turn comes.
        created_keys = self._created_keys(self.plans.items(plan_id, action=Action.CREATE.value), done)
        for entity in [rule.name for rule in self.entity_order()]:
            for action in (Action.CREATE, Action.UPDATE):
                batch = [
                    s for s in self.plans.items(plan_id, entity=entity, action=action.value, target=target)
                    if s.seq not in done
                ]
                for start in range(0, len(batch), WRITE_CHUNK):
                    chunk = batch[start : start + WRITE_CHUNK]
                    self._write_chunk(plan_id, run_id, target, writer, chunk, created_keys, result)
                    progress(f"{target} {entity} {action.value}: {min(start + WRITE_CHUNK, len(batch))}/{len(batch)}")
        result.api_calls = writer.meter.calls - calls_before
        return result

    def _created_keys(self, stored: Iterable[Any], done: Mapping[int, Outcome]) -> dict[tuple[str, str], str]:
        """(pair, target) -> the key the pair's create in that target returned, for link-backs and references."""
        keys: dict[tuple[str, str], str] = {}
        for s in stored:
            outcome = done.get(s.seq)
            if s.item["action"] == Action.CREATE.value and outcome and outcome.state == DONE and outcome.result_key:
                keys[(s.item["pair"], s.item["target"])] = outcome.result_key
        return keys

    def _write_chunk(
        self,
        plan_id: str,
        run_id: str | None,
        target: str,
        writer: RecordWriter,
        chunk: Sequence[Any],
        created_keys: dict[tuple[str, str], str],
        result: LoadResult,
    ) -> None:
        requests: list[WriteRequest] = []
        intents: list[Intent] = []
        ready: list[Any] = []
        outcomes: list[Outcome] = []
        for stored in chunk:
            marker = _marker(plan_id, stored.seq)
            try:
                request = self._request(stored.item, target, marker, created_keys)
            except _Unresolved as exc:
                outcomes.append(Outcome(marker, FAILED, error=str(exc)))
                result.failed += 1
                continue
            lookup = request.external_id or (None, None)
            if request.op is WriteOp.UPDATE:
                lookup = ("key", request.key or "")
            intent = Intent(marker, plan_id, stored.seq, target, request.object, request.op.value, *lookup)
            found = self._found.get((target, stored.item["pair"])) if request.op is WriteOp.CREATE else None
            if found is not None:  # landed from an interrupted run: recorded as done, not sent again
                self.intents.open([intent], run_id)
                outcomes.append(Outcome(marker, DONE, result_key=found))
                created_keys[(stored.item["pair"], target)] = found
                result.recovered += 1
                continue
            intents.append(intent)
            requests.append(request)
            ready.append(stored)
        self.intents.open(intents, run_id)
        results = writer.write(requests) if requests else []
        quarantine: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for stored, write in zip(ready, results, strict=True):
            item = stored.item
            if write.ok:
                outcomes.append(Outcome(write.request.marker, DONE, result_key=write.key))
                if len(result.written) < WRITTEN_SAMPLE:
                    result.written.append((item["entity"], item["action"], write.request.object, write.key or ""))
                if item["action"] == Action.CREATE.value and write.key:
                    created_keys[(item["pair"], target)] = write.key
                    result.created += 1
                else:
                    result.updated += 1
                continue
            error = "; ".join(write.errors) or "failed without an error message"
            outcomes.append(Outcome(write.request.marker, FAILED, error=error))
            if write.retryable:
                result.retryable += 1
                continue
            result.failed += 1
            result.errors.append(f"{item['entity']} {item['source']} {item['source_key']}: {error}")
            if item["source"] and item["source_key"]:
                source_object = self.mapping.entities[item["entity"]].objects[item["source"]]
                quarantine[f"{item['source']}\x00{source_object}"].append({
                    "record_key": item["source_key"], "rule": "refused_by_target",
                    "reason": f"{target} refused the {item['action']}: {error}", "payload": None,
                })  # fmt: skip
        self.intents.close(outcomes)
        for stream, entries in quarantine.items():
            system, object_name = stream.split("\x00")
            self.store.quarantine(system, object_name, LOAD_STAGE, entries, run_id)

    def _request(
        self, item: Mapping[str, Any], target: str, marker: str, created: Mapping[tuple[str, str], str]
    ) -> WriteRequest:
        entity = self.mapping.entities[item["entity"]]
        style = WireStyle.INTACCT if target == "intacct" else WireStyle.JSON
        fields: dict[str, Any] = dict(item["fixed_values"])
        for name, value in item["values"].items():
            rule = entity.field(name)
            if isinstance(value, str) and value.startswith(PENDING):
                value = self._resolve_pending(value, target, created)
            wire = to_wire(rule.type, value, style)
            if rule.line_references:
                wire = self._resolve_nested(wire, target, created)
            fields[rule.fields[target]] = wire
        fields.update(item["link_values"])
        if item["link_from_result"]:
            key = created.get((item["pair"], self.mapping.other(target)))
            if key is None:
                raise _Unresolved("the record it links to was not created")
            fields[item["link_from_result"]] = key
        fields = _nested(fields)
        identity = tuple(item["identity"]) if item["identity"] else None
        if item["action"] == Action.UPDATE.value:
            return WriteRequest(WriteOp.UPDATE, item["target_object"], fields, marker, key=item["target_key"])
        link = entity.link_fields.get(target)
        by_external_id = target in self.upsert_targets and link is not None and identity is not None
        op = WriteOp.UPSERT if by_external_id and identity[0] == link.field else WriteOp.CREATE
        return WriteRequest(op, item["target_object"], fields, marker, external_id=identity, scope=item["scope"])

    def _resolve_pending(self, value: str, target: str, created: Mapping[tuple[str, str], str]) -> str:
        """A reference to a record this plan creates in the same target: its key, once the create returned it."""
        pair = value[len(PENDING) :]
        if (pair, target) not in created:
            raise _Unresolved(f"the record it refers to ({pair}) was not created")
        return created[(pair, target)]

    def _resolve_nested(self, value: Any, target: str, created: Mapping[tuple[str, str], str]) -> Any:
        """Pending references inside lines (an item this plan creates), resolved the same way."""
        if isinstance(value, dict):
            return {k: self._resolve_nested(v, target, created) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve_nested(v, target, created) for v in value]
        if isinstance(value, str) and value.startswith(PENDING):
            return self._resolve_pending(value, target, created)
        return value

    # ---- settle ------------------------------------------------------------------------------------------

    def settle(self, plan_id: str, run_id: str | None) -> Counter[str]:
        """Store the link and bases of every pair whose writes all have an outcome: a new pair once its create is
        done (bases only if every write succeeded), an existing pair's bases only if every write succeeded."""
        counts: Counter[str] = Counter()
        stored = list(self.plans.items(plan_id))
        done = self.intents.outcomes(plan_id)
        created = self._created_keys(stored, done)
        writes_of: dict[str, list[int]] = defaultdict(list)
        for s in stored:
            if s.item["action"] in (Action.CREATE.value, Action.UPDATE.value) and s.item["target"]:
                writes_of[s.item["pair"]].append(s.seq)
        saves: list[LinkWrite] = []
        settled: list[int] = []
        for s in stored:
            if s.item["action"] != Action.LINK.value or s.seq in done:
                continue
            link, pair = s.item["link"], s.item["pair"]
            seqs = writes_of.get(pair, [])
            if any(seq not in done for seq in seqs):
                counts["waiting"] += 1
                continue
            all_ok = all(done[seq].state == DONE for seq in seqs)
            left_key = link["left_key"] or created.get((pair, self.mapping.left))
            right_key = link["right_key"] or created.get((pair, self.mapping.right))
            settled.append(s.seq)
            if left_key is None or right_key is None:
                counts["not_created"] += 1
                continue
            if link["link_id"] is not None and not all_ok:
                counts["kept_bases"] += 1
                continue
            base_left = self._settled_base(link["base_left"], self.mapping.left, created) if all_ok else None
            base_right = self._settled_base(link["base_right"], self.mapping.right, created) if all_ok else None
            saves.append(LinkWrite(
                link["link_id"], s.item["entity"], left_key, right_key, base_left, base_right, link["matched_by"],
            ))  # fmt: skip
        self.links.save(saves, run_id)
        self.intents.record_settled(plan_id, settled, run_id)
        counts["saved"] = len(saves)
        return counts


    def _settled_base(
        self, base: Mapping[str, Any] | None, system: str, created: Mapping[tuple[str, str], str]
    ) -> dict[str, Any] | None:
        """A base as the target holds it: references to records this plan created are their keys now (a value that
        still names a record that was not created is left out, so the next run compares it afresh)."""
        if base is None:
            return None
        out: dict[str, Any] = {}
        for name, value in base.items():
            if not isinstance(value, str) or (PENDING not in value and "\\u0000pending:" not in value):
                out[name] = value
                continue
            try:
                if value.startswith(PENDING):
                    out[name] = self._resolve_pending(value, system, created)
                else:  # references inside lines
                    out[name] = canonical(FieldType.LINES, self._resolve_nested(lines_of(value), system, created))
            except _Unresolved:
                continue
        return out


class _Unresolved(Exception):
    """A write that depends on a record this plan was to create, which was not created."""


def _kept_identity(record: MappedRecord, fields: Sequence[str]) -> dict[str, str]:
    return {name: value for name in fields if (value := record.identity.get(name))}


def _refer_value(entity: EntityRule, system: str, record: MappedRecord) -> str | None:
    """The value other records use to refer to this one: its refer_by field, else its key."""
    if system in entity.refer_by:
        return record.identity.get(entity.refer_by[system])
    return record.key


def _nested(fields: Mapping[str, Any]) -> dict[str, Any]:
    """API fields named by dotted paths (QBO's CustomerRef.value) as the nested objects the API takes."""
    if not any("." in name for name in fields):
        return dict(fields)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        parts = name.split(".")
        holder = out
        for part in parts[:-1]:
            existing = holder.get(part)
            holder[part] = existing = dict(existing) if isinstance(existing, dict) else {}
            holder = existing
        if isinstance(value, dict) and isinstance(holder.get(parts[-1]), dict):
            holder[parts[-1]] = {**holder[parts[-1]], **value}
        else:
            holder[parts[-1]] = value
    return out


def _marker(plan_id: str, seq: int) -> str:
    # Short and opaque (an Intacct controlid, a QBO requestid), unique per plan item.
    return hashlib.sha256(f"{plan_id}:{seq}".encode()).hexdigest()[:32]


def _key_of(record: Mapping[str, Any]) -> str | None:
    for name in ("Id", "RECORDNO", "id"):
        if record.get(name):
            return str(record[name])
    return None
