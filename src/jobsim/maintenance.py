"""Periodic upkeep every worker runs: expiry, stale lists, task and worker pruning."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import not_, select

from jobsim import queue, worker_registry
from jobsim.clock import Clock, system_clock
from jobsim.postings.listed import active_clause, unexpired_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting, SimilarEntry

log = logging.getLogger("jobsim.maintenance")

SUCCEEDED_KEPT = timedelta(days=1)
FAILED_KEPT = timedelta(days=7)
STOPPED_WORKERS_KEPT = timedelta(days=7)
STALE_BATCH = 1000


@dataclass(frozen=True)
class MaintenanceReport:
    expired_refills: int
    stale_recomputes: int
    tasks_pruned: int
    workers_marked_dead: int
    workers_pruned: int


def run_maintenance(
    db: Database, settings: Settings, *, clock: Clock = system_clock
) -> MaintenanceReport:
    now = clock()
    with db.write() as session:
        expired = list(
            session.scalars(
                select(SimilarEntry.similar_id)
                .distinct()
                .join(Posting, Posting.id == SimilarEntry.similar_id)
                .where(not_(unexpired_clause(now)))
                .limit(STALE_BATCH)
            )
        )
        queue.enqueue_many(
            session,
            queue.SIMILAR,
            expired,
            priority=queue.PRIORITY_REFRESH,
            max_attempts=settings.max_attempts,
            clock=clock,
        )
        stale_before = now - timedelta(days=settings.recompute_after_days)
        stale = list(
            session.scalars(
                select(Posting.id)
                .where(
                    active_clause(),
                    Posting.similar_computed_at.is_not(None),
                    Posting.similar_computed_at < stale_before,
                )
                .order_by(Posting.similar_computed_at)
                .limit(STALE_BATCH)
            )
        )
        queue.enqueue_many(
            session,
            queue.SIMILAR,
            stale,
            priority=queue.PRIORITY_BACKFILL,
            max_attempts=settings.max_attempts,
            clock=clock,
        )
        pruned = queue.prune(
            session,
            succeeded_older_than=SUCCEEDED_KEPT,
            failed_older_than=FAILED_KEPT,
            clock=clock,
        )
        silent_for = timedelta(seconds=settings.heartbeat_seconds * 4)
        dead = worker_registry.mark_dead(session, now, silent_for=silent_for)
        removed = worker_registry.prune(session, now, older_than=STOPPED_WORKERS_KEPT)
    report = MaintenanceReport(len(expired), len(stale), pruned, dead, removed)
    if any(vars(report).values()):
        log.info("maintenance", extra=vars(report))
    return report
