"""Request-scoped helpers shared by the routers."""

from __future__ import annotations

from fastapi import Request

from jobsim.logs import current_trace_id
from jobsim.service import Service


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def trace_id() -> str | None:
    return current_trace_id()
