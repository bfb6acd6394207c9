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
        """Insert or update the pairs; returns each pair's link id, in order."""
        table = schema.id_crosswalk
        now = datetime.now(UTC)
        ids: list[int] = []
        with self.store.transaction() as conn:
            for write in writes:
                values = {
                    "left_key": write.left_key,
                    "right_key": write.right_key,
                    "base_left": _dump(write.base_left),
                    "base_right": _dump(write.base_right),
                    "last_synced_at": now,
                    "last_run_id": run_id,
                }
                if write.id is None:
                    inserted = conn.execute(
                        table.insert().values(
                            entity=write.entity, sync=self.sync, left_system=self.left, right_system=self.right,
                            matched_by=write.matched_by, created_at=now, **values,
                        )
                    )
                    ids.append(int(inserted.inserted_primary_key[0]))
                else:
                    conn.execute(table.update().where(table.c.id == write.id).values(**values))
                    ids.append(write.id)
        return ids

    def count(self, entity: str | None = None) -> int:
        table = schema.id_crosswalk
        query = sa.select(sa.func.count()).select_from(table).where(table.c.sync == self.sync)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _dump(values: dict[str, Value] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> dict[str, Value] | None:
    return None if text is None else json.loads(text)
