"""operations: worker batch and counters, runtime settings, alert states

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobsim.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(
            sa.Column("current_batch", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("metrics", sa.JSON(), nullable=True))
    op.create_table(
        "runtime_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", jobsim.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_runtime_settings")),
    )
    op.create_table(
        "alerts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("changed_at", jobsim.storage.types.UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alerts")),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("runtime_settings")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("metrics")
        batch.drop_column("current_batch")
