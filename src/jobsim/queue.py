"""The task queue: every statement that touches the tasks table lives here.

States: queued -> running -> succeeded | failed (failed = dead letter). At most one *queued*
task exists per (kind, posting): enqueueing again coalesces into it. A claim takes a batch
with a lease (owner, token, expiry) in one statement; heartbeats extend the lease; a task
whose lease expired is claimed again by the next claim. Every state change a worker makes is
fenced by its lease token, so a worker that lost its lease changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jobsim.errors import sanitize
from jobsim.retry import RetryDecision
from jobsim.storage.engine import Database, affected_rows
from jobsim.storage.models import Task
from jobsim.storage.types import utcnow

EMBED = "embed"
SIMILAR = "similar"
KINDS = (EMBED, SIMILAR)

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED)

PRIORITY_NEW = 10
PRIORITY_REFRESH = 5
PRIORITY_BACKFILL = 0

_QUEUED_ONLY = text("state = 'queued'")
_ENQUEUE_CHUNK = 500


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    kind: str
    posting_id: str
    attempts: int
    max_attempts: int
    trace_id: str | None
    token: str


# --- enqueue -------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(Task) if dialect == "postgresql" else sqlite.insert(Task)


def enqueue(
    session: Session,
    kind: str,
    posting_id: str,
    *,
    priority: int = PRIORITY_NEW,
    max_attempts: int = 5,
    trace_id: str | None = None,
) -> None:
    """Queue `kind` for a posting inside the caller's transaction (coalescing)."""
    enqueue_many(
        session, kind, [posting_id], priority=priority, max_attempts=max_attempts, trace_id=trace_id
    )


def enqueue_many(
    session: Session,
    kind: str,
    posting_ids: Iterable[str],
    *,
    priority: int = PRIORITY_NEW,
    max_attempts: int = 5,
    trace_id: str | None = None,
) -> None:
    """Queue many postings at once; an existing queued task keeps its place but takes the
    higher priority, the earlier run time and the newest trace id."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    now = utcnow()
    ids = list(dict.fromkeys(posting_ids))
    for start in range(0, len(ids), _ENQUEUE_CHUNK):
        rows = [
            {
                "kind": kind,
                "posting_id": posting_id,
                "state": QUEUED,
                "priority": priority,
                "attempts": 0,
                "max_attempts": max_attempts,
                "run_after": now,
                "trace_id": trace_id,
                "created_at": now,
                "updated_at": now,
            }
            for posting_id in ids[start : start + _ENQUEUE_CHUNK]
        ]
        statement = _insert(session).values(rows)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[Task.kind, Task.posting_id],
            index_where=_QUEUED_ONLY,
            set_={
                "priority": func.max(Task.priority, excluded.priority)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(Task.priority, excluded.priority),
                "run_after": excluded.run_after,
                "trace_id": func.coalesce(excluded.trace_id, Task.trace_id),
                "updated_at": excluded.updated_at,
            },
        )
        session.execute(statement)


def cancel_queued(session: Session, kind: str, posting_id: str) -> int:
    """Drop a posting's queued task of `kind` (e.g. an embed of a posting just deleted)."""
    result = session.execute(
        delete(Task).where(Task.kind == kind, Task.posting_id == posting_id, Task.state == QUEUED)
    )
    return affected_rows(result)


# --- claim, heartbeat, complete --------------------------------------------------------------


def claim(
    db: Database,
    worker_id: str,
    *,
    kinds: Sequence[str] = KINDS,
    limit: int = 32,
    lease_seconds: float = 120.0,
) -> list[ClaimedTask]:
    """Lease up to `limit` runnable tasks (queued and due, or running with an expired lease).

    One UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING statement: PostgreSQL skips rows
    other claimers hold (FOR UPDATE SKIP LOCKED); SQLite runs it under BEGIN IMMEDIATE.
    """
    token = uuid.uuid4().hex
    now = utcnow()
    with db.write() as session:
        _dead_letter_expired_leases(session, now)
        runnable = (
            select(Task.id)
            .where(Task.kind.in_(list(kinds)))
            .where(
                or_(
                    and_(Task.state == QUEUED, Task.run_after <= now),
                    and_(Task.state == RUNNING, Task.lease_expires_at < now),
                )
            )
            .order_by(Task.priority.desc(), Task.run_after, Task.id)
            .limit(limit)
        )
        if not db.is_sqlite:
            runnable = runnable.with_for_update(skip_locked=True)
        statement = (
            update(Task)
            .where(Task.id.in_(runnable.scalar_subquery()))
            .values(
                state=RUNNING,
                lease_owner=worker_id,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Task.attempts + 1,
                updated_at=now,
            )
            .returning(
                Task.id, Task.kind, Task.posting_id, Task.attempts, Task.max_attempts, Task.trace_id
            )
        )
        rows = session.execute(statement.execution_options(synchronize_session=False)).all()
    tasks = [
        ClaimedTask(r.id, r.kind, r.posting_id, r.attempts, r.max_attempts, r.trace_id, token)
        for r in rows
    ]
    return sorted(tasks, key=lambda task: task.id)


def _dead_letter_expired_leases(session: Session, now: datetime) -> None:
    """A task whose lease ran out on its last attempt (its worker died each time) is failed."""
    session.execute(
        update(Task)
        .where(
            Task.state == RUNNING, Task.lease_expires_at < now, Task.attempts >= Task.max_attempts
        )
        .values(
            state=FAILED,
            finished_at=now,
            updated_at=now,
            lease_expires_at=None,
            last_error="lease expired on the last attempt (worker lost or too slow)",
        )
        .execution_options(synchronize_session=False)
    )


def heartbeat(db: Database, token: str, lease_seconds: float) -> int:
    """Extend the lease of every task still held under `token`; returns how many."""
    now = utcnow()
    with db.write() as session:
        result = session.execute(
            update(Task)
            .where(Task.lease_token == token, Task.state == RUNNING)
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return affected_rows(result)


def still_held(session: Session, token: str, task_ids: Iterable[int]) -> set[int]:
    """The tasks of `task_ids` this token still holds, locked for the rest of the transaction
    on PostgreSQL so no claimer can take them before we complete them."""
    query = select(Task.id).where(
        Task.id.in_(list(task_ids)), Task.lease_token == token, Task.state == RUNNING
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def complete(session: Session, token: str, task_ids: Iterable[int]) -> set[int]:
    """Mark tasks succeeded, fenced by the lease token; returns the ids actually completed."""
    now = utcnow()
    result = session.execute(
        update(Task)
        .where(Task.id.in_(list(task_ids)), Task.lease_token == token, Task.state == RUNNING)
        .values(state=SUCCEEDED, finished_at=now, updated_at=now, lease_expires_at=None)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def settle_failure(
    session: Session, token: str, task_id: int, decision: RetryDecision, error: str
) -> str | None:
    """Apply a RetryDecision to a failed attempt; returns the new state, None if not held."""
    now = utcnow()
    message = sanitize(error)
    if decision.action == "fail":
        result = session.execute(
            update(Task)
            .where(Task.id == task_id, Task.lease_token == token, Task.state == RUNNING)
            .values(
                state=FAILED,
                last_error=message,
                finished_at=now,
                updated_at=now,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return FAILED if affected_rows(result) else None
    run_after = now + timedelta(seconds=decision.delay_seconds)
    refund = 1 if decision.action == "delay" else 0
    return _requeue(session, token, task_id, run_after=run_after, refund=refund, error=message)


def release(session: Session, token: str, task_ids: Iterable[int]) -> int:
    """Give tasks back unfinished (graceful shutdown); the attempt is not counted."""
    now = utcnow()
    released = 0
    for task_id in task_ids:
        if _requeue(session, token, task_id, run_after=now, refund=1, error=None):
            released += 1
    return released


def _requeue(
    session: Session,
    token: str,
    task_id: int,
    *,
    run_after: datetime,
    refund: int,
    error: str | None,
) -> str | None:
    task = session.execute(
        select(Task.kind, Task.posting_id).where(
            Task.id == task_id, Task.lease_token == token, Task.state == RUNNING
        )
    ).first()
    if task is None:
        return None
    now = utcnow()
    sibling = session.scalar(
        select(Task.id).where(
            Task.kind == task.kind, Task.posting_id == task.posting_id, Task.state == QUEUED
        )
    )
    if sibling is not None:
        # A newer queued task already covers this posting; it carries the work forward.
        session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(
                state=SUCCEEDED,
                finished_at=now,
                updated_at=now,
                lease_expires_at=None,
                last_error=f"superseded by queued task {sibling}",
            )
            .execution_options(synchronize_session=False)
        )
        return SUCCEEDED
    session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(
            state=QUEUED,
            run_after=run_after,
            attempts=Task.attempts - refund,
            lease_owner=None,
            lease_token=None,
            lease_expires_at=None,
            updated_at=now,
            last_error=error if error is not None else Task.last_error,
        )
        .execution_options(synchronize_session=False)
    )
    return QUEUED


# --- operations ------------------------------------------------------------------------------


def counts(session: Session) -> dict[str, dict[str, int]]:
    """{kind: {state: count}} with every kind and state present."""
    table = {kind: dict.fromkeys(STATES, 0) for kind in KINDS}
    rows = session.execute(
        select(Task.kind, Task.state, func.count()).group_by(Task.kind, Task.state)
    )
    for kind, state, count in rows:
        table.setdefault(kind, dict.fromkeys(STATES, 0))[state] = int(count)
    return table


def oldest_queued_age_seconds(session: Session) -> float | None:
    oldest = session.scalar(select(func.min(Task.created_at)).where(Task.state == QUEUED))
    return None if oldest is None else max((utcnow() - _aware(oldest)).total_seconds(), 0.0)


def _aware(value: datetime) -> datetime:
    # func.min() bypasses the column type on SQLite and may hand back a naive value or a string.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def list_tasks(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Task]:
    query = select(Task).order_by(Task.id.desc()).limit(limit).offset(offset)
    if state:
        query = query.where(Task.state == state)
    if kind:
        query = query.where(Task.kind == kind)
    return list(session.scalars(query))


def tasks_for_posting(session: Session, posting_id: str) -> list[Task]:
    return list(
        session.scalars(
            select(Task).where(Task.posting_id == posting_id).order_by(Task.id.desc()).limit(20)
        )
    )


def retry_failed(session: Session, task_ids: Sequence[int] | None = None) -> int:
    """Send dead letters back to the queue with fresh attempts (all, or the ids given).

    A dead letter whose posting already has a queued task of its kind stays failed: the queued
    task does the same work.
    """
    now = utcnow()
    query = select(Task.id, Task.kind, Task.posting_id).where(Task.state == FAILED)
    if task_ids is not None:
        query = query.where(Task.id.in_(list(task_ids)))
    retried = 0
    for task_id, kind, posting_id in session.execute(query).all():
        queued = session.scalar(
            select(Task.id).where(
                Task.kind == kind, Task.posting_id == posting_id, Task.state == QUEUED
            )
        )
        if queued is not None:
            continue
        session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(
                state=QUEUED,
                attempts=0,
                run_after=now,
                finished_at=None,
                updated_at=now,
                lease_owner=None,
                lease_token=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        retried += 1
    return retried


def prune(
    session: Session, *, succeeded_older_than: timedelta, failed_older_than: timedelta
) -> int:
    """Delete finished tasks: succeeded ones after a day, dead letters after a week (defaults)."""
    now = utcnow()
    result = session.execute(
        delete(Task)
        .where(
            or_(
                and_(Task.state == SUCCEEDED, Task.finished_at < now - succeeded_older_than),
                and_(Task.state == FAILED, Task.finished_at < now - failed_older_than),
            )
        )
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)
