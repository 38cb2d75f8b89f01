"""GET /api/jobs/{id}/similar: the cached semantic list, or the category/location fallback."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from jobsim import metrics
from jobsim.api.deps import get_service
from jobsim.api.jobs import ERRORS
from jobsim.postings.schema import ID_PATTERN
from jobsim.service import Service
from jobsim.serving import SimilarFilters, SimilarResponse

router = APIRouter(prefix="/api/jobs", tags=["similar"])


@router.get("/{posting_id}/similar", response_model=SimilarResponse, responses=ERRORS)
async def similar_postings(
    posting_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)],
    service: Annotated[Service, Depends(get_service)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
    exclude_same_company: bool = False,
    remote_only: bool = False,
    same_city: bool = False,
) -> SimilarResponse:
    filters = SimilarFilters(limit, min_score, exclude_same_company, remote_only, same_city)
    started = time.perf_counter()
    answer = await run_in_threadpool(service.similar.for_posting, posting_id, filters)
    metrics.inc(metrics.SIMILAR_REQUESTS, method=answer.method)
    metrics.observe(metrics.SIMILAR_LATENCY, time.perf_counter() - started, method=answer.method)
    return answer
