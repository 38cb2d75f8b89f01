"""vectors stored out of line without compression on PostgreSQL (STORAGE EXTERNAL)

A vector is float32 bytes (5 KB at 1,280 dimensions), which pglz cannot shrink; under the
default EXTENDED storage the server tried to compress every vector it stored. Inserting a
batch of 128 dense vectors took 6.9 ms with the attempt and 3.8 ms without (and 30 ms against
6 ms for sparse ones, which it does compress). Only vectors written from now on are affected.
SQLite never compresses: nothing to do there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 04:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _set_vector_storage("EXTERNAL")


def downgrade() -> None:
    _set_vector_storage("EXTENDED")


def _set_vector_storage(storage: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE embeddings ALTER COLUMN vector SET STORAGE {storage}")
