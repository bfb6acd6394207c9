"""sync: link bases, write plans, write intents, conflicts, match reviews

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINK_COLUMNS = ("sync", "base_left", "base_right", "matched_by", "created_at")


def upgrade() -> None:
    # Batch mode: plain ALTER TABLE ADD COLUMN on both databases (SQLite supports adding a nullable column).
    with op.batch_alter_table("id_crosswalk") as batch:
        batch.add_column(sa.Column("sync", sa.String(32)))
        batch.add_column(sa.Column("base_left", sa.Text))
        batch.add_column(sa.Column("base_right", sa.Text))
        batch.add_column(sa.Column("matched_by", sa.String(255)))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True)))
    op.create_table(
        "plan_items",
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
    op.create_table(
        "write_intents",
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
    op.create_index("ix_write_intents_state", "write_intents", ["state", "target_system"])
    op.create_table(
        "sync_conflicts",
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
    op.create_table(
        "match_reviews",
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


def downgrade() -> None:
    for table in ("match_reviews", "sync_conflicts", "write_intents", "plan_items"):
        op.drop_table(table)
    # On SQLite, batch mode copies the table without the columns (SQLite's DROP COLUMN has limits batch mode avoids).
    with op.batch_alter_table("id_crosswalk") as batch:
        for column in reversed(_LINK_COLUMNS):
            batch.drop_column(column)
