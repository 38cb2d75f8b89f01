"""The set-based writes of similar-list rows do the same on SQLite (portable statements) and
PostgreSQL (array statements): entries deleted by pair or by owner, inserted with their time,
and each list's count, floor, sequence and time recorded (a row inserted, then updated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from jobsim.storage import list_rows
from jobsim.storage.dialect import IN_LIST_SIZE
from jobsim.storage.engine import Database
from jobsim.storage.list_rows import EntryRow, StateRow
from jobsim.storage.models import ListState, SimilarEntry
from tests.reliability.conftest import create_postings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def entries(db: Database) -> set[tuple[str, str, float]]:
    with db.read() as session:
        rows = session.execute(
            select(SimilarEntry.posting_id, SimilarEntry.similar_id, SimilarEntry.score)
        )
        return {(owner, similar, round(score, 6)) for owner, similar, score in rows}


def test_entries_are_inserted_deleted_by_pair_and_by_owner(db: Database) -> None:
    a, b, c, d = create_postings(db, 4)
    rows = [
        EntryRow(a, b, 0.9, 0.8, 0.1),
        EntryRow(a, c, 0.7, 0.6, 0.1),
        EntryRow(b, a, 0.9, 0.8, 0.1),
        EntryRow(c, d, 0.5, 0.5, 0.0),
    ]
    with db.write() as session:
        list_rows.insert_entries(session, rows, NOW)
    assert entries(db) == {(r.owner, r.similar_id, r.score) for r in rows}
    with db.read() as session:
        times = set(session.scalars(select(SimilarEntry.computed_at)))
    assert times == {NOW}
    with db.write() as session:
        list_rows.delete_entries(session, [(a, c), (c, b)])  # (c, b) is not there: no error
        list_rows.delete_lists(session, [b])
    assert entries(db) == {(a, b, 0.9), (c, d, 0.5)}
    with db.write() as session:
        list_rows.delete_entries(session, [])
        list_rows.insert_entries(session, [], NOW)
    assert len(entries(db)) == 2


def test_list_states_set_counts_floors_sequence_and_time_including_no_floor_at_all(
    db: Database,
) -> None:
    a, b, c = create_postings(db, 3)
    with db.write() as session:
        list_rows.set_list_states(session, [StateRow(a, 2, None), StateRow(b, 0, None)], 7, NOW)
    with db.write() as session:
        later = [StateRow(c, 20, 0.42), StateRow(a, 3, None)]
        list_rows.set_list_states(session, later, 8, NOW + HOUR)
    with db.read() as session:
        got = {
            s.posting_id: (s.count, s.floor, s.seq, s.computed_at)
            for s in session.scalars(select(ListState))
        }
    assert got == {
        a: (3, None, 8, NOW + HOUR),
        b: (0, None, 7, NOW),
        c: (20, 0.42, 8, NOW + HOUR),
    }


def test_the_lists_of_more_owners_than_one_in_list_holds_are_all_deleted(db: Database) -> None:
    owners = create_postings(db, IN_LIST_SIZE * 2 + 1)
    target = owners[0]
    rows = [EntryRow(owner, target, 0.5, 0.5, 0.0) for owner in owners[1:]]
    with db.write() as session:
        list_rows.insert_entries(session, rows, NOW)
        list_rows.insert_entries(session, [EntryRow(target, owners[1], 0.5, 0.5, 0.0)], NOW)
    with db.write() as session:
        list_rows.delete_lists(session, owners[1:])  # three IN lists on SQLite, one array on PG
    assert entries(db) == {(target, owners[1], 0.5)}
