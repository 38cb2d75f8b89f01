"""The "listed" rule has one home (jobsim.postings.listed) written twice, as SQL and in memory;
the worker's index keeps it as arrays. On the same postings all three must agree."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
from sqlalchemy import select

from jobsim.index_copy import meta_of
from jobsim.postings.listed import active_clause, is_active, is_listed, listed_clause
from jobsim.similarity import VectorIndex
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.storage.types import utcnow


def every_kind_of_posting(db: Database) -> list[str]:
    """One posting per combination of status, deletion and expiry (past, future, none)."""
    now = utcnow()
    expiries = {"past": now - timedelta(hours=1), "future": now + timedelta(days=3), "none": None}
    ids = []
    with db.write() as session:
        for status, deleted, expiry in itertools.product(
            ("active", "closed", "draft"), (False, True), expiries
        ):
            posting_id = f"{status}-{'deleted' if deleted else 'kept'}-{expiry}"
            session.add(
                Posting(
                    id=posting_id,
                    title="Line Cook",
                    description="Prepare dishes on the grill station every evening.",
                    status=status,
                    is_deleted=deleted,
                    expires_at=expiries[expiry],
                    content_hash="x",
                    created_at=now,
                    updated_at=now,
                )
            )
            ids.append(posting_id)
    return ids


def test_the_sql_clause_and_the_in_memory_rule_agree_on_every_kind_of_posting(
    db: Database,
) -> None:
    ids = every_kind_of_posting(db)
    now = utcnow()
    with db.read() as session:
        in_sql = set(session.scalars(select(Posting.id).where(listed_clause(now))))
        active_in_sql = set(session.scalars(select(Posting.id).where(active_clause())))
        postings = list(session.scalars(select(Posting)))
    in_memory = {p.id for p in postings if is_listed(p, now)}
    active_in_memory = {p.id for p in postings if is_active(p)}

    assert in_sql == in_memory == {"active-kept-future", "active-kept-none"}
    assert active_in_sql == active_in_memory == {*in_memory, "active-kept-past"}
    assert len(postings) == len(ids)


def test_the_vector_index_lists_exactly_the_postings_the_rule_lists(db: Database) -> None:
    every_kind_of_posting(db)
    now = utcnow()
    with db.read() as session:
        postings = list(session.scalars(select(Posting)))
    index = VectorIndex(dims=2)
    for posting in postings:
        index.upsert(posting.id, np.array([1.0, 0.0], dtype=np.float32), meta_of(posting))

    candidates = {index.ids[row] for row in np.flatnonzero(index.candidates(now))}
    by_meta = {p.id for p in postings if index.meta(p.id).listed_at(now)}

    assert candidates == by_meta == {p.id for p in postings if is_listed(p, now)}
