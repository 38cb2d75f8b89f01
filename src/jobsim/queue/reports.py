"""What an operator reads about the queue: counts, ages, throughput, tasks and their errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, func, select
from sqlalchemy.orm import Session

from jobsim.clock import Clock, system_clock
from jobsim.queue.core import FAILED, KINDS, QUEUED, RUNNING, STATES, SUCCEEDED
from jobsim.storage.dialect import is_sqlite
from jobsim.storage.models import Task


def counts(session: Session) -> dict[str, dict[str, int]]:
    """{kind: {state: count}} with every kind and state present."""
    table: dict[str, dict[str, int]] = {kind: dict.fromkeys(STATES, 0) for kind in KINDS}
    rows = session.execute(
        select(Task.kind, Task.state, func.count()).group_by(Task.kind, Task.state)
    )
    for kind, state, count in rows:
        table.setdefault(kind, dict.fromkeys(STATES, 0))[state] = int(count)
    return table


def totals(counts_by_kind: dict[str, dict[str, int]]) -> dict[str, int]:
    """{state: count} over every kind, from `counts`."""
    found: dict[str, int] = dict.fromkeys(STATES, 0)
    for by_state in counts_by_kind.values():
        for state, count in by_state.items():
            found[state] = found.get(state, 0) + count
    return found


def oldest_queued_age_seconds(session: Session, *, clock: Clock = system_clock) -> float | None:
    oldest = session.scalar(select(func.min(Task.created_at)).where(Task.state == QUEUED))
    return None if oldest is None else max((clock() - _aware(oldest)).total_seconds(), 0.0)


def _aware(value: datetime) -> datetime:
    # func.min() bypasses the column type on SQLite and may hand back a naive value or a string.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MinuteCount:
    minute: datetime
    succeeded: int
    failed: int


def outcomes_since(session: Session, since: datetime) -> dict[str, int]:
    """How many tasks succeeded and failed (were dead-lettered) at or after `since`."""
    found: dict[str, int] = dict.fromkeys((SUCCEEDED, FAILED), 0)
    rows = session.execute(
        select(Task.state, func.count())
        .where(Task.state.in_((SUCCEEDED, FAILED)), Task.finished_at >= since)
        .group_by(Task.state)
    )
    for state, count in rows:
        found[state] = int(count)
    return found


def per_minute(
    session: Session, *, minutes: int = 60, clock: Clock = system_clock
) -> list[MinuteCount]:
    """Tasks finished in each of the last `minutes` minutes, oldest first, empty minutes too."""
    now = clock().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes - 1)
    bucket = _epoch_minute(session)
    rows = session.execute(
        select(bucket, Task.state, func.count())
        .where(Task.state.in_((SUCCEEDED, FAILED)), Task.finished_at >= start)
        .group_by(bucket, Task.state)
    )
    counts: dict[int, dict[str, int]] = {}
    for epoch_minute, state, count in rows:
        counts.setdefault(int(epoch_minute), {})[state] = int(count)
    result = []
    for offset in range(minutes):
        minute = start + timedelta(minutes=offset)
        found = counts.get(int(minute.timestamp()) // 60, {})
        result.append(MinuteCount(minute, found.get(SUCCEEDED, 0), found.get(FAILED, 0)))
    return result


def _epoch_minute(session: Session) -> ColumnElement[int]:
    """The minute (since the epoch) a task finished in, computed by the database."""
    if is_sqlite(session):
        # Stored as naive UTC text: strftime('%s') reads it as UTC.
        seconds = func.cast(func.strftime("%s", Task.finished_at), Integer)
        return func.cast(seconds / 60, Integer)
    return func.cast(func.floor(func.extract("epoch", Task.finished_at) / 60), Integer)


def list_tasks(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Task], int]:
    """A page of tasks, newest first, and how many match in all."""
    conditions = []
    if state:
        conditions.append(Task.state == state)
    if kind:
        conditions.append(Task.kind == kind)
    total = session.scalar(select(func.count()).select_from(Task).where(*conditions))
    page = session.scalars(
        select(Task).where(*conditions).order_by(Task.id.desc()).limit(limit).offset(offset)
    )
    return list(page), int(total or 0)


def get_task(session: Session, task_id: int) -> Task | None:
    return session.get(Task, task_id)


def pending_task_ids(session: Session, kind: str, posting_ids: Sequence[str]) -> dict[str, int]:
    """The id of each posting's queued or running task of `kind` (the newest, if several)."""
    if not posting_ids:
        return {}
    rows = session.execute(
        select(Task.posting_id, func.max(Task.id))
        .where(
            Task.kind == kind,
            Task.posting_id.in_(list(posting_ids)),
            Task.state.in_([QUEUED, RUNNING]),
        )
        .group_by(Task.posting_id)
    )
    return {posting_id: int(task_id) for posting_id, task_id in rows}


def postings_with_tasks(kinds: Sequence[str], states: Sequence[str]) -> Select[Any]:
    """A subquery of the posting ids that have a task of these kinds in these states."""
    return select(Task.posting_id).where(Task.kind.in_(kinds), Task.state.in_(states))
