"""Similar postings: GET /api/jobs/{id}/similar (the cached semantic list, topped up when short,
or the category/location fallback; jobsim's shape or the seed's) and POST /api/jobs/similar
(similar to a free text)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic_core import to_json

from jobsim import metrics
from jobsim.api.deps import get_service
from jobsim.api.jobs import ERRORS
from jobsim.api.ratelimit import RequestRate, client_of
from jobsim.api.schemas import ErrorResponse
from jobsim.api.security import ApiError
from jobsim.errors import ConfigurationError, PermanentError, TransientError, sanitize
from jobsim.matching import MatchRequest, MatchResponse
from jobsim.postings.schema import ID_PATTERN
from jobsim.seed_format import SeedSimilarResponse, seed_answer
from jobsim.service import Service
from jobsim.serving import SimilarFilters, SimilarResponse
from jobsim.storage.async_reads import AsyncReads, ReadUnavailable

log = logging.getLogger("jobsim.api")
Shaped = TypeVar("Shaped")
router = APIRouter(prefix="/api/jobs", tags=["similar"])
ServiceDep = Annotated[Service, Depends(get_service)]
Explain = Annotated[bool, Query(description="explain each item: score parts, views, shared fields")]
MATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not JSON"},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    429: {"model": ErrorResponse, "description": "too many matches; see Retry-After"},
    503: {"model": ErrorResponse, "description": "the embedding model is unavailable"},
}


@router.get(
    "/{posting_id}/similar",
    response_model=SimilarResponse | SeedSimilarResponse,
    responses=ERRORS,
)
async def similar_postings(
    request: Request,
    posting_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)],
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
    exclude_same_company: bool = False,
    remote_only: bool = False,
    same_city: bool = False,
    fill: Annotated[
        int | None,
        Query(
            ge=0,
            le=100,
            description="top a shorter semantic list up to this many with fallback postings "
            "(same category or city, marked source=fallback); default JOBSIM_FILL_SHORT_LISTS, "
            "0 = never",
        ),
    ] = None,
    explain: Explain = False,
    response_format: Annotated[
        Literal["jobsim", "seed"],
        Query(
            alias="format",
            description="seed: the original board's shape, {success, data, total, method, "
            "message} with _id, similarityScore and similarityPercentage on each item",
        ),
    ] = "jobsim",
) -> Response:
    filters = SimilarFilters(
        limit, min_score, exclude_same_company, remote_only, same_city, fill, explain
    )
    # The answer is JSON-ready data in the documented shape (SimilarReader.answer), rendered
    # as it is: validating it against the response model again would cost more than reading it.
    started = time.perf_counter()
    answer = await similar_answer(request, service, posting_id, filters, listing_type="job")
    count_similar(answer["method"], started)
    body = seed_answer(answer) if response_format == "seed" else answer
    return Response(to_json(body), media_type="application/json")


async def similar_answer(
    request: Request,
    service: Service,
    posting_id: str,
    filters: SimilarFilters,
    *,
    listing_type: str,
) -> dict[str, Any]:
    """SimilarReader.answer without blocking the event loop on anything that can wait.

    The cached page is one indexed read, run on the event loop: SQLite reads a local file
    (WAL readers do not wait for writers), PostgreSQL goes through psycopg's asyncio driver
    (AsyncReads). Handing it to the thread pool cost more CPU than the read itself, about
    0.3-0.5 ms a request (docs/performance.md, "Serving"). Everything else (a top-up, the
    fallback, a recompute, and any read the loop could not run) goes to the thread pool."""
    reader = service.similar
    reads: AsyncReads | None = request.app.state.reads
    try:
        if reads is not None:
            cached = await reader.cached_page_on_loop(reads, posting_id, filters, listing_type)
        else:
            cached = reader.cached_page(posting_id, filters, listing_type)
    except ReadUnavailable as error:
        log.warning("the cached list was read through the engine: %s", sanitize(str(error)))
        cached = None
    if cached is not None:
        return cached
    return await run_in_threadpool(reader.computed_answer, posting_id, filters, listing_type)


async def measured_similar(
    service: Service,
    posting_id: str,
    filters: SimilarFilters,
    *,
    listing_type: str,
    then: Callable[[SimilarResponse], Shaped],
) -> Shaped:
    """A listing's similar list (SimilarReader.for_posting) shaped by `then` in the same
    thread-pool call (one hop, not two), counted and timed for /metrics."""
    started = time.perf_counter()

    def answer() -> tuple[str, Shaped]:
        found = service.similar.for_posting(posting_id, filters, listing_type=listing_type)
        return found.method, then(found)

    method, shaped = await run_in_threadpool(answer)
    count_similar(method, started)
    return shaped


def count_similar(method: str, started: float) -> None:
    """A similar list answered by `method`, counted and timed (since `started`) for /metrics."""
    metrics.inc(metrics.SIMILAR_REQUESTS, method=method)
    metrics.observe(metrics.SIMILAR_LATENCY, time.perf_counter() - started, method=method)


async def match_allowance(request: Request) -> None:
    """429 with Retry-After past JOBSIM_MATCH_REQUESTS_PER_MINUTE from one client."""
    rate: RequestRate = request.app.state.match_rate
    wait = rate.take(client_of(request))
    if wait is not None:
        raise ApiError(
            429,
            "too_many_requests",
            f"at most {rate.limit} free-text matches a minute per client; try again later",
            {"Retry-After": str(wait)},
        )


@router.post(
    "/similar",
    response_model=MatchResponse,
    responses=MATCH_ERRORS,
    dependencies=[Depends(match_allowance)],
)
async def similar_to_text(
    body: MatchRequest, service: ServiceDep, explain: Explain = False
) -> MatchResponse:
    """Postings similar to a free text (a CV, a profile, a search phrase; any language),
    embedded like a posting and matched against the live index. Neither cached nor stored."""
    return await measured_match(
        service, body, listing_type="job", explain=explain, then=lambda answer: answer
    )


async def measured_match(
    service: Service,
    body: MatchRequest,
    *,
    listing_type: str,
    explain: bool,
    then: Callable[[MatchResponse], Shaped],
) -> Shaped:
    """A free-text match (TextMatcher.match) shaped by `then` in the same thread-pool call,
    counted and timed for /metrics; 503 while the model is unavailable."""
    started = time.perf_counter()

    def answer() -> Shaped:
        return then(service.matching.match(body, listing_type=listing_type, explain=explain))

    try:
        shaped = await run_in_threadpool(answer)
    except (ConfigurationError, PermanentError, TransientError) as error:
        raise ApiError(503, "matching_unavailable", sanitize(str(error))) from None
    metrics.inc(metrics.SIMILAR_REQUESTS, method="text")
    metrics.observe(metrics.SIMILAR_LATENCY, time.perf_counter() - started, method="text")
    return shaped
