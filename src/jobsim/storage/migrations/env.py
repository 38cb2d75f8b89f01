"""Alembic environment: runs against the connection jobsim.storage.migrate hands over."""

from __future__ import annotations

from alembic import context

from jobsim.storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `jobsim db upgrade` (jobsim.storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
