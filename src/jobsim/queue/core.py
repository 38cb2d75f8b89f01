"""Running tasks: the states, enqueueing, and the end of an attempt (heartbeat, complete,
retry, release); the claim that starts one is jobsim.queue.claim.

States: queued -> running -> succeeded | failed (failed = dead letter). At most one *queued*
task exists per (kind, posting): enqueueing again coalesces into it. A claim takes a batch
with a lease (owner, token, expiry) in one statement; heartbeats extend the lease; a task
whose lease expired is claimed again by the next claim. Every state change a worker makes is
fenced by its lease token, so a worker that lost its lease changes nothing.

Every function that reads the time takes a `clock` (jobsim.clock), so tests can move time on
instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast, get_args

from sqlalchemy import ColumnElement, Table, and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from jobsim import metrics
from jobsim.clock import Clock, system_clock
from jobsim.errors import sanitize
from jobsim.queue.wakeup import notify_queued
from jobsim.retry import RetryDecision
from jobsim.storage.dialect import is_postgresql, is_sqlite, upsert_insert
from jobsim.storage.engine import Database, affected_rows
from jobsim.storage.models import Task

Kind = Literal["embed", "reembed", "similar"]
EMBED: Kind = "embed"
REEMBED: Kind = "reembed"  # embed even when a vector for the same text exists (operator's choice)
SIMILAR: Kind = "similar"
KINDS: tuple[Kind, ...] = get_args(Kind)

State = Literal["queued", "running", "succeeded", "failed"]
QUEUED: State = "queued"
RUNNING: State = "running"
SUCCEEDED: State = "succeeded"
FAILED: State = "failed"
STATES: tuple[State, ...] = get_args(State)
PENDING = (QUEUED, RUNNING)
_FINAL = (SUCCEEDED, FAILED)

PRIORITY_NEW = 10
PRIORITY_REFRESH = 5
PRIORITY_BACKFILL = 0

_QUEUED_ONLY = text("state = 'queued'")
_TASKS = cast(Table, Task.__table__)


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    kind: str
    posting_id: str
    attempts: int
    max_attempts: int
    trace_id: str | None
    token: str


def same_posting(kind: str, posting_id: str) -> ColumnElement[bool]:
    return and_(Task.kind == kind, Task.posting_id == posting_id)


def held_by(token: str) -> ColumnElement[bool]:
    """The fence: a running task whose lease this token still holds."""
    return and_(Task.lease_token == token, Task.state == RUNNING)


# --- enqueue -------------------------------------------------------------------------------


def enqueue(
    session: Session,
    kind: str,
    posting_id: str,
    *,
    priority: int = PRIORITY_NEW,
    max_attempts: int = 5,
    trace_id: str | None = None,
    clock: Clock = system_clock,
) -> None:
    """Queue `kind` for a posting inside the caller's transaction (coalescing)."""
    enqueue_many(
        session,
        kind,
        [posting_id],
        priority=priority,
        max_attempts=max_attempts,
        trace_id=trace_id,
        clock=clock,
    )


def enqueue_many(
    session: Session,
    kind: str,
    posting_ids: Iterable[str],
    *,
    priority: int = PRIORITY_NEW,
    max_attempts: int = 5,
    trace_id: str | None = None,
    clock: Clock = system_clock,
) -> None:
    """Queue many postings at once; an existing queued task keeps its place but takes the
    higher priority, the earlier run time and the newest trace id."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    now = clock()
    ids = list(dict.fromkeys(posting_ids))
    if not ids:
        return
    statement = upsert_insert(session, _TASKS)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[_TASKS.c.kind, _TASKS.c.posting_id],
        index_where=_QUEUED_ONLY,
        set_={
            "priority": func.max(_TASKS.c.priority, excluded.priority)
            if is_sqlite(session)
            else func.greatest(_TASKS.c.priority, excluded.priority),
            "run_after": excluded.run_after,
            "trace_id": func.coalesce(excluded.trace_id, _TASKS.c.trace_id),
            "updated_at": excluded.updated_at,
        },
    )
    row = {
        "kind": kind,
        "state": QUEUED,
        "priority": priority,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now,
        "trace_id": trace_id,
        "created_at": now,
        "updated_at": now,
    }
    # One statement, compiled once and cached, run for every row (a multi-row VALUES list is
    # a new statement to compile for each chunk).
    session.connection().execute(statement, [{**row, "posting_id": pid} for pid in ids])
    notify_queued(session)
    metrics.inc(metrics.TASKS_ENQUEUED, len(ids), kind=kind)


def cancel_queued(session: Session, kind: str, posting_id: str) -> int:
    """Drop a posting's queued task of `kind` (e.g. an embed of a posting just deleted)."""
    result = session.execute(
        delete(Task).where(same_posting(kind, posting_id), Task.state == QUEUED)
    )
    return affected_rows(result)


def has_pending(session: Session, kind: str, posting_id: str) -> bool:
    """Whether a task of `kind` for this posting is queued or running."""
    pending = select(Task.id).where(same_posting(kind, posting_id), Task.state.in_(PENDING))
    return session.scalar(pending.limit(1)) is not None


# --- heartbeat, complete, retry, release -------------------------------------------------


def heartbeat(
    db: Database, token: str, lease_seconds: float, *, clock: Clock = system_clock
) -> int:
    """Extend the lease of every task still held under `token`; returns how many."""
    now = clock()
    with db.write() as session:
        result = session.execute(
            update(Task)
            .where(held_by(token))
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return affected_rows(result)


def still_held(session: Session, token: str, task_ids: Iterable[int]) -> set[int]:
    """The tasks of `task_ids` this token still holds, locked for the rest of the transaction
    on PostgreSQL so no claimer can take them before we complete them."""
    query = select(Task.id).where(Task.id.in_(list(task_ids)), held_by(token))
    if is_postgresql(session):
        query = query.with_for_update()
    return set(session.scalars(query))


def complete(
    session: Session, token: str, task_ids: Iterable[int], *, clock: Clock = system_clock
) -> set[int]:
    """Mark tasks succeeded, fenced by the lease token; returns the ids actually completed."""
    held = and_(Task.id.in_(list(task_ids)), held_by(token))
    return finish_attempt(session, held, state=SUCCEEDED, now=clock())


def settle_failure(
    session: Session,
    token: str,
    task_id: int,
    decision: RetryDecision,
    error: str,
    *,
    clock: Clock = system_clock,
) -> str | None:
    """Apply a RetryDecision to a failed attempt; returns the new state, None if not held."""
    now = clock()
    message = sanitize(error)
    if decision.action == "fail":
        held = and_(Task.id == task_id, held_by(token))
        failed = finish_attempt(session, held, state=FAILED, now=now, last_error=message)
        return FAILED if failed else None
    run_after = now + timedelta(seconds=decision.delay_seconds)
    refund = 1 if decision.action == "delay" else 0
    return _requeue(
        session, token, task_id, now=now, run_after=run_after, refund=refund, error=message
    )


def release(
    session: Session, token: str, task_ids: Iterable[int], *, clock: Clock = system_clock
) -> int:
    """Give tasks back unfinished (graceful shutdown); the attempt is not counted."""
    now = clock()
    released = 0
    for task_id in task_ids:
        if _requeue(session, token, task_id, now=now, run_after=now, refund=1, error=None):
            released += 1
    if released:
        notify_queued(session)  # another worker can take them now
    return released


def _requeue(
    session: Session,
    token: str,
    task_id: int,
    *,
    now: datetime,
    run_after: datetime,
    refund: int,
    error: str | None,
) -> str | None:
    """Put a held task back in the queue, or retire it when a queued sibling covers its posting."""
    # Fenced again in the updates: on PostgreSQL a claimer may take the task between the two.
    held = and_(Task.id == task_id, held_by(token))
    task = session.execute(select(Task.kind, Task.posting_id).where(held)).first()
    if task is None:
        return None
    sibling = session.scalar(
        select(Task.id).where(same_posting(task.kind, task.posting_id), Task.state == QUEUED)
    )
    if sibling is not None:
        # A newer queued task already covers this posting; it carries the work forward.
        superseded = f"superseded by queued task {sibling}"
        retired = finish_attempt(session, held, state=SUCCEEDED, now=now, last_error=superseded)
        return SUCCEEDED if retired else None
    requeued = finish_attempt(
        session,
        held,
        state=QUEUED,
        now=now,
        run_after=run_after,
        attempts=Task.attempts - refund,
        lease_owner=None,
        lease_token=None,
        last_error=error if error is not None else Task.last_error,
    )
    return QUEUED if requeued else None


def finish_attempt(
    session: Session, *where: ColumnElement[bool], state: str, now: datetime, **values: Any
) -> set[int]:
    """End the current attempt of the tasks matching `where`: move them to `state` (stamping
    finished_at when it is final), drop the lease expiry and set `values`; returns their ids."""
    finished = {"finished_at": now} if state in _FINAL else {}
    result = session.execute(
        update(Task)
        .where(*where)
        .values(state=state, updated_at=now, lease_expires_at=None, **finished, **values)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def prune(
    session: Session,
    *,
    succeeded_older_than: timedelta,
    failed_older_than: timedelta,
    clock: Clock = system_clock,
) -> int:
    """Delete finished tasks: succeeded ones after a day, dead letters after a week (defaults)."""
    now = clock()
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
