"""postings edited since they were created, by update time: a partial covering index, so a
worker's catch-up with closed, moved or deleted postings reads the few edited rows instead of
every posting updated in its look-back window (all of a fresh import)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_postings_edited",
        "postings",
        ["updated_at", "version", "id"],
        sqlite_where=sa.text("version > 1"),
        postgresql_where=sa.text("version > 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_postings_edited", table_name="postings")
