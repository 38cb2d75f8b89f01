"""What an operator does to the queue: retry dead letters, clear finished tasks, release the
leases of workers that died."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from jobsim.clock import Clock, system_clock
from jobsim.queue.core import FAILED, QUEUED, RUNNING, SUCCEEDED, same_posting
from jobsim.queue.wakeup import notify_queued
from jobsim.storage.engine import affected_rows
from jobsim.storage.models import Task


def retry_failed(
    session: Session, task_ids: Sequence[int] | None = None, *, clock: Clock = system_clock
) -> list[int]:
    """Send dead letters back to the queue with fresh attempts (all, or the ids given);
    returns the ids retried.

    Each goes back exactly once: the update only matches a task still failed. A dead letter
    whose posting already has a queued task of its kind stays failed, since that task does
    the same work (and one posting has at most one queued task of a kind).
    """
    now = clock()
    query = select(Task.id, Task.kind, Task.posting_id).where(Task.state == FAILED)
    if task_ids is not None:
        query = query.where(Task.id.in_(list(task_ids)))
    retried: list[int] = []
    for task_id, kind, posting_id in session.execute(query.order_by(Task.id)).all():
        queued = session.scalar(
            select(Task.id).where(same_posting(kind, posting_id), Task.state == QUEUED)
        )
        if queued is not None:
            continue
        result = session.execute(
            update(Task)
            .where(Task.id == task_id, Task.state == FAILED)
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
        if affected_rows(result):
            retried.append(task_id)
    if retried:
        notify_queued(session)
    return retried


def clear_finished(session: Session, older_than: timedelta, *, clock: Clock = system_clock) -> int:
    """Delete succeeded and failed tasks that finished more than `older_than` ago."""
    before = clock() - older_than
    result = session.execute(
        delete(Task)
        .where(Task.state.in_((SUCCEEDED, FAILED)), Task.finished_at < before)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)


def release_leases_of(
    session: Session, owners: Sequence[str], *, clock: Clock = system_clock
) -> int:
    """Expire the leases dead workers held, so the next claim takes their tasks at once (the
    attempt counts as for any lost lease: only for a task its worker had claimed alone)."""
    if not owners:
        return 0
    now = clock()
    result = session.execute(
        update(Task)
        .where(
            Task.state == RUNNING,
            Task.lease_owner.in_(list(owners)),
            or_(Task.lease_expires_at.is_(None), Task.lease_expires_at > now),
        )
        .values(lease_expires_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)
