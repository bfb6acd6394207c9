"""staging tables: raw records, canonical records, quarantine, id crosswalk, watermarks, sync log

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Schema version 1 of the hand-written runner. Tables are spelled out as they were then (not read from schema.py), so
replaying the history always builds the same database whatever schema.py says later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "raw_records",
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("replication_stamp", sa.String(64)),
        sa.Column("replicated_at", sa.DateTime(timezone=True)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("first_seen_run", sa.String(64)),
        sa.Column("last_seen_run", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_raw_records_stream_deleted", "raw_records", ["system", "object", "deleted"])
    op.create_table(
        "canonical_records",
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("source_system", sa.String(32), primary_key=True),
        sa.Column("source_key", sa.String(255), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("mapping_version", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quarantine",
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
    op.create_index("ix_quarantine_record", "quarantine", ["system", "object", "record_key"])
    # The link table before the sync engine: revision 0003 adds its sync, bases, matched_by and created_at.
    op.create_table(
        "id_crosswalk",
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
        sa.UniqueConstraint("entity", "left_system", "left_key", name="uq_id_crosswalk_left"),
        sa.UniqueConstraint("entity", "right_system", "right_key", name="uq_id_crosswalk_right"),
    )
    op.create_table(
        "watermarks",
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(64)),
        sa.Column("last_key_scan_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sync_log",
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
    op.create_index("ix_sync_log_run", "sync_log", ["run_id"])


def downgrade() -> None:
    for table in ("sync_log", "watermarks", "id_crosswalk", "quarantine", "canonical_records", "raw_records"):
        op.drop_table(table)  # their indexes go with them
