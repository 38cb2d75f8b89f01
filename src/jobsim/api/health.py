"""Probes and the embedding pipeline's health, for load balancers and uptime checks (no token):
`/healthz` (the process is up), `/readyz` (the database answers; 503 otherwise), their older
names `/api/health/live` and `/api/health/ready`, and `/api/health/embeddings` (healthy or
degraded against the `health_*` settings, in the seed's format)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from jobsim import queue, worker_registry
from jobsim.api.deps import get_service
from jobsim.api.schemas import (
    EmbeddingHealth,
    EmbeddingMetrics,
    HealthError,
    HealthStatus,
    QueueHealth,
    WorkersHealth,
)
from jobsim.postings.embedded import embedded_counts
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.types import utcnow

log = logging.getLogger("jobsim.api")

router = APIRouter(prefix="/api/health", tags=["health"])
probes = APIRouter(tags=["health"])

DATABASE_DOWN = "database unavailable"


@probes.get("/healthz", response_model=HealthStatus)
@router.get("/live", response_model=HealthStatus)
async def live() -> dict[str, Any]:
    """The process is up and serving."""
    return {"status": "ok"}


@probes.get("/readyz", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
@router.get("/ready", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
async def ready(service: Annotated[Service, Depends(get_service)]) -> Any:
    """The database answers; otherwise 503 so a load balancer stops routing here."""
    try:
        await run_in_threadpool(service.db.ping)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, 503)
    return {"status": "ready"}


@router.get("/embeddings", response_model=EmbeddingHealth, responses={503: {"model": HealthError}})
async def embeddings(service: Annotated[Service, Depends(get_service)]) -> Any:
    """Coverage, queue and live workers; "degraded" when a `health_*` threshold is crossed."""
    try:
        counts = await run_in_threadpool(read_pipeline, service)
    except SQLAlchemyError as error:
        log.warning(
            "health check: database unavailable", extra={"error_type": type(error).__name__}
        )
        return JSONResponse({"status": "error", "error": DATABASE_DOWN}, 503)
    return embedding_health(counts, service.settings)


# --- what the health answer is made of -------------------------------------------------------


@dataclass(frozen=True)
class PipelineCounts:
    active_postings: int
    embedded_postings: int
    pending: int  # queued tasks, every kind
    processing: int  # running tasks
    failed: int  # dead letters
    active_workers: int


def read_pipeline(service: Service) -> PipelineCounts:
    settings = service.settings
    with service.db.read() as session:
        active, embedded = embedded_counts(session, service.recipe.model)
        totals = queue.totals(queue.counts(session))
        workers = worker_registry.all_workers(session)
    now, silent_for = utcnow(), worker_registry.silence_limit(settings)
    return PipelineCounts(
        active_postings=active,
        embedded_postings=embedded,
        pending=totals[queue.QUEUED],
        processing=totals[queue.RUNNING],
        failed=totals[queue.FAILED],
        active_workers=sum(worker_registry.is_alive(w, now, silent_for) for w in workers),
    )


def coverage_ratio(counts: PipelineCounts) -> float:
    """Embedded share of the active postings; 1.0 when there are none (nothing is missing)."""
    if not counts.active_postings:
        return 1.0
    return counts.embedded_postings / counts.active_postings


def is_healthy(counts: PipelineCounts, settings: Settings) -> bool:
    return (
        counts.active_workers >= settings.health_min_workers
        and counts.pending < settings.health_max_queued
        and counts.failed < settings.health_max_failed
    )


def embedding_health(counts: PipelineCounts, settings: Settings) -> EmbeddingHealth:
    now = utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return EmbeddingHealth(
        status="healthy" if is_healthy(counts, settings) else "degraded",
        timestamp=now,
        metrics=EmbeddingMetrics(
            coverage=f"{coverage_ratio(counts) * 100:.2f}%",
            total_jobs=counts.active_postings,
            jobs_with_embeddings=counts.embedded_postings,
            queue=QueueHealth(
                pending=counts.pending, processing=counts.processing, failed=counts.failed
            ),
            workers=WorkersHealth(active=counts.active_workers),
        ),
    )
