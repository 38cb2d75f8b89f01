"""The rows of the cached similar lists, written set-based: one home for the statements that
delete entries, insert entries and record each list's state.

A batch of new postings changes a few thousand entries. On PostgreSQL each kind of change is
one statement whose values travel as arrays (`unnest`): the server plans it once and joins the
arrays to the primary key, where a row-value `IN` list of hundreds of pairs costs milliseconds
to plan and the same again to run as a bitmap OR. SQLite runs in-process, so its portable forms
(an executemany, a chunked `IN`) cost no round trips; entries go by primary key, since SQLite
scans the whole table for a row-value `IN` list.

SQLite's rows go to the driver's executemany as plain tuples: SQLAlchemy's executemany runs
each row's values through its bind processors (the time once a row), which cost more than
SQLite's own work on the row.

A list's state (count, floor, sync sequence, time) is a narrow row of list_states, not columns
of the wide posting row, which every list a new posting entered used to rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, text
from sqlalchemy.orm import Session

from jobsim.storage.dialect import in_lists, is_postgresql
from jobsim.storage.models import SimilarEntry
from jobsim.storage.types import UTCDateTime


class EntryRow(NamedTuple):
    """One entry of `owner`'s list (a tuple: a batch makes thousands, and SQLite's driver takes
    them as they are)."""

    owner: str
    similar_id: str
    score: float
    semantic: float
    context: float


class StateRow(NamedTuple):
    """How many entries (`size`) `owner`'s list holds, and its lowest score when it is full."""

    owner: str
    size: int
    floor: float | None


def delete_lists(session: Session, owners: Sequence[str]) -> None:
    """Every entry of these owners' lists."""
    if is_postgresql(session):
        if owners:
            session.execute(
                text('DELETE FROM "similar" WHERE posting_id = ANY(CAST(:owners AS varchar[]))'),
                {"owners": list(owners)},
            )
        return
    for part in in_lists(owners):
        session.execute(delete(_SIMILAR).where(_SIMILAR.c.posting_id.in_(part)))


def delete_entries(session: Session, pairs: Sequence[tuple[str, str]]) -> None:
    """The entries (owner, similar id)."""
    if not pairs:
        return
    if is_postgresql(session):
        session.execute(
            text(
                'DELETE FROM "similar" AS s USING unnest(CAST(:owners AS varchar[]), '
                "CAST(:similar AS varchar[])) AS v(owner, similar_id) "
                "WHERE s.posting_id = v.owner AND s.similar_id = v.similar_id"
            ),
            {"owners": [o for o, _ in pairs], "similar": [s for _, s in pairs]},
        )
        return
    # One primary-key delete per pair: SQLite plans a row-value IN list as a scan of the whole
    # table (49 ms a batch at 200,000 entries, against 6 ms for these).
    session.connection().exec_driver_sql(_SQLITE_DELETE_ENTRY, list(pairs))


def insert_entries(session: Session, rows: Sequence[EntryRow], now: datetime) -> None:
    """New entries, computed at `now`."""
    if not rows:
        return
    if is_postgresql(session):
        session.execute(
            text(
                'INSERT INTO "similar" (posting_id, similar_id, score, semantic, context, '
                "computed_at) SELECT owner, similar_id, score, semantic, context, :now FROM "
                "unnest(CAST(:owners AS varchar[]), CAST(:similar AS varchar[]), "
                "CAST(:scores AS float8[]), CAST(:semantic AS float8[]), "
                "CAST(:context AS float8[])) AS v(owner, similar_id, score, semantic, context)"
            ).bindparams(_NOW),
            {
                "now": now,
                "owners": [r.owner for r in rows],
                "similar": [r.similar_id for r in rows],
                "scores": [r.score for r in rows],
                "semantic": [r.semantic for r in rows],
                "context": [r.context for r in rows],
            },
        )
        return
    at = _sqlite_time(session, now)
    session.connection().exec_driver_sql(
        _SQLITE_INSERT_ENTRY,
        [(*row, at) for row in rows],
    )


def set_list_states(
    session: Session, states: Sequence[StateRow], list_seq: int, now: datetime
) -> None:
    """Each owner's list count and floor, stamped with the sync sequence and `now`."""
    if not states:
        return
    if is_postgresql(session):
        session.execute(
            text(
                "INSERT INTO list_states (posting_id, count, floor, seq, computed_at) SELECT "
                "owner, count, floor, :seq, :now FROM unnest(CAST(:owners AS varchar[]), "
                "CAST(:counts AS integer[]), CAST(:floors AS float8[])) AS v(owner, count, floor) "
                "ON CONFLICT (posting_id) DO UPDATE SET count = excluded.count, "
                "floor = excluded.floor, seq = excluded.seq, computed_at = excluded.computed_at"
            ).bindparams(_NOW),
            {
                "seq": list_seq,
                "now": now,
                "owners": [s.owner for s in states],
                "counts": [s.size for s in states],
                "floors": [s.floor for s in states],
            },
        )
        return
    at = _sqlite_time(session, now)
    session.connection().exec_driver_sql(
        _SQLITE_SET_STATE, [(*state, list_seq, at) for state in states]
    )


def _sqlite_time(session: Session, moment: datetime) -> Any:
    """`moment` as SQLite's driver takes it in a UTCDateTime column (what a bound value of
    that column becomes)."""
    dialect = session.get_bind().dialect
    process = _NOW.type.dialect_impl(dialect).bind_processor(dialect)
    return process(moment) if process else moment


_NOW = bindparam("now", type_=UTCDateTime())
_SIMILAR = cast(Table, SimilarEntry.__table__)
_SQLITE_DELETE_ENTRY = 'DELETE FROM "similar" WHERE posting_id = ? AND similar_id = ?'
_SQLITE_INSERT_ENTRY = (
    'INSERT INTO "similar" (posting_id, similar_id, score, semantic, context, computed_at) '
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_SQLITE_SET_STATE = (
    "INSERT INTO list_states (posting_id, count, floor, seq, computed_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (posting_id) DO UPDATE SET count = excluded.count, "
    "floor = excluded.floor, seq = excluded.seq, computed_at = excluded.computed_at"
)
