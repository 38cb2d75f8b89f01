"""The claim: a worker leases a batch of runnable tasks, and the rules for tasks whose lease
expired (a lost worker, or a task that kills its worker: poison), told in `claim`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from jobsim.clock import Clock, system_clock
from jobsim.queue.core import (
    FAILED,
    KINDS,
    PENDING,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ClaimedTask,
    finish_attempt,
)
from jobsim.storage.engine import Database
from jobsim.storage.models import Task

LEASE_LOST = "lease expired: its worker was lost or too slow; claimed again"
SUPERSEDED_ORPHAN = "superseded: its lease expired and a newer task of its posting is pending"
# The end of the lease token of a claim that took more than one task (see `claim`).
BATCH = ".batch"
_PRIORITY_LEVELS = 8  # a claim looks at most this many priority levels (jobsim uses three)


def claim(
    db: Database,
    worker_id: str,
    *,
    kinds: Sequence[str] = KINDS,
    limit: int = 32,
    lease_seconds: float = 120.0,
    clock: Clock = system_clock,
) -> list[ClaimedTask]:
    """Lease up to `limit` runnable tasks: running ones whose lease expired (oldest lease
    first), then queued and due ones, highest priority first and by run time within it.

    Each step is one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING statement that walks
    an index in claim order (a priority level at a time), so a claim reads about as many rows
    as it takes, however many tasks the table holds: PostgreSQL skips rows other claimers hold
    (FOR UPDATE SKIP LOCKED); SQLite runs them all under BEGIN IMMEDIATE.

    Lost leases (the worker was killed, or froze past its lease) and poison:
    - A lost lease counts as an attempt only when the task was *claimed alone* (its claim took
      just this task, so it may be the poison that killed its process); lost as part of a
      batch, the attempt is refunded when the task is claimed again, so an innocent task whose
      batches are killed again and again never runs out of attempts. The token of a claim of
      more than one task ends in BATCH, which is how the refund rule knows later.
    - A task whose lease expired is marked when claimed again (`last_error` = LEASE_LOST). If
      its lease expires once more it is a *suspect* and is claimed alone: a task that kills its
      worker every time then takes only itself down (and its attempts count until it is
      dead-lettered), instead of its whole batch again and again.
    - Order: first-time orphans first (a batch), then, when there are none, one suspect alone,
      then the queue. A burst of suspects is worked off one per claim by every worker, but an
      ordinary orphan never waits behind it.
    - An orphan that a newer task of its posting supersedes is retired, not claimed again
      (`_retire_superseded_orphans`).
    """
    alone = uuid.uuid4().hex
    token = alone + BATCH
    now = clock()
    skip_locked = not db.is_sqlite
    rows: list[Any] = []
    with db.write() as session:
        _retire_superseded_orphans(session, now)
        _dead_letter_expired_leases(session, now)

        def take(statement: Any) -> list[Any]:
            return list(session.execute(statement.execution_options(synchronize_session=False)))

        rows += take(
            claim_statement(
                worker_id,
                token,
                now,
                priority=None,
                kinds=kinds,
                limit=limit,
                lease_seconds=lease_seconds,
                skip_locked=skip_locked,
            )
        )
        if not rows:
            suspect = claim_statement(
                worker_id,
                alone,
                now,
                priority=None,
                kinds=kinds,
                limit=1,
                lease_seconds=lease_seconds,
                skip_locked=skip_locked,
                lost_twice=True,
            )
            rows += take(suspect)
            if rows:
                return [_claimed(rows[0], alone)]
        below: int | None = None  # the priority level claimed last; the next is lower
        for _ in range(_PRIORITY_LEVELS):
            if len(rows) >= limit:
                break
            below = _top_priority(session, now, kinds, below)
            if below is None:
                break
            rows += take(
                claim_statement(
                    worker_id,
                    token,
                    now,
                    priority=below,
                    kinds=kinds,
                    limit=limit - len(rows),
                    lease_seconds=lease_seconds,
                    skip_locked=skip_locked,
                )
            )
        if len(rows) == 1:  # claimed alone after all: its lost lease will count
            token = alone
            session.execute(
                update(Task)
                .where(Task.id == rows[0].id)
                .values(lease_token=alone)
                .execution_options(synchronize_session=False)
            )
    return sorted((_claimed(row, token) for row in rows), key=lambda task: task.id)


def _claimed(row: Any, token: str) -> ClaimedTask:
    return ClaimedTask(
        row.id, row.kind, row.posting_id, row.attempts, row.max_attempts, row.trace_id, token
    )


def _top_priority(
    session: Session, now: datetime, kinds: Sequence[str], below: int | None
) -> int | None:
    """The highest priority of a due queued task (below `below`): one index probe."""
    query = select(func.max(Task.priority)).where(
        Task.state == QUEUED, Task.run_after <= now, Task.kind.in_(list(kinds))
    )
    if below is not None:
        query = query.where(Task.priority < below)
    top = session.scalar(query)
    return None if top is None else int(top)


def claim_statement(
    worker_id: str,
    token: str,
    now: datetime,
    *,
    priority: int | None,
    kinds: Sequence[str] = KINDS,
    limit: int = 32,
    lease_seconds: float = 120.0,
    skip_locked: bool = True,
    lost_twice: bool = False,
) -> Any:
    """One step of a claim: tasks whose lease expired (priority None, in the order of
    ix_tasks_lease; with `lost_twice`, only the suspects, whose lease had expired before, and
    without it only the others), or the due queued tasks of one priority level (in the order
    of ix_tasks_queued).

    A task claimed again after its lease expired gets the lost attempt back unless its lost
    lease was a claim of it alone (see `claim`)."""
    if priority is None:
        runnable = (
            select(Task.id)
            .where(Task.state == RUNNING, Task.lease_expires_at < now)
            .order_by(Task.lease_expires_at)
        )
        lost_before = Task.last_error == LEASE_LOST
        runnable = runnable.where(
            lost_before if lost_twice else or_(Task.last_error.is_(None), ~lost_before)
        )
    else:
        runnable = (
            select(Task.id)
            .where(Task.state == QUEUED, Task.priority == priority, Task.run_after <= now)
            .order_by(Task.run_after, Task.id)
        )
    runnable = runnable.where(Task.kind.in_(list(kinds))).limit(limit)
    if skip_locked:
        runnable = runnable.with_for_update(skip_locked=True)
    return (
        update(Task)
        .where(Task.id.in_(runnable.scalar_subquery()))
        .values(
            state=RUNNING,
            lease_owner=worker_id,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            # Lost as part of a batch (still running, not claimed alone): refunded.
            attempts=Task.attempts
            + case((and_(Task.state == RUNNING, ~_claimed_alone()), 0), else_=1),
            updated_at=now,
            started_at=now,
            # Still running here means its lease expired: its worker was lost (see `claim`).
            last_error=case((Task.state == RUNNING, LEASE_LOST), else_=Task.last_error),
        )
        .returning(
            Task.id, Task.kind, Task.posting_id, Task.attempts, Task.max_attempts, Task.trace_id
        )
    )


def _retire_superseded_orphans(session: Session, now: datetime) -> None:
    """A task whose lease expired while a newer task of the same kind and posting is pending
    (queued, or running) is retired instead of claimed again: the newer one was enqueued after
    the last change of the posting and does the work. Claimed again, the orphan ran beside it,
    and both embedded and stored the same version (scenario 1, scale 2: an edit while the
    first task's worker was being killed)."""
    newer = aliased(Task)
    pending_newer = (
        select(newer.id)
        .where(
            newer.kind == Task.kind,
            newer.posting_id == Task.posting_id,
            newer.id > Task.id,
            newer.state.in_(PENDING),
        )
        .exists()
    )
    finish_attempt(
        session,
        Task.state == RUNNING,
        Task.lease_expires_at < now,
        pending_newer,
        state=SUCCEEDED,
        now=now,
        last_error=SUPERSEDED_ORPHAN,
    )


def _dead_letter_expired_leases(session: Session, now: datetime) -> None:
    """A task whose lease ran out on its last attempt while it was claimed alone (it may be
    what kills its worker, see `claim`) is failed; lost in a batch, it is claimed again."""
    finish_attempt(
        session,
        Task.state == RUNNING,
        Task.lease_expires_at < now,
        Task.attempts >= Task.max_attempts,
        _claimed_alone(),
        state=FAILED,
        now=now,
        last_error="lease expired on the last attempt (worker lost or too slow)",
    )


def _claimed_alone() -> ColumnElement[bool]:
    """The task's current (or last) lease was not taken by a claim of a batch (a token without
    the BATCH mark, including one written before the mark existed, counts as alone)."""
    return ~Task.lease_token.like(f"%{BATCH}")
