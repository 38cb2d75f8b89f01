"""Posting endpoints: create, read, list, replace, patch, close, delete, bulk upsert."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator

from jobsim.api.deps import get_service, trace_id
from jobsim.api.schemas import BulkResponse, ErrorResponse
from jobsim.api.security import require_api_key
from jobsim.errors import ValidationFailed
from jobsim.postings.schema import (
    ID_PATTERN,
    PostingIn,
    PostingOut,
    PostingPage,
    PostingPatch,
    without_nul,
)
from jobsim.postings.store import ListingStore
from jobsim.service import Service

router = APIRouter(prefix="/api/jobs", tags=["postings"])
ServiceDep = Annotated[Service, Depends(get_service)]
PostingId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not JSON"},
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse, "description": "the database is unavailable; see Retry-After"},
}
# Creating or replacing by id: the id may be taken (by this or another listing type).
ID_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorResponse, "description": "the id is taken by another listing"},
}
WRITE = [Depends(require_api_key)]
# The filters and paging that every listing type's page of listings takes.
CategoryFilter = Annotated[str | None, Query(max_length=200), AfterValidator(without_nul)]
CityFilter = Annotated[str | None, Query(max_length=120), AfterValidator(without_nul)]
PageLimit = Annotated[int, Query(ge=1, le=200)]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PostingOut,
    responses=ID_ERRORS,
    dependencies=WRITE,
)
async def create_posting(data: PostingIn, service: ServiceDep) -> PostingOut:
    """Store a posting and queue its embedding; returns at once (never waits for the model)."""
    return await run_in_threadpool(service.postings.create, data, trace_id=trace_id())


@router.get("", response_model=PostingPage, responses=ERRORS)
async def list_postings(
    service: ServiceDep,
    status_filter: Annotated[
        Literal["active", "closed", "draft"] | None, Query(alias="status")
    ] = None,
    category: CategoryFilter = None,
    city: CityFilter = None,
    company: Annotated[str | None, Query(max_length=200), AfterValidator(without_nul)] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="text in the title"),
        AfterValidator(without_nul),
    ] = None,
    limit: PageLimit = 20,
    offset: PageOffset = 0,
) -> PostingPage:
    return await run_in_threadpool(
        service.postings.page,
        status=status_filter,
        category=category,
        city=city,
        company=company,
        q=q,
        limit=limit,
        offset=offset,
    )


@router.post("/bulk", response_model=BulkResponse, responses=ERRORS, dependencies=WRITE)
async def bulk_upsert(
    service: ServiceDep,
    items: Annotated[list[Any], Body(description="posting objects, as for POST /api/jobs")],
) -> dict[str, Any]:
    """Create or update many postings; bad items are reported one by one, the rest are stored."""
    return await bulk_upsert_items(service.postings, items, service.settings.max_bulk_items)


async def bulk_upsert_items(
    store: ListingStore[Any], items: list[Any], max_items: int
) -> dict[str, Any]:
    """A bulk request's items upserted into `store` (any listing type), item by item."""
    if len(items) > max_items:
        raise ValidationFailed(f"at most {max_items} items per request")
    records = (
        (f"item {i}", item, None)
        if isinstance(item, dict)
        else (f"item {i}", None, "each item must be a JSON object")
        for i, item in enumerate(items)
    )
    report = await run_in_threadpool(store.bulk_upsert, records, trace_id=trace_id())
    return report.as_dict()


@router.get("/{posting_id}", response_model=PostingOut, responses=ERRORS)
async def get_posting(posting_id: PostingId, service: ServiceDep) -> PostingOut:
    return await run_in_threadpool(service.postings.get, posting_id)


@router.put(
    "/{posting_id}",
    response_model=PostingOut,
    responses={201: {"model": PostingOut, "description": "created"}, **ID_ERRORS},
    dependencies=WRITE,
)
async def replace_posting(
    posting_id: PostingId, data: PostingIn, service: ServiceDep, response: Response
) -> PostingOut:
    """Create or update the posting with this id (idempotent); 201 when it was created."""
    if data.id is not None and data.id != posting_id:
        raise ValidationFailed("the id in the body differs from the id in the path")
    data = data.model_copy(update={"id": posting_id})
    posting, action = await run_in_threadpool(service.postings.upsert, data, trace_id=trace_id())
    response.status_code = status.HTTP_201_CREATED if action == "created" else status.HTTP_200_OK
    return posting


@router.patch("/{posting_id}", response_model=PostingOut, responses=ERRORS, dependencies=WRITE)
async def update_posting(
    posting_id: PostingId, patch: PostingPatch, service: ServiceDep
) -> PostingOut:
    """Change the fields given; re-embeds only when the embedded text changed."""
    return await run_in_threadpool(service.postings.update, posting_id, patch, trace_id=trace_id())


@router.post("/{posting_id}/close", response_model=PostingOut, responses=ERRORS, dependencies=WRITE)
async def close_posting(posting_id: PostingId, service: ServiceDep) -> PostingOut:
    return await run_in_threadpool(service.postings.close, posting_id, trace_id=trace_id())


@router.delete(
    "/{posting_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS, dependencies=WRITE
)
async def delete_posting(posting_id: PostingId, service: ServiceDep) -> Response:
    """Soft delete; the posting leaves every similar list."""
    await run_in_threadpool(service.postings.delete, posting_id, trace_id=trace_id())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
