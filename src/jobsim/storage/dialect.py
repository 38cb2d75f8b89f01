"""What differs between the two databases, asked of a session: the one home of the dialect
test, and of the INSERT that can say what to do on a conflict (each dialect has its own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def upsert_insert(session: Session, model: Any) -> Any:
    """INSERT INTO `model` in this session's dialect: it has `on_conflict_do_update` and
    `on_conflict_do_nothing` (and `excluded`), which the portable INSERT lacks."""
    return postgresql.insert(model) if is_postgresql(session) else sqlite.insert(model)
