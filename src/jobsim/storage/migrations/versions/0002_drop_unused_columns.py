"""drop columns nothing writes: postings.extra, workers.last_error

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postings") as batch:
        batch.drop_column("extra")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("last_error")


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    with op.batch_alter_table("postings") as batch:
        batch.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))
