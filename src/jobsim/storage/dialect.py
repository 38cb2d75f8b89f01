"""What differs between the two databases, asked of a session: the one home of the dialect
test, of the INSERT that can say what to do on a conflict (each dialect has its own), and of
the size of an `IN (...)` list both take."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")
# Values per IN (...) list: well under SQLite's 32,766 variables a statement.
IN_LIST_SIZE = 500


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def upsert_insert(session: Session, model: Any) -> Any:
    """INSERT INTO `model` in this session's dialect: it has `on_conflict_do_update` and
    `on_conflict_do_nothing` (and `excluded`), which the portable INSERT lacks."""
    return postgresql.insert(model) if is_postgresql(session) else sqlite.insert(model)


def in_lists(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices of at most IN_LIST_SIZE, one statement's IN list each."""
    for start in range(0, len(values), IN_LIST_SIZE):
        yield values[start : start + IN_LIST_SIZE]
