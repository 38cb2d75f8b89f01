"""The similar route's read path (jobsim.serving.SimilarReader.answer), on a real SQLite file and
a real PostgreSQL server: the common case is answered from one query without building models,
and it answers exactly what the full path (for_posting) answers, in both shapes; and nothing is
kept between requests, so every change a posting can go through shows in the very next answer,
read by another API process (another app on its own service) than the one that wrote it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from jobsim.seed_format import SeedSimilarResponse, seed_answer
from jobsim.service import Service
from jobsim.serving import SimilarFilters
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.types import utcnow
from tests.integration.test_api import create, create_corpus, ids, run_worker
from tests.support.app_client import open_client

FILTERS = [
    SimilarFilters(),
    SimilarFilters(limit=1),
    SimilarFilters(limit=2, fill=0),
    SimilarFilters(min_score=0.5),
    SimilarFilters(min_score=1),
    SimilarFilters(exclude_same_company=True),
    SimilarFilters(remote_only=True),
    SimilarFilters(same_city=True),
    SimilarFilters(same_city=True, exclude_same_company=True, fill=0),
    SimilarFilters(fill=10),
    SimilarFilters(explain=True),
]


@pytest.fixture
def reader(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A second API process: its own app and service on the same database."""
    with open_client(settings, db) as client:
        yield client


def full_answer(service: Service, posting_id: str, filters: SimilarFilters) -> dict[str, Any]:
    return service.similar.for_posting(posting_id, filters).model_dump(mode="json", by_alias=True)


def read(reader: TestClient, posting_id: str) -> dict[str, Any]:
    """The similar list as the reader serves it, checked against the full path's answer."""
    response = reader.get(f"/api/jobs/{posting_id}/similar")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body == full_answer(reader.app.state.service, posting_id, SimilarFilters())
    return body


def titles(result: dict[str, Any]) -> dict[str, str]:
    return {item["id"]: item["title"] for item in result["data"]}


@pytest.fixture
def board(client: TestClient, settings: Settings, db: Database) -> TestClient:
    """The corpus embedded, with its lists; `client` is the writing API process."""
    create_corpus(client)
    run_worker(settings, db)
    return client


# --- the same answer ---------------------------------------------------------------------------


def test_the_answer_equals_the_full_path_for_every_filter_in_both_shapes(
    board: TestClient, settings: Settings, db: Database
) -> None:
    service = Service(settings, db)
    board.post("/api/jobs/remote/close")
    board.patch("/api/jobs/colleague", json={"salary": {"min": 1234.5, "currency": "PLN"}})
    create(board, id="unembedded", title="Python Backend Engineer")  # fallback and top-ups
    postings = ["anchor", "twin", "colleague", "local", "nurse", "unembedded"]
    methods = set()

    for posting_id in postings:
        for filters in FILTERS:
            answer = service.similar.answer(posting_id, filters)
            assert answer == full_answer(service, posting_id, filters), (posting_id, filters)
            methods.add(answer["method"])
            seed = seed_answer(answer)
            assert SeedSimilarResponse.model_validate(seed).model_dump(by_alias=True) == seed
            params = {k: v for k, v in vars(filters).items() if v is not None and v is not False}
            served = board.get(f"/api/jobs/{posting_id}/similar", params=params)
            assert served.json() == answer
            as_seed = board.get(
                f"/api/jobs/{posting_id}/similar", params={**params, "format": "seed"}
            )
            assert as_seed.json() == seed

    assert methods == {"semantic", "fallback"}
    assert board.get("/api/jobs/unknown/similar").status_code == 404


def test_a_full_page_of_an_embedded_posting_is_read_with_one_select(
    board: TestClient, settings: Settings, db: Database
) -> None:
    service = Service(settings, db)
    with driver_statements(db) as statements:
        result = service.similar.answer("anchor")

    assert result["method"] == "semantic" and len(result["data"]) >= 3
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    if db.is_sqlite:  # what the driver ran, seen by SQLite itself: no BEGIN, no ROLLBACK
        assert statements == selects, statements


@contextmanager
def driver_statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run while the block runs: on SQLite as the library itself traces
    them (the serving read bypasses the engine), on PostgreSQL as the engine sends them."""
    statements: list[str] = []
    if not db.is_sqlite:

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return

    def trace(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    def untrace(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    event.listen(db.engine.pool, "checkout", trace)
    event.listen(db.engine.pool, "checkin", untrace)
    try:
        yield statements
    finally:
        event.remove(db.engine.pool, "checkout", trace)
        event.remove(db.engine.pool, "checkin", untrace)


# --- nothing stale -----------------------------------------------------------------------------


def test_an_edit_of_a_listed_posting_shows_in_the_next_answer(
    board: TestClient, reader: TestClient
) -> None:
    assert titles(read(reader, "anchor"))["colleague"] == "Python Backend Developer"

    board.patch("/api/jobs/colleague", json={"title": "Python Backend Developer (Payments)"})
    after = read(reader, "anchor")

    assert titles(after)["colleague"] == "Python Backend Developer (Payments)"
    board.patch("/api/jobs/colleague", json={"company": "Hooli", "location": {"remote": True}})
    item = next(i for i in read(reader, "anchor")["data"] if i["id"] == "colleague")
    assert (item["company"], item["location"]["remote"]) == ("Hooli", True)
    remote_only = reader.get("/api/jobs/anchor/similar", params={"remote_only": True}).json()
    assert "colleague" in ids(remote_only)


def test_a_closed_deleted_or_reopened_posting_leaves_and_returns_at_once(
    board: TestClient, reader: TestClient
) -> None:
    before = ids(read(reader, "anchor"))
    assert {"twin", "colleague"} <= set(before)

    board.post("/api/jobs/twin/close")
    assert "twin" not in ids(read(reader, "anchor"))
    board.patch("/api/jobs/twin", json={"status": "active"})
    assert ids(read(reader, "anchor")) == before
    board.delete("/api/jobs/colleague")
    assert ids(read(reader, "anchor")) == [i for i in before if i != "colleague"]
    board.patch("/api/jobs/twin", json={"status": "draft"})
    assert ids(read(reader, "anchor")) == [i for i in before if i not in ("colleague", "twin")]


def test_a_posting_expires_from_the_answers_when_its_time_comes_without_any_write(
    board: TestClient, reader: TestClient
) -> None:
    expires = utcnow() + timedelta(seconds=1)
    board.patch("/api/jobs/twin", json={"expires_at": expires.isoformat()})
    assert "twin" in ids(read(reader, "anchor"))

    time.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.05)

    assert "twin" not in ids(read(reader, "anchor"))


def test_a_list_rewritten_by_a_worker_shows_in_the_next_answer(
    board: TestClient, reader: TestClient, settings: Settings, db: Database
) -> None:
    before = read(reader, "anchor")
    twin = board.get("/api/jobs/twin").json()
    copy = {k: twin[k] for k in ("title", "description", "company", "category", "tags")}
    create(board, id="second-twin", **copy, location={"city": "Munich"}, experience_level="senior")
    assert read(reader, "anchor") == before  # not embedded yet: the list is as it was

    run_worker(settings, db)
    after = read(reader, "anchor")

    assert ids(after)[:2] in (["twin", "second-twin"], ["second-twin", "twin"])
    assert after["computed_at"] is not None


def test_the_posting_itself_changing_shows_at_once(board: TestClient, reader: TestClient) -> None:
    def others(**params: Any) -> list[str]:
        response = reader.get("/api/jobs/anchor/similar", params={"fill": 0, **params})
        assert response.json() == full_answer(
            reader.app.state.service, "anchor", SimilarFilters(fill=0, **params)
        )
        return ids(response.json())

    assert "colleague" not in others(exclude_same_company=True)  # acme, like the anchor
    assert "remote" in others(exclude_same_company=True)  # Initech

    board.patch("/api/jobs/anchor", json={"company": "Initech"})

    assert "colleague" in others(exclude_same_company=True)
    assert "remote" not in others(exclude_same_company=True)
    board.delete("/api/jobs/anchor")
    assert reader.get("/api/jobs/anchor/similar").status_code == 404
