"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from jobsim.api.deps import get_service
from jobsim.api.schemas import HealthStatus
from jobsim.service import Service

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("/live", response_model=HealthStatus)
async def live() -> dict[str, Any]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready", response_model=HealthStatus, responses={503: {"model": HealthStatus}})
async def ready(service: Annotated[Service, Depends(get_service)]) -> Any:
    """The database answers; otherwise 503 so a load balancer stops routing here."""
    try:
        await run_in_threadpool(service.db.ping)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, 503)
    return {"status": "ready"}
