"""Shared fixtures: every storage-touching test runs on a real SQLite file and on the real
PostgreSQL server (JOBSIM_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.storage.models import Base

# Tests see the same vectors whatever dictionaries the machine has installed; the glossary tests
# point at dictionaries they write themselves (or, where named, at the installed ones).
os.environ["JOBSIM_GLOSSARY_DIR"] = ""

POSTGRES_SERVER = os.environ.get("JOBSIM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


def _admin_execute(sql: str) -> None:
    engine = create_engine(
        POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    name = f"jobsim_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES_SERVER}/{name}"
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(db: Database) -> None:
    with db.engine.begin() as connection:
        if db.is_sqlite:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        else:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobsim.db'}"
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        return url
    url: str = request.getfixturevalue("postgres_url")
    db = Database(url)
    truncate_all(db)
    db.dispose()
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        embedder="fake:64",
        # One view and no neighbour expansion keep stored vectors equal to the embedder's own
        # output, which many tests compare against; tests of the multi-view mix and of the
        # expansion set vector_views and vector_expansion themselves.
        vector_views="full:1",
        vector_expansion=0,
        heartbeat_seconds=0.2,
        lease_seconds=5,
        poll_seconds=0.05,
        retry_base_seconds=0.01,
        retry_cap_seconds=0.05,
        shutdown_grace_seconds=5,
        maintenance_seconds=3600,
        min_score=0.05,
        match_min_score=0.05,
    )
