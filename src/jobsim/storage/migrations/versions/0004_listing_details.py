"""listing details: fields one listing type has (a business's street, phone, website), and when
a task's latest attempt started

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobsim.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postings") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.create_index("ix_postings_listing_type", ["listing_type"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("started_at", jobsim.storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("started_at")
    with op.batch_alter_table("postings") as batch:
        batch.drop_index("ix_postings_listing_type")
        batch.drop_column("details")
