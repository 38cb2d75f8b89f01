"""Write-endpoint API key and admin token checks (header only, constant-time compare), and the
limit on failed admin logins."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from jobsim.admin import who_from_token

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


class FailedLogins:
    """Failed admin logins per client over the last minute (kept in this process)."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds this client must wait, or None when it may try."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) < self.limit:
                return None
            return max(math.ceil(recent[0] + self.window - time.monotonic()), 1)

    def record(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] <= time.monotonic() - self.window:
            recent.popleft()
        return recent


def _matches(given: str | None, expected: SecretStr) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8"), expected.get_secret_value().encode("utf-8")
    )


def require_api_key(request: Request) -> None:
    """When JOBSIM_API_KEY is set, write endpoints need it in the X-API-Key header."""
    expected: SecretStr | None = request.app.state.settings.api_key
    if expected is not None and not _matches(request.headers.get("x-api-key"), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid X-API-Key header")


def require_admin(request: Request) -> str:
    """The admin routes need `Authorization: Bearer <JOBSIM_ADMIN_TOKEN>`; returns who called
    (a hash of the token, for the audit log). Never open: no token configured is a 503."""
    expected: SecretStr | None = request.app.state.settings.admin_token
    if expected is None:
        raise ApiError(
            503,
            "admin_disabled",
            "the admin API is disabled: set JOBSIM_ADMIN_TOKEN to enable it",
        )
    failed: FailedLogins = request.app.state.failed_logins
    client = request.client.host if request.client else "unknown"
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
