"""FastAPI app factory: routers, one error renderer, trace ids and a body size limit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobsim import __version__
from jobsim.errors import NotFound, ValidationFailed
from jobsim.jobs import describe_validation_errors
from jobsim.logs import current_trace_id, trace
from jobsim.service import Service
from jobsim.settings import Settings

log = logging.getLogger("jobsim.api")
TRACE_HEADER = "X-Trace-Id"


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    from jobsim.api import health, jobs, similar

    settings = settings or (service.settings if service else Settings())
    app = FastAPI(
        title="jobsim",
        version=__version__,
        description="Semantic similar-jobs engine: push postings, read fresh similar lists.",
    )
    app.state.settings = settings
    app.state.service = service or Service(settings)
    app.include_router(jobs.router)
    app.include_router(similar.router)
    app.include_router(health.router)
    _install_middleware(app, settings)
    _install_error_handlers(app)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def trace_and_limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(TRACE_HEADER, "")
        trace_id = incoming if incoming.isalnum() and len(incoming) <= 64 else None
        with trace(trace_id) as current:
            length = request.headers.get("content-length")
            if length is not None and (
                not length.isdigit() or int(length) > settings.max_body_bytes
            ):
                response: Response = _error(
                    413,
                    "payload_too_large",
                    f"request body exceeds {settings.max_body_bytes} bytes",
                )
            else:
                response = await call_next(request)
            response.headers[TRACE_HEADER] = current
            return response


def _error(
    status: int, error: str, message: str, detail: list[dict[str, str]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": error,
        "message": message,
        "detail": detail or [],
        "trace_id": current_trace_id(),
    }
    return JSONResponse(body, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(
            422,
            "validation_failed",
            "the request is invalid",
            describe_validation_errors(list(exc.errors())),
        )

    @app.exception_handler(ValidationFailed)
    async def on_validation(_: Request, exc: ValidationFailed) -> JSONResponse:
        return _error(422, "validation_failed", str(exc))

    @app.exception_handler(NotFound)
    async def on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _error(500, "internal_error", "internal server error; quote the trace id")
