"""Write plans (plan_items), the conflicts reconcile settled (sync_conflicts) and the pairs left for a person to
decide (match_reviews). A plan is stored whole before anything is written, so the load executes exactly it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore
from crosswalk.sync.matching import Review
from crosswalk.sync.plan import PlanItem

_CHUNK = 5000


@dataclass(frozen=True)
class StoredItem:
    seq: int
    item: dict[str, Any]  # PlanItem.as_json()


class PlanStore:
    def __init__(self, store: StagingStore, sync: str) -> None:
        self.store = store
        self.sync = sync

    def save(
        self, plan_id: str, items: Sequence[PlanItem], *, run_id: str | None = None, mapping_hash: str = "",
        counts: Mapping[str, int] | None = None,
    ) -> int:  # fmt: skip
        self.store.bulk_insert(schema.sync_plans, [{
            "plan_id": plan_id, "sync": self.sync, "run_id": run_id, "mapping_hash": mapping_hash,
            "counts": json.dumps(dict(counts or {}), sort_keys=True), "created_at": datetime.now(UTC),
        }])  # fmt: skip
        rows = [
            {
                "plan_id": plan_id,
                "seq": seq,
                "sync": self.sync,
                "entity": item.entity,
                "action": item.action.value,
                "target_system": item.target,
                "target_object": item.target_object,
                "target_key": item.target_key,
                "source_system": item.source,
                "source_key": item.source_key,
                "link_id": int(item.pair.split(":", 1)[1]) if item.pair.startswith("link:") else None,
                "item": json.dumps(item.as_json(), separators=(",", ":"), default=str),
            }
            for seq, item in enumerate(items)
        ]
        for start in range(0, len(rows), _CHUNK):
            self.store.bulk_insert(schema.plan_items, rows[start : start + _CHUNK])
        return len(rows)

    def latest(self) -> dict[str, Any] | None:
        """The sync's latest stored plan, its counts, and the outcomes of its writes by target and operation."""
        plans, intents = schema.sync_plans, schema.write_intents
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(plans).where(plans.c.sync == self.sync).order_by(plans.c.created_at.desc()).limit(1)
            ).mappings().first()
            if row is None:
                return None
            outcomes = conn.execute(
                sa.select(intents.c.target_system, intents.c.operation, intents.c.state, sa.func.count())
                .where(intents.c.plan_id == row["plan_id"], intents.c.operation != "link")
                .group_by(intents.c.target_system, intents.c.operation, intents.c.state)
            ).all()
        writes: dict[str, dict[str, int]] = {}
        for target, operation, state, count in outcomes:
            writes.setdefault(target, {})[f"{operation}_{state}"] = int(count)
        created = row["created_at"]
        if created is not None and created.tzinfo is None:  # SQLite gives back naive UTC times
            created = created.replace(tzinfo=UTC)
        return {**row, "created_at": created, "counts": json.loads(row["counts"]), "writes": writes}

    def items(
        self, plan_id: str, *, entity: str | None = None, action: str | None = None, target: str | None = None
    ) -> Iterator[StoredItem]:
        """A stored plan's items in order, streamed; only those of an entity, action or target when given (a load
        reads one group at a time instead of the whole plan)."""
        table = schema.plan_items
        query = sa.select(table.c.seq, table.c.item).where(table.c.plan_id == plan_id)
        for column, value in ((table.c.entity, entity), (table.c.action, action), (table.c.target_system, target)):
            if value is not None:
                query = query.where(column == value)
        with self.store.engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query.order_by(table.c.seq)):
                yield StoredItem(row.seq, json.loads(row.item))

    def items_at(self, plan_id: str, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Some items of a stored plan, by sequence number."""
        table = schema.plan_items
        out: dict[int, dict[str, Any]] = {}
        with self.store.engine.connect() as conn:
            for start in range(0, len(seqs), 1000):
                query = sa.select(table.c.seq, table.c.item).where(
                    table.c.plan_id == plan_id, table.c.seq.in_(list(seqs[start : start + 1000]))
                )
                out.update({row.seq: json.loads(row.item) for row in conn.execute(query)})
        return out

    def record_conflicts(self, plan_id: str, run_id: str | None, items: Sequence[PlanItem],
                         pairs: dict[str, tuple[str | None, str | None]]) -> int:  # fmt: skip
        now = datetime.now(UTC)
        rows = []
        for item in items:
            left_key, right_key = pairs.get(item.pair, (None, None))
            for conflict in item.conflicts:
                rows.append({
                    "run_id": run_id, "plan_id": plan_id, "sync": self.sync, "entity": item.entity,
                    "left_key": left_key, "right_key": right_key, "field": conflict.field,
                    "detail": json.dumps(conflict.__dict__, default=str), "created_at": now,
                })  # fmt: skip
        return self.store.bulk_insert(schema.sync_conflicts, rows)

    def conflicts(self) -> list[dict[str, Any]]:
        table = schema.sync_conflicts
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.sync == self.sync).order_by(table.c.id)).mappings()
            return [{**row, "detail": json.loads(row["detail"])} for row in rows]

    def record_reviews(self, entity: str, run_id: str | None, reviews: Sequence[Review]) -> int:
        """The open review list of an entity becomes this run's: a record that now pairs safely leaves it."""
        table = schema.match_reviews
        now = datetime.now(UTC)
        with self.store.transaction() as conn:
            conn.execute(
                table.update()
                .where(table.c.sync == self.sync, table.c.entity == entity, table.c.resolved_at.is_(None))
                .values(resolved_at=now)
            )
            if reviews:
                conn.execute(table.insert(), [
                    {"sync": self.sync, "entity": entity, "system": review.system, "record_key": review.key,
                     "candidates": json.dumps(list(review.candidates)), "reason": review.reason, "run_id": run_id,
                     "created_at": now}
                    for review in reviews
                ])  # fmt: skip
        return len(reviews)

    def open_reviews(self) -> list[dict[str, Any]]:
        table = schema.match_reviews
        query = sa.select(table).where(table.c.sync == self.sync, table.c.resolved_at.is_(None)).order_by(table.c.id)
        with self.store.engine.connect() as conn:
            return [{**row, "candidates": json.loads(row["candidates"])} for row in conn.execute(query).mappings()]
