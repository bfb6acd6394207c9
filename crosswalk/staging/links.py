"""Links between records of two systems (table id_crosswalk), with each side's base: the values it held after the
last sync. Read whole per entity for a plan; written in one transaction per batch of pairs that the load settled."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore
from crosswalk.sync.plan import LinkState

Value = Any


@dataclass(frozen=True)
class LinkWrite:
    """A pair as the load leaves it: inserted when `id` is None, else updated."""

    id: int | None
    entity: str
    left_key: str | None
    right_key: str | None
    base_left: dict[str, Value]
    base_right: dict[str, Value]
    matched_by: str | None = None


class LinkStore:
    def __init__(self, store: StagingStore, sync: str, systems: tuple[str, str]) -> None:
        self.store = store
        self.sync = sync
        self.left, self.right = systems

    def links(self, entity: str) -> list[LinkState]:
        table = schema.id_crosswalk
        query = sa.select(
            table.c.id, table.c.left_key, table.c.right_key, table.c.base_left, table.c.base_right
        ).where(table.c.entity == entity, table.c.left_system == self.left, table.c.right_system == self.right)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.id)).all()
        return [
            LinkState(row.id, row.left_key, row.right_key, _load(row.base_left), _load(row.base_right))
            for row in rows
        ]

    def save(self, writes: Iterable[LinkWrite], run_id: str | None) -> list[int]:
        """Insert or update the pairs; returns each pair's link id, in order. Set-based: one executemany for the
        updates and one multi-row insert (with the new ids returned in order) for the new pairs."""
        table = schema.id_crosswalk
        now = datetime.now(UTC)
        writes = list(writes)
        updates = [
            {"link_id": w.id, "left_key": w.left_key, "right_key": w.right_key, "base_left": _dump(w.base_left),
             "base_right": _dump(w.base_right), "last_synced_at": now, "last_run_id": run_id}
            for w in writes if w.id is not None
        ]  # fmt: skip
        inserts = [
            {"entity": w.entity, "sync": self.sync, "left_system": self.left, "right_system": self.right,
             "matched_by": w.matched_by, "created_at": now, "left_key": w.left_key, "right_key": w.right_key,
             "base_left": _dump(w.base_left), "base_right": _dump(w.base_right), "last_synced_at": now,
             "last_run_id": run_id}
            for w in writes if w.id is None
        ]  # fmt: skip
        new_ids: list[int] = []
        with self.store.transaction() as conn:
            if updates:
                statement = (
                    table.update()
                    .where(table.c.id == sa.bindparam("link_id"))
                    .values({name: sa.bindparam(name) for name in updates[0] if name != "link_id"})
                )
                conn.execute(statement, updates)
            for start in range(0, len(inserts), _INSERT_CHUNK):
                chunk = inserts[start : start + _INSERT_CHUNK]
                returned = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), chunk)
                new_ids.extend(int(row[0]) for row in returned)
        created = iter(new_ids)
        return [w.id if w.id is not None else next(created) for w in writes]

    def count(self, entity: str | None = None) -> int:
        table = schema.id_crosswalk
        query = sa.select(sa.func.count()).select_from(table).where(table.c.sync == self.sync)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


_INSERT_CHUNK = 5_000  # rows per multi-row insert (SQLAlchemy splits further to the driver's parameter limits)


def _dump(values: dict[str, Value] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> dict[str, Value] | None:
    return None if text is None else json.loads(text)
