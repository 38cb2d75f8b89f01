"""Business listings (seed 003): /api/businesses (create, read, list, replace, patch, delete,
bulk, similar businesses, similar to a free text) and the seed's own routes:
POST /api/yellow-books, PATCH /api/yellow-books/{id}, POST /api/admin/embeddings/bulk and
GET /api/admin/jobs/{task_id}."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jobsim import metrics, queue
from jobsim.admin import ActionResult
from jobsim.api.deps import get_service, trace_id
from jobsim.api.jobs import ERRORS, WRITE
from jobsim.api.schemas import BulkResponse
from jobsim.api.security import ApiError, require_admin
from jobsim.api.similar import MATCH_ERRORS, Explain, match_allowance
from jobsim.businesses import SimilarBusinesses, similar_businesses
from jobsim.errors import (
    ConfigurationError,
    PermanentError,
    TransientError,
    ValidationFailed,
    sanitize,
)
from jobsim.listing_types.business import (
    BUSINESS,
    BusinessIn,
    BusinessOut,
    BusinessPatch,
    as_listing,
    as_new_listing,
)
from jobsim.matching import MatchRequest
from jobsim.ops import TaskOut
from jobsim.postings.schema import ID_PATTERN
from jobsim.service import Service
from jobsim.serving import SimilarFilters

router = APIRouter(prefix="/api/businesses", tags=["businesses"])
seed = APIRouter(tags=["businesses (seed 003 routes)"])
ServiceDep = Annotated[Service, Depends(get_service)]
BusinessId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
Who = Annotated[str, Depends(require_admin)]
TaskId = Annotated[int, Path(ge=1, le=2**62)]


class BusinessPage(BaseModel):
    items: list[BusinessOut]
    total: int
    limit: int
    offset: int


# --- /api/businesses ----------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BusinessOut,
    responses=ERRORS,
    dependencies=WRITE,
)
async def create_business(data: BusinessIn, service: ServiceDep) -> BusinessOut:
    """Store a business and queue its embedding; returns at once."""
    listing = as_new_listing(data)
    return await run_in_threadpool(service.businesses.create, listing, trace_id=trace_id())


@router.get("", response_model=BusinessPage, responses=ERRORS)
async def list_businesses(
    service: ServiceDep,
    category: Annotated[str | None, Query(max_length=200)] = None,
    city: Annotated[str | None, Query(max_length=120)] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the name")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BusinessPage:
    items, total = await run_in_threadpool(
        service.businesses.list_postings,
        category=category,
        city=city,
        q=q,
        limit=limit,
        offset=offset,
    )
    return BusinessPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/bulk", response_model=BulkResponse, responses=ERRORS, dependencies=WRITE)
async def bulk_upsert_businesses(
    service: ServiceDep,
    items: Annotated[list[Any], Body(description="business objects, as for POST /api/businesses")],
) -> dict[str, Any]:
    """Create or update many businesses; bad items are reported one by one, the rest stored."""
    if len(items) > service.settings.max_bulk_items:
        raise ValidationFailed(f"at most {service.settings.max_bulk_items} items per request")
    records = (
        (f"item {i}", item, None)
        if isinstance(item, dict)
        else (f"item {i}", None, "each item must be a JSON object")
        for i, item in enumerate(items)
    )
    report = await run_in_threadpool(service.businesses.bulk_upsert, records, trace_id=trace_id())
    return report.as_dict()


@router.post(
    "/similar",
    response_model=SimilarBusinesses,
    responses=MATCH_ERRORS,
    dependencies=[Depends(match_allowance)],
)
async def businesses_like_text(
    body: MatchRequest, service: ServiceDep, explain: Explain = False
) -> SimilarBusinesses:
    """Businesses similar to a free text ("a bakery with gluten-free bread near the station"),
    matched against the live index like a business's own text. Neither cached nor stored."""
    started = time.perf_counter()
    try:
        answer = await run_in_threadpool(
            service.matching.match, body, listing_type=BUSINESS.name, explain=explain
        )
    except (ConfigurationError, PermanentError, TransientError) as error:
        raise ApiError(503, "matching_unavailable", sanitize(str(error))) from None
    metrics.observe(metrics.SIMILAR_LATENCY, time.perf_counter() - started, method="text")
    data = await run_in_threadpool(similar_businesses, service.businesses, answer.data)
    return SimilarBusinesses(method="semantic", total=len(data), data=data, message=answer.message)


@router.get("/{business_id}", response_model=BusinessOut, responses=ERRORS)
async def get_business(business_id: BusinessId, service: ServiceDep) -> BusinessOut:
    return await run_in_threadpool(service.businesses.get, business_id)


@router.put("/{business_id}", response_model=BusinessOut, responses=ERRORS, dependencies=WRITE)
async def replace_business(
    business_id: BusinessId, data: BusinessIn, service: ServiceDep, response: Response
) -> BusinessOut:
    """Create or update the business with this id (idempotent); 201 when it was created."""
    if data.id is not None and data.id != business_id:
        raise ValidationFailed("the id in the body differs from the id in the path")
    listing = as_new_listing(data.model_copy(update={"id": business_id}))
    business, action = await run_in_threadpool(
        service.businesses.upsert, listing, trace_id=trace_id()
    )
    response.status_code = status.HTTP_201_CREATED if action == "created" else status.HTTP_200_OK
    return business


@router.patch("/{business_id}", response_model=BusinessOut, responses=ERRORS, dependencies=WRITE)
async def update_business(
    business_id: BusinessId, patch: BusinessPatch, service: ServiceDep
) -> BusinessOut:
    """Change the fields given; re-embeds only when the embedded text changed."""
    return await run_in_threadpool(
        service.businesses.update, business_id, as_listing(patch), trace_id=trace_id()
    )


@router.delete(
    "/{business_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    dependencies=WRITE,
)
async def delete_business(business_id: BusinessId, service: ServiceDep) -> Response:
    """Soft delete; the business leaves every similar list."""
    await run_in_threadpool(service.businesses.delete, business_id, trace_id=trace_id())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{business_id}/similar", response_model=SimilarBusinesses, responses=ERRORS)
async def businesses_like_this(
    business_id: BusinessId,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    same_city: bool = False,
    explain: Explain = False,
) -> SimilarBusinesses:
    """Businesses like this one: the same kind of business, nearby first; the same category or
    city while it is not embedded yet."""
    filters = SimilarFilters(limit=limit, same_city=same_city, explain=explain)
    started = time.perf_counter()
    answer = await run_in_threadpool(
        service.similar.for_posting, business_id, filters, listing_type=BUSINESS.name
    )
    metrics.inc(metrics.SIMILAR_REQUESTS, method=answer.method)
    metrics.observe(metrics.SIMILAR_LATENCY, time.perf_counter() - started, method=answer.method)
    data = await run_in_threadpool(similar_businesses, service.businesses, answer.data)
    return SimilarBusinesses(
        business_id=business_id,
        method=answer.method,
        total=len(data),
        data=data,
        message=answer.message,
    )


# --- the seed's routes --------------------------------------------------------------------------


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
    responses=ERRORS,
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
