"""The task queue: every statement that touches the tasks table lives here.

States: queued -> running -> succeeded | failed (failed = dead letter). At most one *queued*
task exists per (kind, posting): enqueueing again coalesces into it. A claim takes a batch
with a lease (owner, token, expiry) in one statement; heartbeats extend the lease; a task
whose lease expired is claimed again by the next claim. Every state change a worker makes is
fenced by its lease token, so a worker that lost its lease changes nothing.

Every function that reads the time takes a `clock` (jobsim.clock), so tests can move time on
instead of sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast, get_args

from sqlalchemy import ColumnElement, Table, and_, case, delete, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from jobsim import metrics
from jobsim.clock import Clock, system_clock
from jobsim.errors import sanitize
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
_PENDING = (QUEUED, RUNNING)
_FINAL = (SUCCEEDED, FAILED)

PRIORITY_NEW = 10
PRIORITY_REFRESH = 5
PRIORITY_BACKFILL = 0

_QUEUED_ONLY = text("state = 'queued'")
_TASKS = cast(Table, Task.__table__)
LEASE_LOST = "lease expired: its worker was lost or too slow; claimed again"
SUPERSEDED_ORPHAN = "superseded: its lease expired and a newer task of its posting is pending"
# The end of the lease token of a claim that took more than one task (see `claim`).
BATCH = ".batch"
_PRIORITY_LEVELS = 8  # a claim looks at most this many priority levels (jobsim uses three)


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


def _claimed_alone() -> ColumnElement[bool]:
    """The task's current (or last) lease was not taken by a claim of a batch (a token without
    the BATCH mark, including one written before the mark existed, counts as alone)."""
    return ~Task.lease_token.like(f"%{BATCH}")


def _held_by(token: str) -> ColumnElement[bool]:
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
    metrics.inc(metrics.TASKS_ENQUEUED, len(ids), kind=kind)


def cancel_queued(session: Session, kind: str, posting_id: str) -> int:
    """Drop a posting's queued task of `kind` (e.g. an embed of a posting just deleted)."""
    result = session.execute(
        delete(Task).where(same_posting(kind, posting_id), Task.state == QUEUED)
    )
    return affected_rows(result)


def has_pending(session: Session, kind: str, posting_id: str) -> bool:
    """Whether a task of `kind` for this posting is queued or running."""
    pending = select(Task.id).where(same_posting(kind, posting_id), Task.state.in_(_PENDING))
    return session.scalar(pending.limit(1)) is not None


# --- claim, heartbeat, complete --------------------------------------------------------------


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
            newer.state.in_(_PENDING),
        )
        .exists()
    )
    _finish(
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
    _finish(
        session,
        Task.state == RUNNING,
        Task.lease_expires_at < now,
        Task.attempts >= Task.max_attempts,
        _claimed_alone(),
        state=FAILED,
        now=now,
        last_error="lease expired on the last attempt (worker lost or too slow)",
    )


def heartbeat(
    db: Database, token: str, lease_seconds: float, *, clock: Clock = system_clock
) -> int:
    """Extend the lease of every task still held under `token`; returns how many."""
    now = clock()
    with db.write() as session:
        result = session.execute(
            update(Task)
            .where(_held_by(token))
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return affected_rows(result)


def still_held(session: Session, token: str, task_ids: Iterable[int]) -> set[int]:
    """The tasks of `task_ids` this token still holds, locked for the rest of the transaction
    on PostgreSQL so no claimer can take them before we complete them."""
    query = select(Task.id).where(Task.id.in_(list(task_ids)), _held_by(token))
    if is_postgresql(session):
        query = query.with_for_update()
    return set(session.scalars(query))


def complete(
    session: Session, token: str, task_ids: Iterable[int], *, clock: Clock = system_clock
) -> set[int]:
    """Mark tasks succeeded, fenced by the lease token; returns the ids actually completed."""
    held = and_(Task.id.in_(list(task_ids)), _held_by(token))
    return _finish(session, held, state=SUCCEEDED, now=clock())


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
        held = and_(Task.id == task_id, _held_by(token))
        failed = _finish(session, held, state=FAILED, now=now, last_error=message)
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
    held = and_(Task.id == task_id, _held_by(token))
    task = session.execute(select(Task.kind, Task.posting_id).where(held)).first()
    if task is None:
        return None
    sibling = session.scalar(
        select(Task.id).where(same_posting(task.kind, task.posting_id), Task.state == QUEUED)
    )
    if sibling is not None:
        # A newer queued task already covers this posting; it carries the work forward.
        superseded = f"superseded by queued task {sibling}"
        retired = _finish(session, held, state=SUCCEEDED, now=now, last_error=superseded)
        return SUCCEEDED if retired else None
    requeued = _finish(
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


def _finish(
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
