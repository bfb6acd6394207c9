"""links: marks of pairs found in sync, with each side's identity values

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_identities",
        sa.Column("link_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("field", sa.String(255), primary_key=True),
        sa.Column("sync", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_index("ix_link_identities_value", "link_identities", ["sync", "entity", "system", "value"])
    op.create_index(
        "ix_id_crosswalk_marks",
        "id_crosswalk",
        ["entity", "left_system", "right_system", "id", "left_key", "right_key", "left_hash", "right_hash"],
    )


def downgrade() -> None:
    op.drop_index("ix_id_crosswalk_marks", table_name="id_crosswalk")
    op.drop_table("link_identities")
