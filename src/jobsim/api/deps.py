"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from fastapi import Request

from jobsim.logs import current_trace_id
from jobsim.service import Service


# Dependencies that only read request state are `async def`: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop on every request (docs/performance.md, "Serving").
async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def trace_id() -> str | None:
    return current_trace_id()
