"""Periodic upkeep every worker runs: lists that hold expired postings or went stale, finished
tasks past their retention, and workers that died (marked dead, their leases released) or left
long ago."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import not_, select
from sqlalchemy.orm import Session

from jobsim import queue, worker_registry
from jobsim.alerts import check_alerts
from jobsim.clock import Clock, system_clock
from jobsim.postings.listed import active_clause, unexpired_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import ListState, Posting, SimilarEntry

log = logging.getLogger("jobsim.maintenance")

STALE_BATCH = 1000
DAY = timedelta(days=1)


@dataclass(frozen=True)
class MaintenanceReport:
    expired_refills: int
    stale_recomputes: int
    tasks_pruned: int
    workers_marked_dead: int
    workers_pruned: int
    leases_released: int = 0


def run_maintenance(
    db: Database, settings: Settings, *, clock: Clock = system_clock
) -> MaintenanceReport:
    now = clock()
    with db.write() as session:
        expired = _refresh_lists_holding_expired(session, settings, now, clock)
        stale = _recompute_stale_lists(session, settings, now, clock)
        pruned = queue.prune(
            session,
            succeeded_older_than=settings.succeeded_tasks_kept_days * DAY,
            failed_older_than=settings.failed_tasks_kept_days * DAY,
            clock=clock,
        )
        silent_for = worker_registry.silence_limit(settings)
        dead = worker_registry.mark_dead(session, now, silent_for=silent_for)
        released = queue.release_leases_of(session, dead, clock=clock)
        removed = worker_registry.prune(
            session, now, older_than=settings.stopped_workers_kept_days * DAY
        )
    report = MaintenanceReport(len(expired), len(stale), pruned, len(dead), removed, released)
    if any(vars(report).values()):
        log.info("maintenance", extra=vars(report))
    check_alerts(db, settings, clock=clock)
    return report


def _refresh_lists_holding_expired(
    session: Session, settings: Settings, now: datetime, clock: Clock
) -> list[str]:
    """Expired postings still in someone's list: each list holding one is refilled."""
    expired = list(
        session.scalars(
            select(SimilarEntry.similar_id)
            .distinct()
            .join(Posting, Posting.id == SimilarEntry.similar_id)
            .where(not_(unexpired_clause(now)))
            .limit(STALE_BATCH)
        )
    )
    _queue_similar(session, expired, queue.PRIORITY_REFRESH, settings, clock)
    return expired


def _recompute_stale_lists(
    session: Session, settings: Settings, now: datetime, clock: Clock
) -> list[str]:
    """Active postings whose list is older than the recompute interval (the seed's weekly job)."""
    stale_before = now - timedelta(days=settings.recompute_after_days)
    stale = list(
        session.scalars(
            select(Posting.id)
            .join(ListState, ListState.posting_id == Posting.id)
            .where(
                active_clause(),
                ListState.computed_at.is_not(None),
                ListState.computed_at < stale_before,
            )
            .order_by(ListState.computed_at)
            .limit(STALE_BATCH)
        )
    )
    _queue_similar(session, stale, queue.PRIORITY_BACKFILL, settings, clock)
    return stale


def _queue_similar(
    session: Session, ids: list[str], priority: int, settings: Settings, clock: Clock
) -> None:
    queue.enqueue_many(
        session,
        queue.SIMILAR,
        ids,
        priority=priority,
        max_attempts=settings.max_attempts,
        clock=clock,
    )
