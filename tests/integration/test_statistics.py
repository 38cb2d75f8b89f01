"""Planner statistics during a bulk load (jobsim.storage.statistics): on PostgreSQL a worker
analyzes the tables a load fills each time its vectors doubled; SQLite never needs it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text

from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import PostingWriter
from jobsim.settings import Settings
from jobsim.storage import statistics
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.storage.statistics import GrowthAnalyzer
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker

AT = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def add_vectors(db: Database, start: int, count: int) -> None:
    ids = [f"p{n}" for n in range(start, start + count)]
    posting = {"title": "t", "description": "d", "content_hash": "h", "created_at": AT}
    vector = {"model": "m", "dims": 1, "content_hash": "h", "vector": b"\0" * 4, "seq": 1}
    with db.write() as session:
        session.execute(insert(Posting), [{**posting, "id": i, "updated_at": AT} for i in ids])
        session.execute(
            insert(Embedding), [{**vector, "posting_id": i, "created_at": AT} for i in ids]
        )


def planned_rows(db: Database, table: str) -> float:
    """The row count PostgreSQL's planner believes `table` has (-1: never analyzed)."""
    with db.read() as session:
        return float(
            session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table})
        )


def test_a_worker_analyzes_the_tables_it_fills_each_time_its_vectors_doubled(
    db: Database,
) -> None:
    analyzer = GrowthAnalyzer(db)
    assert analyzer.observe(0) is False  # the baseline: what was there had autovacuum
    add_vectors(db, 0, 1_000)
    assert analyzer.observe(999) is False
    assert analyzer.observe(1_000) is (not db.is_sqlite)
    if db.is_sqlite:
        return
    assert planned_rows(db, "embeddings") == 1_000
    add_vectors(db, 1_000, 1_000)
    assert analyzer.observe(1_999) is False
    assert analyzer.observe(2_000) is True
    assert planned_rows(db, "embeddings") == 2_000


def test_a_worker_that_starts_on_a_loaded_database_leaves_it_to_autovacuum(
    db: Database,
) -> None:
    analyzer = GrowthAnalyzer(db)
    assert analyzer.observe(100_000) is False
    assert analyzer.observe(150_000) is False
    assert analyzer.observe(200_000) is (not db.is_sqlite)


def test_a_worker_analyzes_as_its_batches_double_the_vectors(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker observes its index after each batch: with batches of 2 and a first ANALYZE at
    4 vectors, the second batch's vectors are in PostgreSQL's statistics (autovacuum leaves a
    table of a few rows alone)."""
    monkeypatch.setattr(statistics, "FIRST_ANALYZE_ROWS", 4)
    with db.write() as session:
        for n, title in enumerate(["Python developer", "Nurse", "Driver", "Cook"]):
            PostingWriter().create(
                session,
                PostingIn(
                    id=f"job-{n}",
                    title=title,
                    description=f"{title} wanted for a busy team in the city centre.",
                ),
            )
    Worker(settings.model_copy(update={"batch_size": 2}), db, FakeEmbedder()).run(burst=True)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Embedding)) == 4
    if not db.is_sqlite:
        assert planned_rows(db, "embeddings") == 4
