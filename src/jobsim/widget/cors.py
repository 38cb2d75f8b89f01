"""Cross-origin reads for the widget, from JOBSIM_CORS_ALLOWED_ORIGINS.

Only simple GET (and HEAD) requests are allowed, without credentials and without extra request
headers: enough for the widget's `fetch` of a similar list, while the admin API (which needs an
Authorization header, so a preflight) and every write stay unreadable from other origins.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from jobsim.settings import Settings


def allowed_origins(setting: str) -> list[str]:
    """`*`, or the comma-separated origins (a trailing slash dropped); empty = none."""
    origins = [origin.strip().rstrip("/") for origin in setting.split(",")]
    origins = [origin for origin in origins if origin]
    return ["*"] if "*" in origins else origins


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Add the CORS middleware when any origin is allowed (none: no cross-origin access)."""
    origins = allowed_origins(settings.cors_allowed_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_credentials=False,
            max_age=3600,
        )
