"""links: each side's identity values when the pair was last found in sync

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
    with op.batch_alter_table("id_crosswalk") as batch:
        batch.add_column(sa.Column("left_identity", sa.Text))
        batch.add_column(sa.Column("right_identity", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("id_crosswalk") as batch:
        batch.drop_column("right_identity")
        batch.drop_column("left_identity")
