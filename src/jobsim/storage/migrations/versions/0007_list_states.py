"""each cached list's size, lowest score, sync sequence and computed time in a narrow table of
its own (list_states) instead of four columns of the posting: a new posting entering ten lists
then writes ten small rows instead of rewriting ten wide posting rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobsim.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_states",
        sa.Column("posting_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("floor", sa.Float(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", jobsim.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["postings.id"],
            name=op.f("fk_list_states_posting_id_postings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("posting_id", name=op.f("pk_list_states")),
    )
    op.create_index("ix_list_states_seq", "list_states", ["seq"], unique=False)
    op.create_index("ix_list_states_computed_at", "list_states", ["computed_at"], unique=False)
    op.execute(
        "INSERT INTO list_states (posting_id, count, floor, seq, computed_at) "
        "SELECT id, similar_count, similar_floor, list_seq, similar_computed_at FROM postings "
        "WHERE similar_computed_at IS NOT NULL OR similar_count > 0 OR list_seq > 0"
    )
    with op.batch_alter_table("postings") as batch_op:
        batch_op.drop_index("ix_postings_list_seq")
        batch_op.drop_column("list_seq")
        batch_op.drop_column("similar_floor")
        batch_op.drop_column("similar_count")
        batch_op.drop_column("similar_computed_at")


def downgrade() -> None:
    with op.batch_alter_table("postings") as batch_op:
        batch_op.add_column(
            sa.Column(
                "similar_computed_at",
                jobsim.storage.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("similar_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("similar_floor", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("list_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index("ix_postings_list_seq", ["list_seq"], unique=False)
    op.execute(
        "UPDATE postings SET similar_count = (SELECT count FROM list_states "
        "WHERE list_states.posting_id = postings.id), similar_floor = (SELECT floor FROM "
        "list_states WHERE list_states.posting_id = postings.id), list_seq = (SELECT seq FROM "
        "list_states WHERE list_states.posting_id = postings.id), similar_computed_at = (SELECT "
        "computed_at FROM list_states WHERE list_states.posting_id = postings.id) "
        "WHERE id IN (SELECT posting_id FROM list_states)"
    )
    op.drop_index("ix_list_states_computed_at", table_name="list_states")
    op.drop_index("ix_list_states_seq", table_name="list_states")
    op.drop_table("list_states")
