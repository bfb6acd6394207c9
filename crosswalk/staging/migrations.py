"""Versioned, idempotent schema migrations for the staging store, on SQLite and PostgreSQL.

Each migration has a number and runs once, recorded in `schema_migrations`. Migrations run under a lock
(PostgreSQL advisory lock, SQLite write transaction) so two processes starting together apply each step once.
Rule for later migrations: tables are created from schema.py with checkfirst, and a migration that adds a
column to an existing table checks the live columns first, so replaying the history on an empty database
(which creates tables in their current shape) stays correct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from crosswalk.staging import schema

# Arbitrary constant naming Crosswalk's migration lock among the database's advisory locks.
_PG_ADVISORY_LOCK_ID = 0x43525357  # "CRSW"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _create_tables(*tables: sa.Table) -> Callable[[sa.Connection], None]:
    def apply(conn: sa.Connection) -> None:
        schema.metadata.create_all(conn, tables=list(tables), checkfirst=True)

    return apply


def _add_missing_columns(table: sa.Table) -> Callable[[sa.Connection], None]:
    """Columns schema.py declares that the live table lacks (a table created by an older migration)."""

    def apply(conn: sa.Connection) -> None:
        live = {column["name"] for column in sa.inspect(conn).get_columns(table.name)}
        for column in table.columns:
            if column.name not in live:
                column_type = column.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {column_type}'))

    return apply


def _steps(*steps: Callable[[sa.Connection], None]) -> Callable[[sa.Connection], None]:
    def apply(conn: sa.Connection) -> None:
        for step in steps:
            step(conn)

    return apply


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "staging tables: raw records, canonical records, quarantine, id crosswalk, watermarks, sync log",
        _create_tables(
            schema.raw_records,
            schema.canonical_records,
            schema.quarantine,
            schema.id_crosswalk,
            schema.watermarks,
            schema.sync_log,
        ),
    ),
    Migration(
        2,
        "extract run history and rotating connection credentials",
        _create_tables(schema.extract_runs, schema.connection_credentials),
    ),
    Migration(
        3,
        "sync: link bases, write plans, write intents, conflicts, match reviews",
        _steps(
            _add_missing_columns(schema.id_crosswalk),
            _create_tables(schema.plan_items, schema.write_intents, schema.sync_conflicts, schema.match_reviews),
        ),
    ),
    Migration(4, "sync plan headers: when, mapping, counts", _create_tables(schema.sync_plans)),
)


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _lock(conn: sa.Connection) -> None:
    # SQLite: the caller opened the transaction with BEGIN IMMEDIATE, which already serialises writers.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_ADVISORY_LOCK_ID})


def applied_versions(conn: sa.Connection) -> set[int]:
    if not sa.inspect(conn).has_table(schema.schema_migrations.name):
        return set()
    return set(conn.execute(sa.select(schema.schema_migrations.c.version)).scalars())


def migrate(conn: sa.Connection) -> list[int]:
    """Bring the database up to the latest version in one transaction; returns the versions applied now."""
    with conn.begin():
        _lock(conn)
        schema.metadata.create_all(conn, tables=[schema.schema_migrations], checkfirst=True)
        done = applied_versions(conn)
        applied: list[int] = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.apply(conn)
            conn.execute(
                schema.schema_migrations.insert().values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=datetime.now(UTC),
                )
            )
            applied.append(migration.version)
        return applied
