"""Links between records of two systems (table id_crosswalk), with each side's base: the values it held after the
last sync, and the marks of a pair a plan found with nothing to do (each side's state then; its records' identity
values in link_identities). A plan reads every link's keys and marks, and the bases of the pairs it plans; links are
written in one transaction per batch of pairs that the load settled, marks when a plan is saved."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore
from crosswalk.sync.plan import LinkMark, LinkState

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


@dataclass(frozen=True)
class InSync:
    """A pair a plan found with nothing to do: each side's state (content hash with the plan context) and identity
    values ({API field: value}), so later plans leave it alone while neither changes."""

    entity: str
    link_id: int
    left_hash: str
    right_hash: str
    left_identity: dict[str, str]
    right_identity: dict[str, str]


class LinkStore:
    def __init__(self, store: StagingStore, sync: str, systems: tuple[str, str]) -> None:
        self.store = store
        self.sync = sync
        self.left, self.right = systems

    def _of(self, entity: str) -> sa.ColumnElement[bool]:
        table = schema.id_crosswalk
        return sa.and_(table.c.entity == entity, table.c.left_system == self.left, table.c.right_system == self.right)

    def marks(self, entity: str) -> list[LinkMark]:
        """Every link of the entity without its bases, in no set order (an index holds all this reads)."""
        table = schema.id_crosswalk
        query = sa.select(
            table.c.id, table.c.left_key, table.c.right_key, table.c.left_hash, table.c.right_hash
        ).where(self._of(entity))  # fmt: skip
        make = tuple.__new__  # the rows are the fields in order: no per-row checks
        return [make(LinkMark, row) for row in self.store.driver_rows(query)]

    def links(self, entity: str, ids: Collection[int] | None = None, *, among: int | None = None) -> list[LinkState]:
        """The entity's links with their bases, in id order: every one, or those with these ids (`among`: how many
        links the entity has, when the caller knows: it chooses how they are read)."""
        table = schema.id_crosswalk
        query = sa.select(
            table.c.id, table.c.left_key, table.c.right_key, table.c.base_left, table.c.base_right, table.c.left_hash,
            table.c.right_hash,
        ).where(self._of(entity))  # fmt: skip
        links = [
            LinkState(row[0], row[1], row[2], _load(row[3]), _load(row[4]), row[5], row[6])
            for row in self._rows(query, table.c.id, ids, among)
        ]
        return links if ids is None else sorted(links, key=lambda link: link.id or 0)

    def bases(self, entity: str, ids: Collection[int]) -> Iterator[tuple[dict[str, Value], dict[str, Value]]]:
        """(base_left, base_right) of the entity's links with these ids."""
        table = schema.id_crosswalk
        query = sa.select(table.c.id, table.c.base_left, table.c.base_right).where(self._of(entity))
        for _id, base_left, base_right in self._rows(query, table.c.id, ids):
            yield _load(base_left) or {}, _load(base_right) or {}

    def _rows(
        self,
        query: sa.Select[Any],
        id_column: sa.ColumnElement[int],
        ids: Collection[int] | None,
        among: int | None = None,
    ) -> Iterator[Sequence[Any]]:
        """The query's rows (its first column the link id): all, or those with these ids."""
        if ids is None:
            yield from self.store.driver_rows(query.order_by(id_column))
            return
        # Many: one scan, filtered here, beats lists of ids written into the SQL; below, reading and dropping the
        # other rows' bases costs more than the lists.
        if among is None:
            limit: float = _LOOKUP_IDS
        else:
            limit = among * _SCAN_SHARE.get(self.store.engine.dialect.name, _SCAN_SHARE["postgresql"])
        if len(ids) > limit:
            wanted = set(ids)
            yield from (row for row in self.store.driver_rows(query) if row[0] in wanted)
            return
        listed = sorted(ids)
        for start in range(0, len(listed), _INSERT_CHUNK):
            yield from self.store.driver_rows(query.where(id_column.in_(listed[start : start + _INSERT_CHUNK])))

    def mark_in_sync(self, marks: Iterable[InSync]) -> int:
        """Record, for pairs a plan found with nothing to do, each side's state and identity values then; returns
        how many links were marked. A link settled since (its bases rewritten) has lost its marks."""
        table, identities = schema.id_crosswalk, schema.link_identities
        marks = list(marks)
        if not marks:
            return 0
        rows = [{"link_id": m.link_id, "left_hash": m.left_hash, "right_hash": m.right_hash} for m in marks]
        values = [
            {"link_id": m.link_id, "system": system, "field": name, "sync": self.sync, "entity": m.entity,
             "value": value}
            for m in marks
            for system, identity in ((self.left, m.left_identity), (self.right, m.right_identity))
            for name, value in identity.items()
        ]  # fmt: skip
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("link_id"))
            .values(left_hash=sa.bindparam("left_hash"), right_hash=sa.bindparam("right_hash"))
        )
        ids = sorted(m.link_id for m in marks)
        with self.store.transaction() as conn:
            self.store.driver_executemany(conn, statement, rows)
            for start in range(0, len(ids), _INSERT_CHUNK):
                conn.execute(identities.delete().where(identities.c.link_id.in_(ids[start : start + _INSERT_CHUNK])))
            self.store.driver_executemany(conn, identities.insert(), values)
        return len(marks)

    def identities(self, entity: str, system: str, field: str) -> dict[int, str]:
        """link id -> the value of `field` its record on `system` had when its pair was marked."""
        table = schema.link_identities
        query = sa.select(table.c.link_id, table.c.value).where(
            table.c.sync == self.sync, table.c.entity == entity, table.c.system == system, table.c.field == field
        )
        return dict(self.store.driver_rows(query))

    def holding(self, entity: str, system: str, values: Collection[str]) -> set[int]:
        """Links whose record on `system` had one of these identity values when its pair was marked."""
        table = schema.link_identities
        wanted = sorted(values)
        found: set[int] = set()
        for start in range(0, len(wanted), _INSERT_CHUNK):
            query = sa.select(table.c.link_id).where(
                table.c.sync == self.sync, table.c.entity == entity, table.c.system == system,
                table.c.value.in_(wanted[start : start + _INSERT_CHUNK]),
            )  # fmt: skip
            found.update(link_id for (link_id,) in self.store.driver_rows(query))
        return found

    def save(self, writes: Iterable[LinkWrite], run_id: str | None) -> list[int]:
        """Insert or update the pairs; returns each pair's link id, in order. Set-based: one executemany for the
        updates and one multi-row insert (with the new ids returned in order) for the new pairs."""
        table = schema.id_crosswalk
        now = datetime.now(UTC)
        writes = list(writes)
        updates = [
            {"link_id": w.id, "left_key": w.left_key, "right_key": w.right_key, "base_left": _dump(w.base_left),
             "base_right": _dump(w.base_right), "last_synced_at": now, "last_run_id": run_id, "left_hash": None,
             "right_hash": None}
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
_LOOKUP_IDS = 2_000  # links read by id up to this many; more are read in one scan of the entity's links
# When the caller says how many links the entity has: the share above which one scan reads them. Measured over the
# 95,660 task links of a 10k-project store: on SQLite lists of ids win up to about half of them (a third: 0.30 s
# against 0.39 s), on PostgreSQL only up to about a tenth (a third: 0.74 s against 0.41 s).
_SCAN_SHARE = {"sqlite": 0.5, "postgresql": 0.1}


def _dump(values: dict[str, Value] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> dict[str, Value] | None:
    return None if text is None else orjson.loads(text)
