"""The business directory's own routes from seed 003, served as it documents them:
POST /api/yellow-books and PATCH /api/yellow-books/{id} (the business plus its `_embeddingJob`),
POST /api/admin/embeddings/bulk and GET /api/admin/jobs/{task_id} (BullMQ's words for a task)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jobsim import queue
from jobsim.admin import ActionResult
from jobsim.api.deps import get_service, trace_id
from jobsim.api.jobs import ERRORS, ID_ERRORS, WRITE
from jobsim.api.security import require_admin
from jobsim.listing_types.business import (
    BusinessIn,
    BusinessOut,
    BusinessPatch,
    as_listing,
    as_new_listing,
)
from jobsim.ops import TaskOut
from jobsim.postings.schema import ID_PATTERN
from jobsim.service import Service

seed = APIRouter(tags=["businesses (seed 003 routes)"])
ServiceDep = Annotated[Service, Depends(get_service)]
BusinessId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
Who = Annotated[str, Depends(require_admin)]
TaskId = Annotated[int, Path(ge=1, le=2**62)]


class EmbeddingJob(BaseModel):
    id: int | None = Field(description="the task id (GET /api/admin/jobs/{id}); null: none queued")
    status: Literal["queued", "unchanged"]
    message: str


class SeedBusiness(BusinessOut):
    """A business as the seed answers it: with the embedding job it queued."""

    model_config = ConfigDict(populate_by_name=True)

    embedding_job: EmbeddingJob = Field(alias="_embeddingJob", serialization_alias="_embeddingJob")


def _with_job(service: Service, business: BusinessOut) -> SeedBusiness:
    task_ids = service.ops.pending_tasks(queue.EMBED, [business.id])
    task_id = task_ids.get(business.id)
    job = EmbeddingJob(
        id=task_id,
        status="queued" if task_id else "unchanged",
        message="Embedding will be generated in background"
        if task_id
        else "The embedded text did not change",
    )
    return SeedBusiness(**business.model_dump(), _embeddingJob=job)


@seed.post(
    "/api/yellow-books",
    status_code=status.HTTP_201_CREATED,
    response_model=SeedBusiness,
    response_model_by_alias=True,
    responses=ID_ERRORS,
    dependencies=WRITE,
)
async def create_yellow_book_entry(data: BusinessIn, service: ServiceDep) -> SeedBusiness:
    """The seed's create: the business, and `_embeddingJob` with the task that embeds it."""
    business = await run_in_threadpool(
        service.businesses.create, as_new_listing(data), trace_id=trace_id()
    )
    return await run_in_threadpool(_with_job, service, business)


@seed.patch(
    "/api/yellow-books/{business_id}",
    response_model=SeedBusiness,
    response_model_by_alias=True,
    responses=ERRORS,
    dependencies=WRITE,
)
async def update_yellow_book_entry(
    business_id: BusinessId, patch: BusinessPatch, service: ServiceDep
) -> SeedBusiness:
    business = await run_in_threadpool(
        service.businesses.update, business_id, as_listing(patch), trace_id=trace_id()
    )
    return await run_in_threadpool(_with_job, service, business)


class BulkEmbeddings(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    business_ids: list[Annotated[str, StringConstraints(pattern=ID_PATTERN)]] = Field(
        alias="businessIds", min_length=1, max_length=1000
    )


class QueuedJob(BaseModel):
    job_id: int = Field(serialization_alias="jobId")
    business_id: str = Field(serialization_alias="businessId")
    status: Literal["queued", "active"]


class BulkEmbeddingsOut(BaseModel):
    queued: int
    jobs: list[QueuedJob]
    unknown: list[str] = Field(description="ids that name no business (nothing queued)")


@seed.post(
    "/api/admin/embeddings/bulk",
    response_model=BulkEmbeddingsOut,
    response_model_by_alias=True,
    responses=ERRORS,
)
async def bulk_embeddings(body: BulkEmbeddings, service: ServiceDep, who: Who) -> BulkEmbeddingsOut:
    """Queue an embedding for each business id (the seed's bulk endpoint), with the task ids."""
    known = await run_in_threadpool(service.businesses.get_many, body.business_ids)
    ids = [business_id for business_id in body.business_ids if business_id in known]
    result: ActionResult = await run_in_threadpool(service.admin.enqueue, ids, who=who)
    tasks = await run_in_threadpool(service.ops.pending_tasks, queue.EMBED, ids)
    jobs = [QueuedJob(job_id=tasks[i], business_id=i, status="queued") for i in ids if i in tasks]
    unknown = [i for i in body.business_ids if i not in known] + (result.unknown or [])
    return BulkEmbeddingsOut(queued=len(jobs), jobs=jobs, unknown=list(dict.fromkeys(unknown)))


class SeedJobStatus(BaseModel):
    """A task in the seed's (BullMQ's) words; times in milliseconds since the epoch."""

    job_id: int = Field(serialization_alias="jobId")
    business_id: str = Field(serialization_alias="businessId")
    state: Literal["waiting", "delayed", "active", "completed", "failed"]
    attempts_made: int = Field(serialization_alias="attemptsMade")
    failed_reason: str | None = Field(serialization_alias="failedReason")
    processed_on: int | None = Field(serialization_alias="processedOn")
    finished_on: int | None = Field(serialization_alias="finishedOn")

    @classmethod
    def of(cls, task: TaskOut, now: datetime) -> SeedJobStatus:
        return cls(
            job_id=task.id,
            business_id=task.posting_id,
            state=_seed_state(task, now),
            attempts_made=task.attempts,
            failed_reason=task.last_error if task.state == queue.FAILED else None,
            processed_on=_epoch_ms(task.started_at),
            finished_on=_epoch_ms(task.finished_at),
        )


def _seed_state(
    task: TaskOut, now: datetime
) -> Literal["waiting", "delayed", "active", "completed", "failed"]:
    if task.state == queue.QUEUED:
        return "delayed" if datetime.fromisoformat(task.run_after) > now else "waiting"
    if task.state == queue.RUNNING:
        return "active"
    return "failed" if task.state == queue.FAILED else "completed"


def _epoch_ms(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp() * 1000)


@seed.get(
    "/api/admin/jobs/{task_id}",
    response_model=SeedJobStatus,
    response_model_by_alias=True,
    responses=ERRORS,
)
async def seed_job_status(task_id: TaskId, service: ServiceDep, _: Who) -> SeedJobStatus:
    """One task as the seed's job-status endpoint shows it (404 for an unknown id)."""
    task = await run_in_threadpool(service.ops.task, task_id)
    return SeedJobStatus.of(task, datetime.now().astimezone())
