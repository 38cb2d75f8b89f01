"""An in-process client of the jobsim app (FastAPI's TestClient over a real database)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from jobsim.api.app import create_app
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database


def open_client(settings: Settings, db: Database) -> TestClient:
    """The app for these settings and this database; use it as a context manager so its
    start-up and shutdown run."""
    return TestClient(create_app(settings, Service(settings, db)))
