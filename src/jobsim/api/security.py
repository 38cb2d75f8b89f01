"""Write-endpoint API key and admin token checks (header only, constant-time compare)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from pydantic import SecretStr


def _matches(given: str | None, expected: SecretStr) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8"), expected.get_secret_value().encode("utf-8")
    )


def require_api_key(request: Request) -> None:
    """When JOBSIM_API_KEY is set, write endpoints need it in the X-API-Key header."""
    expected: SecretStr | None = request.app.state.settings.api_key
    if expected is not None and not _matches(request.headers.get("x-api-key"), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid X-API-Key header")
