"""The "listed" rule: may a posting appear in similar lists right now?

A posting is listed when it is active (not closed, not a draft), not deleted and not expired.
The rule is written here twice, side by side, as an SQL clause and as a test on a loaded row;
tests/integration/test_listed.py checks that the two agree. The worker's in-memory index keeps
the same rule as arrays (`PostingMeta.listed_at`, `VectorIndex.candidates`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement

from jobsim.storage.models import Posting

ACTIVE = "active"


def active_clause() -> ColumnElement[bool]:
    """SQL: active and not deleted (listed, before looking at the clock)."""
    return and_(Posting.status == ACTIVE, Posting.is_deleted.is_(False))


def unexpired_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: no expiry, or one after `now`."""
    return or_(Posting.expires_at.is_(None), Posting.expires_at > now)


def listed_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: listed at `now`."""
    return and_(active_clause(), unexpired_clause(now))


def is_active(posting: Posting) -> bool:
    """In memory: active and not deleted (listed, before looking at the clock)."""
    return posting.status == ACTIVE and not posting.is_deleted


def is_unexpired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


def is_listed(posting: Posting, now: datetime) -> bool:
    """In memory: listed at `now`."""
    return is_active(posting) and is_unexpired(posting.expires_at, now)
