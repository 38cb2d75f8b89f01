"""GET /metrics: the Prometheus exposition, put together at scrape time from three sources.

1. Gauges read from the database now (queue depth by kind and state, oldest queued age,
   postings and coverage, workers by state, live workers' heartbeat age and batch in hand):
   the same answer from every API process.
2. Every worker's counters, from the `workers.metrics` snapshots they write at each heartbeat
   (jobsim.metrics.Accumulator), one series per worker (label `worker`); a stopped worker's
   series stays until maintenance prunes its row.
3. This API process's own counters (prometheus_client, no `worker` label), or every API
   process's on this host when PROMETHEUS_MULTIPROC_DIR is set (metrics.process_families).

Add the sources up in PromQL: `sum by (kind) (rate(jobsim_tasks_claimed_total[5m]))`. When the
database does not answer, `jobsim_database_up` is 0 and only the process's own counters are
served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from jobsim import metrics, queue, worker_registry
from jobsim.api.deps import get_service
from jobsim.postings.embedded import embedded_counts
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow

log = logging.getLogger("jobsim.api")

router = APIRouter(tags=["metrics"])
UP = "1 when this API process reached the database at scrape time, else 0"


@router.get("/metrics", include_in_schema=False)
async def scrape(service: Annotated[Service, Depends(get_service)]) -> Response:
    body = await run_in_threadpool(render, service)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def render(service: Service) -> bytes:
    return generate_latest(_Families(collect(service)))


class _Families:
    """A fixed list of families in the shape generate_latest reads (a collector)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def collect(service: Service) -> list[Metric]:
    try:
        with service.db.read() as session:
            rows = worker_registry.all_workers(session)
            gauges = [
                *_queue_gauges(session),
                *_posting_gauges(session, service.recipe.model),
                *_worker_gauges(rows, service.settings, utcnow()),
            ]
            workers = list(_worker_counters(rows))
    except SQLAlchemyError as error:
        log.warning("metrics: database unavailable", extra={"error_type": type(error).__name__})
        return metrics.merge_families(metrics.process_families(), [_gauge("database_up", 0, UP)])
    return metrics.merge_families(
        metrics.process_families(), workers, [_gauge("database_up", 1, UP)], gauges
    )


def _worker_counters(rows: list[WorkerRow]) -> Iterator[Metric]:
    """Each worker's counters as its own series (label `worker`), so a row pruned by
    maintenance ends its series instead of making a summed counter drop."""
    for row in rows:
        counters = metrics.Accumulator()
        counters.add_snapshot(row.metrics)
        yield from counters.families({"worker": row.id})


def _posting_gauges(session: Session, model: str) -> Iterator[Metric]:
    active, embedded = embedded_counts(session, model)
    yield _gauge("postings_active", active, "Active postings (not deleted, not closed or draft)")
    yield _gauge("postings_embedded", embedded, "Active postings with a current vector")
    coverage = embedded / active if active else 1.0
    yield _gauge("embedding_coverage_ratio", coverage, "Embedded share of active postings")


def _queue_gauges(session: Session) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "jobsim_queue_tasks", "Tasks in the queue table by kind and state", labels=["kind", "state"]
    )
    for kind, by_state in sorted(queue.counts(session).items()):
        for state, count in sorted(by_state.items()):
            depth.add_metric([kind, state], count)
    yield depth
    oldest = queue.oldest_queued_age_seconds(session)
    yield _gauge(
        "queue_oldest_queued_age_seconds",
        oldest or 0.0,
        "Age of the oldest queued task (0 when none is queued)",
    )


def _worker_gauges(rows: list[WorkerRow], settings: Settings, now: datetime) -> Iterator[Metric]:
    by_state = GaugeMetricFamily(
        "jobsim_workers", "Worker rows by state (gone ones until pruned)", labels=["state"]
    )
    states = dict.fromkeys((*worker_registry.ALIVE_STATES, *worker_registry.GONE_STATES), 0)
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
    for state, count in states.items():
        by_state.add_metric([state], count)
    yield by_state
    silent_for = worker_registry.silence_limit(settings)
    live = [row for row in rows if worker_registry.is_alive(row, now, silent_for)]
    yield _gauge("workers_active", len(live), "Workers heard from within the dead-after window")
    age = GaugeMetricFamily(
        "jobsim_worker_heartbeat_age_seconds",
        "Seconds since each running or paused worker's last heartbeat",
        labels=["worker"],
    )
    batch = GaugeMetricFamily(
        "jobsim_worker_batch_tasks", "Tasks in each live worker's batch in hand", labels=["worker"]
    )
    for row in rows:
        if row.state in worker_registry.ALIVE_STATES:
            age.add_metric([row.id], max((now - row.heartbeat_at).total_seconds(), 0.0))
            batch.add_metric([row.id], row.current_batch)
    yield age
    yield batch


def _gauge(name: str, value: float, doc: str) -> Metric:
    return GaugeMetricFamily(f"jobsim_{name}", doc, value=value)
