"""The admin API under /api/admin: reports and actions for operators (docs/operations.md).
Every route needs the admin token (jobsim.api.security.require_admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from jobsim.admin import ActionResult
from jobsim.api.deps import get_service
from jobsim.api.schemas import ErrorResponse
from jobsim.api.security import require_admin
from jobsim.ops import EmbeddingReport, QueueReport, TaskOut, TaskPage, WorkersReport
from jobsim.postings.schema import ID_PATTERN
from jobsim.queue import Kind, State
from jobsim.runtime_settings import LogLevelName
from jobsim.service import Service

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 422, 429, 503)
}
router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERRORS)
ServiceDep = Annotated[Service, Depends(get_service)]
Who = Annotated[str, Depends(require_admin)]
TaskId = Annotated[int, Path(ge=1, le=2**62)]


def _json_integer(value: object) -> object:
    """A JSON Schema integer: a number without a fraction (41466.0 too), but not true/false or
    "5", which pydantic's lax mode took for numbers ([true] was task [1])."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# At most 2**53 - 1, the largest integer a JSON number holds exactly (an id past 64 bits was a
# 500 from the driver).
JsonTaskId = Annotated[int, Field(ge=1, le=2**53 - 1), BeforeValidator(_json_integer)]


class RetryBody(BaseModel):
    ids: list[JsonTaskId] | None = Field(
        None, max_length=1000, description="none: every dead letter"
    )


class ClearBody(BaseModel):
    older_than_days: float = Field(ge=0, le=3650, strict=True)  # a number; not true or "5"


class EnqueueBody(BaseModel):
    ids: list[Annotated[str, StringConstraints(pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=1000
    )


class LogLevel(BaseModel):
    level: LogLevelName


# --- reports ---------------------------------------------------------------------------------


@router.get("/embeddings", response_model=EmbeddingReport)
async def embeddings(service: ServiceDep, _: Who) -> EmbeddingReport:
    return await run_in_threadpool(service.ops.embeddings)


@router.get("/queue", response_model=QueueReport)
async def queue_report(service: ServiceDep, _: Who) -> QueueReport:
    return await run_in_threadpool(service.ops.queue)


@router.get("/tasks", response_model=TaskPage)
async def tasks(
    service: ServiceDep,
    _: Who,
    state: State | None = None,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> TaskPage:
    return await run_in_threadpool(
        service.ops.tasks, state=state, kind=kind, limit=limit, offset=offset
    )


@router.get("/tasks/{task_id}", response_model=TaskOut)
async def task(task_id: TaskId, service: ServiceDep, _: Who) -> TaskOut:
    return await run_in_threadpool(service.ops.task, task_id)


@router.get("/workers", response_model=WorkersReport)
async def workers(service: ServiceDep, _: Who) -> WorkersReport:
    return await run_in_threadpool(service.ops.workers)


@router.get("/log-level", response_model=LogLevel)
async def get_log_level(service: ServiceDep, _: Who) -> LogLevel:
    return LogLevel(level=await run_in_threadpool(service.admin.log_level))


# --- actions ---------------------------------------------------------------------------------


@router.post("/recompute", response_model=ActionResult)
async def recompute(service: ServiceDep, who: Who) -> ActionResult:
    """Queue a list recompute for every listed posting."""
    return await run_in_threadpool(service.admin.recompute, who=who)


@router.post("/reembed", response_model=ActionResult)
async def reembed(service: ServiceDep, who: Who) -> ActionResult:
    """Queue a re-embedding of every active posting; old vectors serve until replaced."""
    return await run_in_threadpool(service.admin.reembed, who=who)


@router.post("/tasks/retry", response_model=ActionResult)
async def retry(body: RetryBody, service: ServiceDep, who: Who) -> ActionResult:
    """Send dead letters (all, or the ids given) back to the queue, each exactly once."""
    return await run_in_threadpool(service.admin.retry, body.ids, who=who)


@router.post("/tasks/clear", response_model=ActionResult)
async def clear(body: ClearBody, service: ServiceDep, who: Who) -> ActionResult:
    """Delete succeeded and failed tasks finished more than N days ago."""
    return await run_in_threadpool(service.admin.clear, body.older_than_days, who=who)


@router.post("/tasks/{task_id}/retry", response_model=ActionResult)
async def retry_one(task_id: TaskId, service: ServiceDep, who: Who) -> ActionResult:
    return await run_in_threadpool(service.admin.retry_one, task_id, who=who)


@router.post("/enqueue", response_model=ActionResult)
async def enqueue(body: EnqueueBody, service: ServiceDep, who: Who) -> ActionResult:
    """Queue an embedding for each posting id given."""
    return await run_in_threadpool(service.admin.enqueue, body.ids, who=who)


@router.put("/log-level", response_model=LogLevel)
async def set_log_level(body: LogLevel, service: ServiceDep, who: Who) -> LogLevel:
    """Change the log level of every API and worker process (within a few seconds)."""
    level = await run_in_threadpool(service.admin.set_log_level, body.level, who=who)
    return LogLevel(level=level)
