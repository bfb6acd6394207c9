"""Schema migrations of the staging store with Alembic, on SQLite and PostgreSQL.

Revisions live in crosswalk/staging/alembic/versions, numbered 0001, 0002, ... in order; the number is the schema
version that `crosswalk migrate` prints and readers compare. migrate() upgrades to the newest revision in one
transaction under a lock (a PostgreSQL advisory lock; on SQLite the caller's BEGIN IMMEDIATE), so processes starting
together apply each revision once. A store made by the runner before Alembic (versions in `schema_migrations`, no
`alembic_version`) is stamped at its version in the same transaction, and its `schema_migrations` table dropped.

A new revision: `alembic revision -m "what it adds" --rev-id 0005` from the repository root ([tool.alembic] in
pyproject.toml). Write its upgrade and downgrade with op.* (ALTERs inside op.batch_alter_table, which SQLite needs),
spelling tables out rather than reading schema.py, then change schema.py to match: tests/integration/test_migrations.py
fails while the two differ.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

# Arbitrary constant naming Crosswalk's migration lock among the database's advisory locks (the runner before Alembic
# took the same one, so an old and a new release never migrate one database at once).
PG_ADVISORY_LOCK_ID = 0x43525357  # "CRSW"

SCRIPT_LOCATION = Path(__file__).resolve().with_name("alembic")

# The runner before Alembic recorded versions 1..4 here; revision 000N has the same effect as its version N.
LEGACY_TABLE = "schema_migrations"
_LEGACY_LATEST = 4


class MigrationError(Exception):
    """The store's recorded schema cannot be upgraded by this release; the message says what was found."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is read. With a connection, env.py migrates through it
    (the caller holds the transaction and the lock); without one, env.py opens CROSSWALK_DATABASE_URL itself."""
    config = Config(attributes={"connection": connection})
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise MigrationError(f"no revisions in {SCRIPT_LOCATION / 'versions'}")
    return head


def version_of(revision: str | None) -> int:
    """The schema version a revision id stands for; 0 for none."""
    if revision is None:
        return 0
    if not revision.isdigit():
        raise MigrationError(f"alembic_version holds revision {revision!r}, which is not a Crosswalk schema version")
    return int(revision)


def latest_version() -> int:
    return version_of(head_revision())


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What Alembic compares and autogenerates: all of schema.py except the legacy version table it still declares."""
    return not (type_ == "table" and name == LEGACY_TABLE)


# How a database is compared with schema.py, by `alembic revision --autogenerate` and by the tests alike.
COMPARE_OPTIONS: dict[str, Any] = {
    "include_object": include_object,
    "compare_type": True,
    "compare_server_default": True,
}


def _legacy_versions(conn: sa.Connection) -> list[int] | None:
    """The versions the runner before Alembic recorded, or None when it left no table."""
    if not sa.inspect(conn).has_table(LEGACY_TABLE):
        return None
    return sorted(conn.execute(sa.text(f"SELECT version FROM {LEGACY_TABLE}")).scalars())


def current_version(conn: sa.Connection) -> int:
    """The store's schema version, 0 when there is none; reads only (a legacy store is not stamped here)."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None:
        return version_of(revision)
    return max(_legacy_versions(conn) or [0])


def _lock(conn: sa.Connection) -> None:
    # SQLite: the caller opened the transaction with BEGIN IMMEDIATE, which already serialises writers.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_ADVISORY_LOCK_ID})


def _adopt_legacy_store(conn: sa.Connection) -> None:
    """Stamp a store the runner before Alembic made at the revision matching its version, then drop its table."""
    if sa.inspect(conn).has_table("alembic_version"):
        return
    versions = _legacy_versions(conn)
    if versions is None:
        return
    if not versions or versions != list(range(1, len(versions) + 1)) or len(versions) > _LEGACY_LATEST:
        raise MigrationError(
            f"table {LEGACY_TABLE} records versions {versions}, which no Crosswalk release left "
            f"(each applied 1 to N in order, N at most {_LEGACY_LATEST}); the store's schema is unknown"
        )
    MigrationContext.configure(conn).stamp(script_directory(), f"{versions[-1]:04d}")
    conn.execute(sa.text(f"DROP TABLE {LEGACY_TABLE}"))


def _check_known(conn: sa.Connection) -> None:
    revision = MigrationContext.configure(conn).get_current_revision()
    known = {script.revision for script in script_directory().walk_revisions()}
    if revision is not None and revision not in known:
        raise MigrationError(
            f"the store is at schema revision {revision}, which this Crosswalk release does not have "
            f"(its newest is {head_revision()}): a newer release migrated it"
        )


def in_migration_transaction(conn: sa.Connection, work: Callable[[sa.Connection], None]) -> None:
    """Run `work` in one transaction that holds the migration lock, with a legacy store adopted first. On SQLite the
    caller sets conn.info["begin_immediate"] so the transaction takes the write lock at once."""
    with conn.begin():
        _lock(conn)
        _adopt_legacy_store(conn)
        work(conn)


def migrate(conn: sa.Connection) -> list[int]:
    """Bring the database up to the newest revision in one transaction; returns the versions applied now."""
    applied: list[str] = []

    def upgrade(locked: sa.Connection) -> None:
        _check_known(locked)
        config = alembic_config(locked)
        config.attributes["applied"] = applied
        command.upgrade(config, "head")

    in_migration_transaction(conn, upgrade)
    return [version_of(revision) for revision in applied]


def describe(version: int) -> str:
    """The first line of a revision's message, e.g. for `crosswalk migrate`'s output."""
    script = script_directory().get_revision(f"{version:04d}")
    return (script.doc or "").splitlines()[0] if script is not None else ""
