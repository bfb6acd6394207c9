"""The staging store's Alembic migrations on SQLite and PostgreSQL: a new store gets exactly schema.py's tables, a store
made by the runner before Alembic is stamped and upgraded, processes migrating at once apply each revision once, and
readers find old and new stores without writing to them."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event

from crosswalk.staging import StagingStore, StoreUnavailable
from crosswalk.staging import schema as staging_schema
from crosswalk.staging.migrations import (
    COMPARE_OPTIONS,
    LEGACY_TABLE,
    PG_ADVISORY_LOCK_ID,
    alembic_config,
    in_migration_transaction,
    latest_version,
    script_directory,
)
from tests.e2e.test_cli_store_errors import crosswalk
from tests.integration.legacy_store import LINK_COLUMNS_OF_RELEASE_3, legacy_metadata, legacy_migrate

LATEST = latest_version()
# Releases of the runner before Alembic that opened the store in turn: (2, 4) is a store made by release 2 and
# upgraded by release 4, whose id_crosswalk got its link columns by ALTER TABLE.
LEGACY_HISTORIES = [(1,), (2,), (3,), (4,), (2, 4)]


@pytest.fixture
def new_store(database_url: str) -> Iterator[StagingStore]:
    """A store object on an empty database (nothing migrated)."""
    store = StagingStore(database_url)
    yield store
    store.dispose()


def legacy_store(store: StagingStore, history: tuple[int, ...]) -> int:
    """Make the store as the runner before Alembic left it after these releases opened it, with a few rows; returns
    its recorded version."""
    for release in history:
        legacy_migrate(store.engine, release)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO raw_records (system, object, record_key, content_hash, payload, deleted, updated_at) "
                "VALUES ('esp', 'companies', '7', 'h7', '{}', false, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO id_crosswalk (entity, left_system, left_key, right_system, right_key) "
                "VALUES ('project', 'intacct', 'P-1', 'salesforce', 'a0B1')"
            )
        )
    return history[-1]


def schema_differences(conn: sa.Connection) -> list[Any]:
    """What Alembic sees differ between the database and schema.py, plus primary keys, which it does not compare."""
    context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
    differences: list[Any] = list(compare_metadata(context, staging_schema.metadata))
    inspector = sa.inspect(conn)
    for table in staging_schema.metadata.sorted_tables:
        if table.name != LEGACY_TABLE and inspector.has_table(table.name):
            live = inspector.get_pk_constraint(table.name)["constrained_columns"]
            if sorted(live) != sorted(column.name for column in table.primary_key.columns):
                differences.append(("primary key", table.name, live))
    return differences


def revision_in_database(store: StagingStore) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_table(store: StagingStore, name: str) -> bool:
    with store.engine.connect() as conn:
        return sa.inspect(conn).has_table(name)


def alembic_command(store: StagingStore, run: Callable[[Any], None]) -> None:
    """An alembic.command run on the store the way migrate() runs its upgrade: under the lock, in one transaction."""
    with store.engine.connect() as conn:
        conn.info["begin_immediate"] = True
        in_migration_transaction(conn, lambda locked: run(alembic_config(locked)))


# ---- revisions -------------------------------------------------------------------------------------------------


def test_revisions_are_numbered_0001_upwards_in_one_line() -> None:
    revisions = list(reversed(list(script_directory().walk_revisions())))
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [r.down_revision for r in revisions] == [None, *(r.revision for r in revisions[:-1])]
    assert script_directory().get_heads() == [f"{LATEST:04d}"]


def test_an_empty_database_is_migrated_to_the_newest_revision_once(new_store: StagingStore) -> None:
    assert not new_store.exists()
    assert new_store.migrate() == list(range(1, LATEST + 1))
    assert new_store.migrate() == []
    assert new_store.exists()
    assert new_store.schema_version() == LATEST
    assert revision_in_database(new_store) == f"{LATEST:04d}"
    assert not has_table(new_store, LEGACY_TABLE)


# ---- the migrated schema is schema.py ---------------------------------------------------------------------------


@pytest.mark.parametrize("history", [None, *LEGACY_HISTORIES], ids=lambda h: "new" if h is None else f"legacy{h}")
def test_the_migrated_database_is_exactly_schema_py(new_store: StagingStore, history: tuple[int, ...] | None) -> None:
    if history is not None:
        legacy_store(new_store, history)
    new_store.migrate()
    with new_store.engine.connect() as conn:
        assert schema_differences(conn) == []


@pytest.mark.parametrize(
    ("change", "seen_as"),
    [
        (lambda md: setattr(md.tables["raw_records"].c.system, "type", sa.String(40)), "modify_type"),
        (lambda md: setattr(md.tables["quarantine"].c.record_key, "type", sa.Integer()), "modify_type"),
        (lambda md: setattr(md.tables["watermarks"].c.run_id, "nullable", False), "modify_nullable"),
        (lambda md: sa.Table("watermarks", md, sa.Column("extra", sa.Text), extend_existing=True), "add_column"),
        (lambda md: md.tables["sync_log"].indexes.clear(), "remove_index"),
        (lambda md: sa.Table("extra", md, sa.Column("id", sa.Integer, primary_key=True)), "add_table"),
        (
            lambda md: setattr(md.tables["watermarks"].c.value, "server_default", sa.DefaultClause("x")),
            "modify_default",
        ),
    ],
    ids=["length", "type", "nullable", "column", "index", "table", "server-default"],
)
def test_the_comparison_sees_a_schema_py_that_differs(
    store: StagingStore, change: Callable[[sa.MetaData], Any], seen_as: str
) -> None:
    """The comparison above can fail: the same database against a changed copy of schema.py differs."""
    changed = sa.MetaData()
    for table in staging_schema.metadata.sorted_tables:
        table.to_metadata(changed)
    change(changed)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
        differences = compare_metadata(context, changed)
    kinds = [d[0][0] if isinstance(d, list) else d[0] for d in differences]
    assert kinds == [seen_as]


def test_each_revision_downgrades_and_upgrades_again(store: StagingStore) -> None:
    for version in range(LATEST - 1, -1, -1):
        target = f"{version:04d}" if version else "base"
        alembic_command(store, lambda config, target=target: command.downgrade(config, target))
        assert store.schema_version() == version
    with store.engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
    alembic_command(store, lambda config: command.upgrade(config, "0002"))
    with store.engine.connect() as conn:
        live = {column["name"] for column in sa.inspect(conn).get_columns("id_crosswalk")}
    assert live == {c.name for c in legacy_metadata(2).tables["id_crosswalk"].columns}
    assert store.migrate() == list(range(3, LATEST + 1))
    with store.engine.connect() as conn:
        assert schema_differences(conn) == []


# ---- stores made by the runner before Alembic -------------------------------------------------------------------


@pytest.mark.parametrize("history", LEGACY_HISTORIES, ids=str)
def test_a_store_made_before_alembic_is_stamped_at_its_version_then_upgraded(
    new_store: StagingStore, history: tuple[int, ...]
) -> None:
    version = legacy_store(new_store, history)
    # Found by readers as it is, without a write.
    assert new_store.exists()
    assert new_store.schema_version() == version
    assert has_table(new_store, LEGACY_TABLE) and not has_table(new_store, "alembic_version")

    assert new_store.migrate() == list(range(version + 1, LATEST + 1))
    assert revision_in_database(new_store) == f"{LATEST:04d}"
    assert not has_table(new_store, LEGACY_TABLE)
    assert new_store.migrate() == []
    with new_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT record_key FROM raw_records")).scalars().all() == ["7"]
        link = conn.execute(sa.text("SELECT * FROM id_crosswalk")).mappings().one()
    assert (link["left_key"], link["right_key"]) == ("P-1", "a0B1")
    assert all(link[column] is None for column in LINK_COLUMNS_OF_RELEASE_3)


@pytest.mark.parametrize("versions", [[1, 3], [2], [], [1, 2, 3, 4, 5]], ids=str)
def test_a_version_table_no_release_left_is_refused_and_left_as_it_was(
    new_store: StagingStore, versions: list[int]
) -> None:
    legacy_store(new_store, (4,))
    with new_store.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {LEGACY_TABLE}"))
        for version in versions:
            conn.execute(sa.text(f"INSERT INTO {LEGACY_TABLE} VALUES (:v, 'step', CURRENT_TIMESTAMP)"), {"v": version})
    with pytest.raises(StoreUnavailable, match=rf"{LEGACY_TABLE} records versions \[") as raised:
        new_store.migrate()
    assert str(versions) in str(raised.value)
    assert has_table(new_store, LEGACY_TABLE) and not has_table(new_store, "alembic_version")


def test_a_store_a_newer_release_migrated_is_refused_by_name(store: StagingStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StoreUnavailable, match="schema revision 0099, which this Crosswalk release does not have"):
        store.migrate()
    assert store.schema_version() == 99
    assert revision_in_database(store) == "0099"


# ---- processes migrating at once -------------------------------------------------------------------------------


def _migrate_in_process(url: str, start: Any, messages: Any) -> None:
    """One process: migrate, saying "waiting" just before the statement that waits for the lock the test holds (the
    migration lock; without one, the first CREATE TABLE), then the versions it applied."""
    try:
        start.wait(timeout=60)
        store = StagingStore(url)
        reported = False

        @event.listens_for(store.engine, "before_cursor_execute")
        def _report(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            nonlocal reported
            if not reported and any(s in statement for s in ("BEGIN IMMEDIATE", "pg_advisory_xact_lock", "CREATE")):
                reported = True
                messages.put("waiting")

        messages.put(store.migrate())
        store.dispose()
    except BaseException as exc:
        messages.put(f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise


@pytest.mark.parametrize("history", [None, (2,)], ids=["new", "legacy(2,)"])
def test_processes_migrating_one_database_at_once_apply_each_revision_once(
    new_store: StagingStore, database_url: str, history: tuple[int, ...] | None
) -> None:
    first = 1
    if history is not None:
        first = legacy_store(new_store, history) + 1
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    messages = context.Queue()
    processes = [context.Process(target=_migrate_in_process, args=(database_url, start, messages)) for _ in range(3)]
    for process in processes:
        process.start()
    # The test holds the migration lock until every process waits for it, so all of them start from the same
    # database and their migrations overlap as far as the lock lets them.
    with new_store.engine.connect() as conn:
        conn.info["begin_immediate"] = True
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_ADVISORY_LOCK_ID})
            start.set()
            assert [messages.get(timeout=120) for _ in processes] == ["waiting"] * len(processes)
    outcomes = [messages.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert sorted(outcomes, key=len) == [[], [], list(range(first, LATEST + 1))], outcomes
    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert revision_in_database(new_store) == f"{LATEST:04d}"
    with new_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert schema_differences(conn) == []


# ---- the commands ------------------------------------------------------------------------------------------------


def test_status_reads_a_store_made_before_alembic_once_upgraded_and_migrate_finds_it_current(
    new_store: StagingStore, database_url: str, tmp_path: Path
) -> None:
    legacy_store(new_store, (4,))
    assert LATEST > 4  # the last release before Alembic left schema 4; a reader upgrades it first, as a run would
    status = crosswalk("status", database_url, tmp_path)
    assert status.returncode == 0, status.stderr[-3000:]
    assert revision_in_database(new_store) == f"{LATEST:04d}" and not has_table(new_store, LEGACY_TABLE)

    migrated = crosswalk("migrate", database_url, tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    assert f"schema version {LATEST} (already current)" in migrated.stdout
    assert crosswalk("status", database_url, tmp_path).returncode == 0


def test_migrate_prints_each_revision_it_applies(database_url: str, tmp_path: Path) -> None:
    migrated = crosswalk("migrate", database_url, tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    lines = migrated.stdout.splitlines()
    assert lines[0].endswith(f"schema version {LATEST}"), lines
    assert lines[1:] == [
        f"  applied {script.revision} {script.doc.splitlines()[0]}"
        for script in reversed(list(script_directory().walk_revisions()))
    ]
    assert "(already current)" in crosswalk("migrate", database_url, tmp_path).stdout
