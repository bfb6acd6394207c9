"""Write intents: each write is committed as `open` before it is sent and closed with its outcome after. A run that
finds open intents (the previous one was killed between the two) looks each record up in the target by the
intent's lookup field before anything is written again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from crosswalk.staging import schema
from crosswalk.staging.store import StagingStore

OPEN = "open"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class Intent:
    marker: str
    plan_id: str
    seq: int
    target_system: str
    target_object: str
    operation: str
    lookup_field: str | None
    lookup_value: str | None


@dataclass(frozen=True)
class Outcome:
    marker: str
    state: str  # DONE or FAILED
    result_key: str | None = None
    error: str | None = None


class IntentLog:
    def __init__(self, store: StagingStore) -> None:
        self.store = store

    def open(self, intents: Sequence[Intent], run_id: str | None) -> None:
        """Committed before the writes are sent."""
        now = datetime.now(UTC)
        self.store.bulk_insert(schema.write_intents, [
            {"marker": i.marker, "plan_id": i.plan_id, "seq": i.seq, "run_id": run_id,
             "target_system": i.target_system, "target_object": i.target_object, "operation": i.operation,
             "lookup_field": i.lookup_field, "lookup_value": i.lookup_value, "state": OPEN, "result_key": None,
             "error": None, "created_at": now, "finished_at": None}
            for i in intents
        ])  # fmt: skip

    def record_settled(self, plan_id: str, seqs: Sequence[int], run_id: str | None) -> None:
        """Plan items applied in the store alone (a pair's link): done at once, so a later step does not redo them."""
        now = datetime.now(UTC)
        self.store.bulk_insert(schema.write_intents, [
            {"marker": f"{plan_id}:{seq}"[-64:], "plan_id": plan_id, "seq": seq, "run_id": run_id,
             "target_system": "staging", "target_object": "id_crosswalk", "operation": "link", "lookup_field": None,
             "lookup_value": None, "state": DONE, "result_key": None, "error": None, "created_at": now,
             "finished_at": now}
            for seq in seqs
        ])  # fmt: skip

    def close(self, outcomes: Sequence[Outcome]) -> None:
        table = schema.write_intents
        now = datetime.now(UTC)
        if not outcomes:
            return
        rows = [
            {"intent_marker": o.marker, "state": o.state, "result_key": o.result_key, "error": o.error,
             "finished_at": now}
            for o in outcomes
        ]  # fmt: skip
        statement = (
            table.update()
            .where(table.c.marker == sa.bindparam("intent_marker"))
            .values(state=sa.bindparam("state"), result_key=sa.bindparam("result_key"), error=sa.bindparam("error"),
                    finished_at=sa.bindparam("finished_at"))
        )  # fmt: skip
        with self.store.transaction() as conn:
            conn.execute(statement, rows)  # one executemany, not a statement per write

    def open_intents(self, target_system: str | None = None) -> list[Intent]:
        """Intents whose outcome was never recorded (the run that sent them stopped)."""
        table = schema.write_intents
        query = sa.select(table).where(table.c.state == OPEN)
        if target_system is not None:
            query = query.where(table.c.target_system == target_system)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.created_at, table.c.seq)).mappings().all()
        return [
            Intent(r["marker"], r["plan_id"], r["seq"], r["target_system"], r["target_object"], r["operation"],
                   r["lookup_field"], r["lookup_value"])
            for r in rows
        ]  # fmt: skip

    def outcomes(self, plan_id: str) -> dict[int, Outcome]:
        """The recorded outcome of each item of a plan that has one, by item sequence number."""
        table = schema.write_intents
        query = sa.select(table).where(table.c.plan_id == plan_id, table.c.state != OPEN)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["seq"]: Outcome(r["marker"], r["state"], r["result_key"], r["error"]) for r in rows}
