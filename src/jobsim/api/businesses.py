"""Business listings (seed 003): /api/businesses (create, read, list, replace, patch, delete,
bulk, similar businesses, similar to a free text). The seed's own routes are in yellow_books.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel

from jobsim.api.deps import get_service, trace_id
from jobsim.api.jobs import (
    ERRORS,
    ID_ERRORS,
    WRITE,
    CategoryFilter,
    CityFilter,
    PageLimit,
    PageOffset,
    bulk_upsert_items,
)
from jobsim.api.schemas import BulkResponse
from jobsim.api.similar import (
    MATCH_ERRORS,
    Explain,
    match_allowance,
    measured_match,
    measured_similar,
)
from jobsim.businesses import SimilarBusinesses, as_similar_businesses
from jobsim.errors import (
    ValidationFailed,
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
from jobsim.postings.schema import ID_PATTERN, without_nul
from jobsim.service import Service
from jobsim.serving import SimilarFilters

router = APIRouter(prefix="/api/businesses", tags=["businesses"])
ServiceDep = Annotated[Service, Depends(get_service)]
BusinessId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


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
    responses=ID_ERRORS,
    dependencies=WRITE,
)
async def create_business(data: BusinessIn, service: ServiceDep) -> BusinessOut:
    """Store a business and queue its embedding; returns at once."""
    listing = as_new_listing(data)
    return await run_in_threadpool(service.businesses.create, listing, trace_id=trace_id())


@router.get("", response_model=BusinessPage, responses=ERRORS)
async def list_businesses(
    service: ServiceDep,
    category: CategoryFilter = None,
    city: CityFilter = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="text in the name"),
        AfterValidator(without_nul),
    ] = None,
    limit: PageLimit = 20,
    offset: PageOffset = 0,
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
    return await bulk_upsert_items(service.businesses, items, service.settings.max_bulk_items)


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
    return await measured_match(
        service,
        body,
        listing_type=BUSINESS.name,
        explain=explain,
        then=lambda answer: as_similar_businesses(service.businesses, answer),
    )


@router.get("/{business_id}", response_model=BusinessOut, responses=ERRORS)
async def get_business(business_id: BusinessId, service: ServiceDep) -> BusinessOut:
    return await run_in_threadpool(service.businesses.get, business_id)


@router.put(
    "/{business_id}",
    response_model=BusinessOut,
    responses={201: {"model": BusinessOut, "description": "created"}, **ID_ERRORS},
    dependencies=WRITE,
)
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
    return await measured_similar(
        service,
        business_id,
        filters,
        listing_type=BUSINESS.name,
        then=lambda answer: as_similar_businesses(service.businesses, answer, business_id),
    )
