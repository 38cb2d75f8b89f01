"""The workers table, the one home of its SQL: each worker process registers, heartbeats and
signs off here; maintenance marks silent ones dead and prunes old rows; status reads them."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from jobsim.settings import Settings
from jobsim.storage.engine import Database, affected_rows
from jobsim.storage.models import Worker
from jobsim.storage.types import utcnow

ALIVE_STATES = ("running", "paused", "starting")
GONE_STATES = ("stopped", "dead")


def silence_limit(settings: Settings) -> timedelta:
    """How long a worker may stay silent before it counts as dead."""
    return timedelta(seconds=settings.heartbeat_seconds * settings.dead_after_heartbeats)


def is_alive(worker: Worker, now: datetime, silent_for: timedelta) -> bool:
    """Running (or paused, or starting) and heard from within `silent_for`."""
    return worker.state in ALIVE_STATES and now - worker.heartbeat_at <= silent_for


def register(
    db: Database, worker_id: str, *, embedder: str, memory_mb: float, state: str = "running"
) -> None:
    now = utcnow()
    with db.write() as session:
        session.merge(
            Worker(
                id=worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                state=state,
                embedder=embedder,
                started_at=now,
                heartbeat_at=now,
                processed=0,
                failed=0,
                memory_mb=memory_mb,
            )
        )


def report(db: Database, worker_id: str, **values: Any) -> None:
    """A heartbeat: the row's fields given (state, counts, memory) and the time."""
    with db.write() as session:
        session.execute(
            update(Worker).where(Worker.id == worker_id).values(heartbeat_at=utcnow(), **values)
        )


def mark_dead(session: Session, now: datetime, *, silent_for: timedelta) -> list[str]:
    """Mark the workers that stopped heartbeating without signing off; returns their ids."""
    result = session.execute(
        update(Worker)
        .where(Worker.state.in_(ALIVE_STATES), Worker.heartbeat_at < now - silent_for)
        .values(state="dead")
        .returning(Worker.id)
    )
    return list(result.scalars())


def prune(session: Session, now: datetime, *, older_than: timedelta) -> int:
    """Remove stopped and dead workers' rows once they are old."""
    result = session.execute(
        delete(Worker).where(Worker.state.in_(GONE_STATES), Worker.heartbeat_at < now - older_than)
    )
    return affected_rows(result)


def all_workers(session: Session) -> list[Worker]:
    return list(session.scalars(select(Worker).order_by(Worker.started_at.desc())))
