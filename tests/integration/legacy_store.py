"""A staging store as the runner before Alembic left it: a frozen copy of that runner (numbered steps recorded in
`schema_migrations`, tables created from the schema.py of the time with checkfirst) and of the tables each release
declared. Frozen on purpose: schema.py and the Alembic revisions move on, stores already made do not.

Releases: 1 made the first six tables; 2 added extract_runs and connection_credentials; 3 gave id_crosswalk the sync,
bases, matched_by and created_at columns (ALTER TABLE on a store made before, in the CREATE TABLE on a new one) and
added the sync tables; 4 added sync_plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

LINK_COLUMNS_OF_RELEASE_3 = ("sync", "base_left", "base_right", "matched_by", "created_at")


def legacy_metadata(release: int) -> sa.MetaData:
    """schema.py's tables as release `release` (1 to 4) declared them."""
    metadata = sa.MetaData()
    raw_records = sa.Table(
        "raw_records",
        metadata,
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("replication_stamp", sa.String(64)),
        sa.Column("replicated_at", sa.DateTime(timezone=True)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, default=False),
        sa.Column("first_seen_run", sa.String(64)),
        sa.Column("last_seen_run", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_raw_records_stream_deleted", raw_records.c.system, raw_records.c.object, raw_records.c.deleted)
    sa.Table(
        "canonical_records",
        metadata,
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("source_system", sa.String(32), primary_key=True),
        sa.Column("source_key", sa.String(255), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("mapping_version", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    quarantine = sa.Table(
        "quarantine",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(255)),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
    )
    sa.Index("ix_quarantine_record", quarantine.c.system, quarantine.c.object, quarantine.c.record_key)
    link_columns = (
        [
            sa.Column("sync", sa.String(32)),
            sa.Column("base_left", sa.Text),
            sa.Column("base_right", sa.Text),
            sa.Column("matched_by", sa.String(255)),
            sa.Column("created_at", sa.DateTime(timezone=True)),
        ]
        if release >= 3
        else []
    )
    sa.Table(
        "id_crosswalk",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("left_system", sa.String(32), nullable=False),
        sa.Column("left_key", sa.String(255)),
        sa.Column("left_hash", sa.String(64)),
        sa.Column("right_system", sa.String(32), nullable=False),
        sa.Column("right_key", sa.String(255)),
        sa.Column("right_hash", sa.String(64)),
        sa.Column("last_synced_at", sa.DateTime(timezone=True)),
        sa.Column("last_run_id", sa.String(64)),
        *link_columns,
        sa.UniqueConstraint("entity", "left_system", "left_key", name="uq_id_crosswalk_left"),
        sa.UniqueConstraint("entity", "right_system", "right_key", name="uq_id_crosswalk_right"),
    )
    sa.Table(
        "watermarks",
        metadata,
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(64)),
        sa.Column("last_key_scan_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sync_log = sa.Table(
        "sync_log",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("target_system", sa.String(32), nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("record_key", sa.String(255)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("ix_sync_log_run", sync_log.c.run_id)
    sa.Table(
        "schema_migrations",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    if release >= 2:
        extract_runs = sa.Table(
            "extract_runs",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(64)),
            sa.Column("system", sa.String(32), nullable=False),
            sa.Column("object", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
            *(
                sa.Column(name, sa.Integer, nullable=False, default=0)
                for name in (
                    "rows_read",
                    "rows_new",
                    "rows_changed",
                    "rows_unchanged",
                    "rows_deleted",
                    "pages",
                    "api_calls",
                    "retries",
                )
            ),
            sa.Column("watermark_before", sa.String(64)),
            sa.Column("watermark_after", sa.String(64)),
            sa.Column("error", sa.Text),
        )
        sa.Index("ix_extract_runs_stream", extract_runs.c.system, extract_runs.c.object, extract_runs.c.id)
        sa.Table(
            "connection_credentials",
            metadata,
            sa.Column("system", sa.String(32), primary_key=True),
            sa.Column("name", sa.String(128), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
    if release >= 3:
        sa.Table(
            "plan_items",
            metadata,
            sa.Column("plan_id", sa.String(64), primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("sync", sa.String(32), nullable=False),
            sa.Column("entity", sa.String(64), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("target_system", sa.String(32)),
            sa.Column("target_object", sa.String(64)),
            sa.Column("target_key", sa.String(255)),
            sa.Column("source_system", sa.String(32)),
            sa.Column("source_key", sa.String(255)),
            sa.Column("link_id", sa.Integer),
            sa.Column("item", sa.Text, nullable=False),
        )
        write_intents = sa.Table(
            "write_intents",
            metadata,
            sa.Column("marker", sa.String(64), primary_key=True),
            sa.Column("plan_id", sa.String(64), nullable=False),
            sa.Column("seq", sa.Integer, nullable=False),
            sa.Column("run_id", sa.String(64)),
            sa.Column("target_system", sa.String(32), nullable=False),
            sa.Column("target_object", sa.String(64), nullable=False),
            sa.Column("operation", sa.String(16), nullable=False),
            sa.Column("lookup_field", sa.String(128)),
            sa.Column("lookup_value", sa.String(255)),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("result_key", sa.String(255)),
            sa.Column("error", sa.Text),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
        )
        sa.Index("ix_write_intents_state", write_intents.c.state, write_intents.c.target_system)
        sa.Table(
            "sync_conflicts",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(64)),
            sa.Column("plan_id", sa.String(64)),
            sa.Column("sync", sa.String(32), nullable=False),
            sa.Column("entity", sa.String(64), nullable=False),
            sa.Column("left_key", sa.String(255)),
            sa.Column("right_key", sa.String(255)),
            sa.Column("field", sa.String(128), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        sa.Table(
            "match_reviews",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("sync", sa.String(32), nullable=False),
            sa.Column("entity", sa.String(64), nullable=False),
            sa.Column("system", sa.String(32), nullable=False),
            sa.Column("record_key", sa.String(255), nullable=False),
            sa.Column("candidates", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("run_id", sa.String(64)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("resolved_at", sa.DateTime(timezone=True)),
        )
    if release >= 4:
        sync_plans = sa.Table(
            "sync_plans",
            metadata,
            sa.Column("plan_id", sa.String(64), primary_key=True),
            sa.Column("sync", sa.String(32), nullable=False),
            sa.Column("run_id", sa.String(64)),
            sa.Column("mapping_hash", sa.String(64), nullable=False),
            sa.Column("counts", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        sa.Index("ix_sync_plans_sync", sync_plans.c.sync, sync_plans.c.created_at)
    return metadata


@dataclass(frozen=True)
class _Step:
    version: int
    description: str
    apply: Callable[[sa.Connection, sa.MetaData], None]


def _create(*names: str) -> Callable[[sa.Connection, sa.MetaData], None]:
    def apply(conn: sa.Connection, metadata: sa.MetaData) -> None:
        metadata.create_all(conn, tables=[metadata.tables[name] for name in names], checkfirst=True)

    return apply


def _add_missing_link_columns(conn: sa.Connection, metadata: sa.MetaData) -> None:
    table = metadata.tables["id_crosswalk"]
    live = {column["name"] for column in sa.inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in live:
            column_type = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {column_type}'))


def _step_3(conn: sa.Connection, metadata: sa.MetaData) -> None:
    _add_missing_link_columns(conn, metadata)
    _create("plan_items", "write_intents", "sync_conflicts", "match_reviews")(conn, metadata)


_STEPS = (
    _Step(
        1,
        "staging tables: raw records, canonical records, quarantine, id crosswalk, watermarks, sync log",
        _create("raw_records", "canonical_records", "quarantine", "id_crosswalk", "watermarks", "sync_log"),
    ),
    _Step(
        2, "extract run history and rotating connection credentials", _create("extract_runs", "connection_credentials")
    ),
    _Step(3, "sync: link bases, write plans, write intents, conflicts, match reviews", _step_3),
    _Step(4, "sync plan headers: when, mapping, counts", _create("sync_plans")),
)


def legacy_migrate(engine: sa.Engine, release: int) -> list[int]:
    """What release `release`'s runner did when a store opened: the steps it knew and the store had not recorded, in
    one transaction under the same lock (SQLite BEGIN IMMEDIATE, PostgreSQL advisory lock 0x43525357)."""
    metadata = legacy_metadata(release)
    versions = metadata.tables["schema_migrations"]
    with engine.connect() as conn:
        conn.info["begin_immediate"] = True
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": 0x43525357})
            metadata.create_all(conn, tables=[versions], checkfirst=True)
            done = set(conn.execute(sa.select(versions.c.version)).scalars())
            applied = []
            for step in _STEPS[:release]:
                if step.version in done:
                    continue
                step.apply(conn, metadata)
                conn.execute(
                    versions.insert().values(
                        version=step.version, description=step.description, applied_at=datetime.now(UTC)
                    )
                )
                applied.append(step.version)
            return applied
