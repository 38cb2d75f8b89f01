"""The `client` fixture of the HTTP tests: the app with the test settings on the test database
(SQLite and PostgreSQL, tests/conftest.py). A module that needs other settings defines its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobsim.settings import Settings
from jobsim.storage.engine import Database
from tests.support.app_client import open_client


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with open_client(settings, db) as client:
        yield client
