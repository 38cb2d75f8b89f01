"""Write-endpoint API key and admin token checks (header only, constant-time compare), and the
limit on failed admin logins."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from jobsim.admin import who_from_token
from jobsim.api.ratelimit import RequestRate, client_of

WINDOW_SECONDS = 60.0


class ApiError(Exception):
    """An HTTP error with its own code, rendered by the app's one error handler."""

    def __init__(
        self, status_code: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = headers or {}


def _matches(given: str | None, expected: SecretStr) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8"), expected.get_secret_value().encode("utf-8")
    )


async def require_api_key(request: Request) -> None:
    """When JOBSIM_API_KEY is set, write endpoints need it in the X-API-Key header."""
    expected: SecretStr | None = request.app.state.settings.api_key
    if expected is not None and not _matches(request.headers.get("x-api-key"), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid X-API-Key header")


async def require_admin(request: Request) -> str:
    """The admin routes need `Authorization: Bearer <JOBSIM_ADMIN_TOKEN>`; returns who called
    (a hash of the token, for the audit log). Never open: no token configured is a 503."""
    expected: SecretStr | None = request.app.state.settings.admin_token
    if expected is None:
        raise ApiError(
            503,
            "admin_disabled",
            "the admin API is disabled: set JOBSIM_ADMIN_TOKEN to enable it",
        )
    failed: RequestRate = request.app.state.failed_logins
    client = client_of(request)
    wait = failed.retry_after(client)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_attempts",
            "too many failed admin logins; try again later",
            {"Retry-After": str(wait)},
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _matches(token.strip(), expected):
        if token:  # a wrong guess; a request without any token guesses nothing
            failed.record(client)
        raise ApiError(
            401,
            "unauthorized",
            "missing or invalid admin token (Authorization: Bearer ...)",
            {"WWW-Authenticate": "Bearer"},
        )
    return who_from_token(token.strip())
