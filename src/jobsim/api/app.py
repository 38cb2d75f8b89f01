"""FastAPI app factory: routers, one error renderer, trace ids and a body size limit."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    asynccontextmanager,
)
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobsim import __version__, language
from jobsim.api.ratelimit import RequestRate
from jobsim.api.security import ApiError
from jobsim.errors import Conflict, NotFound, ValidationFailed, describe_validation_errors
from jobsim.logs import current_trace_id, trace
from jobsim.runtime_settings import LogLevelFollower
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.async_reads import AsyncReads

log = logging.getLogger("jobsim.api")
TRACE_HEADER = "X-Trace-Id"
REQUEST_ID_HEADER = "X-Request-ID"
_TRACE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(
    settings: Settings | None = None,
    service: Service | None = None,
    *,
    alongside: Callable[[], AbstractContextManager[object]] | None = None,
) -> FastAPI:
    """The app. `alongside` is entered at start-up and left at shutdown, before the server
    exits (`jobsim serve --with-worker` runs its worker there, so the worker stops gracefully)."""
    from jobsim.api import admin, businesses, health, jobs, metrics, similar, yellow_books
    from jobsim.dashboard import router as dashboard_router
    from jobsim.widget import install_cors
    from jobsim.widget import router as widget_router

    settings = settings or (service.settings if service else Settings())
    app = FastAPI(
        title="jobsim",
        version=__version__,
        description="Semantic similar-jobs engine: push postings, read fresh similar lists.",
        lifespan=_lifespan(settings, service, alongside),
    )
    app.state.settings = settings
    app.state.failed_logins = RequestRate(settings.admin_failed_auth_per_minute)
    app.state.match_rate = RequestRate(settings.match_requests_per_minute)
    app.include_router(jobs.router)
    app.include_router(similar.router)
    app.include_router(businesses.router)
    app.include_router(yellow_books.seed)
    app.include_router(health.router)
    app.include_router(health.probes)
    app.include_router(metrics.router)
    app.include_router(admin.router)
    app.include_router(dashboard_router)
    app.include_router(widget_router)
    _install_middleware(app, settings)
    install_cors(app, settings)  # outermost, so every answer (errors too) carries its headers
    _install_error_handlers(app)
    return app


def _lifespan(
    settings: Settings,
    given: Service | None,
    alongside: Callable[[], AbstractContextManager[object]] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up: open the database (unless the caller handed over a service, which it keeps
    owning) and load the language model, so the first request does not pay for it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = given or Service(settings)
        language.warm_up()
        app.state.service = service
        app.state.log_level = LogLevelFollower(service.db, settings.heartbeat_seconds)
        app.state.reads = None if service.db.is_sqlite else AsyncReads(service.db)
        companions = ExitStack()
        if alongside is not None:
            companions.enter_context(alongside())
        try:
            yield
        finally:
            await run_in_threadpool(companions.close)
            if app.state.reads is not None:
                await app.state.reads.close()
            if given is None:
                service.db.dispose()

    return lifespan


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    # Plain ASGI classes, not @app.middleware("http") (BaseHTTPMiddleware): that runs the rest
    # of the app in a task of its own and streams its answer through a memory channel: the two
    # cost about 0.5 ms of CPU a request (docs/performance.md, "Serving"). The last added runs
    # first: the trace ids, then the log level, then the body size limit (its 413 has the id).
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(FollowLogLevel)
    app.add_middleware(TraceIds)


class TraceIds:
    """Every HTTP request runs under a trace id, and every answer names it (X-Trace-Id and
    X-Request-ID). A board's own request id (X-Request-ID, else X-Trace-Id) becomes the trace
    id, so its logs and ours meet; anything that does not look like an id is replaced, never
    logged. An unhandled error is answered here with a 500 in the error shape (with the trace
    id), rather than by the app-wide handler, which re-raises after its 500 so uvicorn drops the
    connection: a keep-alive client's next request on it got "connection reset"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER) or headers.get(TRACE_HEADER, "")
        with trace(incoming if _TRACE_ID.match(incoming) else None) as current:
            started = False

            async def send_with_ids(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    message.setdefault("headers", [])
                    answer = MutableHeaders(scope=message)
                    answer[TRACE_HEADER] = current
                    answer[REQUEST_ID_HEADER] = current
                await send(message)

            try:
                await self.app(scope, receive, send_with_ids)
            except Exception:
                if started:  # too late for another answer; the server ends the connection
                    raise
                log.exception("unhandled error")
                response = _error(
                    500, "internal_error", "internal server error; quote the trace id"
                )
                await response(scope, receive, send_with_ids)


class FollowLogLevel:
    """Before an HTTP request, takes up the log level an operator stored (admin API), when it
    is due to be read again (LogLevelFollower, on app.state.log_level from start-up)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = getattr(scope.get("app"), "state", None)
            follower: LogLevelFollower | None = getattr(state, "log_level", None)
            if follower is not None and follower.due():
                try:
                    await run_in_threadpool(follower.follow)
                except SQLAlchemyError:  # the probes must still answer while the database is down
                    log.warning("could not read the runtime log level; keeping the current one")
        await self.app(scope, receive, send)


class BodySizeLimit:
    """413 for a body over `limit` bytes: from Content-Length up front, or, for a body without
    one (chunked), by reading it up to the limit before the app sees it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._reject(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return body

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds {self.limit} bytes"
        await _error(413, "payload_too_large", message)(scope, receive, send)


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


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """A 405's Allow header (RFC 9110): every method some route answers on this path, found by
    asking the routes (Route.matches) as for a request with that method. The router's own names
    only the first route that matched the path, so GET /api/jobs hid POST /api/jobs."""
    path = {
        "type": "http",
        "path": request.scope["path"],
        "root_path": request.scope.get("root_path", ""),
        "headers": [],
        "query_string": b"",
    }
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**path, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(
            422,
            "validation_failed",
            "the request is invalid",
            describe_validation_errors(list(exc.errors())),
        )

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status_code, exc.error, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(Conflict)
    async def on_conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(ValidationFailed)
    async def on_validation(_: Request, exc: ValidationFailed) -> JSONResponse:
        return _error(422, "validation_failed", str(exc))

    @app.exception_handler(NotFound)
    async def on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, "http_error", str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    @app.exception_handler(OperationalError)
    async def on_database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        # Unreachable, restarting, or (SQLite) still locked after the busy timeout: the client
        # may try again; never a 500, and no driver text (it names hosts and users).
        log.warning("database unavailable", extra={"error": type(exc.orig).__name__})
        response = _error(
            503, "database_unavailable", "the database is unavailable; try again shortly"
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _error(500, "internal_error", "internal server error; quote the trace id")
