"""sync plan headers: when, mapping, counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_plans",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("sync", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("mapping_hash", sa.String(64), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sync_plans_sync", "sync_plans", ["sync", "created_at"])


def downgrade() -> None:
    op.drop_table("sync_plans")
