"""Reads on the event loop (jobsim.storage.async_reads) against the real PostgreSQL server: rows
exactly as the engine gives them, a dropped connection replaced without an error, an
unreachable server reported in time; and the similar route serving its cached page through it,
or through the engine when it cannot."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from jobsim.serving import SimilarFilters, list_query
from jobsim.settings import Settings
from jobsim.storage.async_reads import AsyncReads, ReadUnavailable
from jobsim.storage.engine import Database
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe
from tests.conftest import POSTGRES_SERVER, truncate_all
from tests.integration.test_api import create_corpus, run_worker
from tests.support.app_client import open_client

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tokyo_db(postgres_url: str) -> Any:
    """The test database, every connection's time zone set to Asia/Tokyo (not UTC)."""
    db = Database(postgres_url + "?options=-cTimeZone%3DAsia/Tokyo")
    truncate_all(db)
    yield db
    db.dispose()


def read_both(db: Database, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    statement = list_query(VectorRecipe.from_settings(Settings(embedder="fake:384")).model)

    async def on_loop() -> list[Any]:
        reads = AsyncReads(db)
        try:
            return await reads.rows(statement, params)
        finally:
            await reads.close()

    with db.read() as session:
        engine_rows = session.execute(statement, params).all()
    return asyncio.run(on_loop()), engine_rows


def test_rows_read_on_the_loop_equal_the_engines_whatever_the_server_time_zone(
    tokyo_db: Database,
) -> None:
    settings = Settings(database_url=tokyo_db.url, embedder="fake:384")
    with open_client(settings, tokyo_db) as client:
        create_corpus(client)
    run_worker(settings, tokyo_db)
    params = {"posting_id": "anchor", "listing_type": "job", "now": utcnow()}

    on_loop, engine_rows = read_both(tokyo_db, params)

    assert len(on_loop) >= 3
    assert [tuple(row) for row in on_loop] == [tuple(row) for row in engine_rows]
    assert on_loop[0].created_at.utcoffset().total_seconds() == 0
    assert on_loop[0].similar_computed_at.isoformat().endswith("+00:00")
    assert on_loop[0].embedding == "anchor" and on_loop[0].score > 0


@pytest.fixture
def db(postgres_url: str) -> Any:
    """The test database (PostgreSQL only: SQLite reads need no loop driver)."""
    database = Database(postgres_url)
    truncate_all(database)
    yield database
    database.dispose()


def test_a_connection_the_server_dropped_is_replaced_without_an_error(db: Database) -> None:
    database = db.engine.url.database

    async def scenario() -> list[int]:
        reads = AsyncReads(db)
        try:
            first = await reads.rows(list_query("m"), _params())
            with db.engine.connect() as admin:
                admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                )
            second = await reads.rows(list_query("m"), _params())
            return [len(first), len(second)]
        finally:
            await reads.close()

    assert asyncio.run(scenario()) == [0, 0]


def test_an_unreachable_server_is_reported_in_seconds() -> None:
    db = Database(POSTGRES_SERVER.rsplit(":", 1)[0] + ":1/nowhere")

    async def scenario() -> float:
        reads = AsyncReads(db)
        started = time.monotonic()
        try:
            with pytest.raises(ReadUnavailable):
                await reads.rows(list_query("m"), _params())
            return time.monotonic() - started
        finally:
            await reads.close()

    try:
        assert asyncio.run(scenario()) < 10
    finally:
        db.dispose()


def _params() -> dict[str, Any]:
    return {"posting_id": "none", "listing_type": "job", "now": utcnow()}


# --- the similar route -------------------------------------------------------------------------


@pytest.fixture
def pg_board(postgres_url: str, db: Database) -> Any:
    settings = Settings(database_url=postgres_url, embedder="fake:384")
    with open_client(settings, db) as client:
        create_corpus(client)
        run_worker(settings, db)
        yield client


def engine_selects(db: Database, client: TestClient, path: str) -> tuple[Any, list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    return response.json(), [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def full_answer(client: TestClient, posting_id: str) -> dict[str, Any]:
    service = client.app.state.service  # type: ignore[attr-defined]
    answer: dict[str, Any] = service.similar.for_posting(posting_id, SimilarFilters()).model_dump(
        mode="json", by_alias=True
    )
    return answer


def test_the_similar_route_reads_its_cached_page_on_the_loop(
    pg_board: TestClient, db: Database
) -> None:
    answer, selects = engine_selects(db, pg_board, "/api/jobs/anchor/similar")

    assert answer["method"] == "semantic" and len(answer["data"]) >= 3
    assert answer == full_answer(pg_board, "anchor")
    assert selects == []  # nothing through the engine (and its thread pool)


def test_when_the_loop_cannot_read_the_route_answers_through_the_engine(
    pg_board: TestClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app: Any = pg_board.app
    working = app.state.reads
    unreachable = Database(POSTGRES_SERVER.rsplit(":", 1)[0] + ":1/nowhere")
    app.state.reads = AsyncReads(unreachable)
    try:
        with caplog.at_level(logging.WARNING, logger="jobsim.api"):
            answer, selects = engine_selects(db, pg_board, "/api/jobs/anchor/similar")
    finally:
        pg_board.portal.call(app.state.reads.close)  # type: ignore[union-attr]
        app.state.reads = working
        unreachable.dispose()

    assert answer == full_answer(pg_board, "anchor")
    assert selects  # the engine answered
    assert any("read through the engine" in r.getMessage() for r in caplog.records)
