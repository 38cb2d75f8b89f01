"""The worker with the index settings on, on SQLite and PostgreSQL: with the approximate index
(Settings.index_search = "hnsw") lists found through the HNSW graph are the exact lists, and
new and deleted postings reach them; with float16 storage the lists are those of float32."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from jobsim.ann import HnswVectorIndex
from jobsim.postings.writer import PostingWriter
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting, SimilarEntry
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker
from tests.integration.test_worker import (
    NEAR_PY_BERLIN,
    POSTINGS,
    assert_lists_exact,
    create,
    expected_context,
    lists_holding,
    similar_ids,
    stored_vectors,
)

CITIES = ("Berlin", "Munich", "Hamburg", "Vienna")
EMPLOYERS = ("a logistics firm", "a hospital group", "a retailer", "a bank")


def variants() -> dict[str, dict[str, Any]]:
    """Four variants of each posting (another city and employer): a board larger than the
    graph's candidate count, so lists come from the graph, not a scan."""
    board = dict(POSTINGS)
    for posting_id, fields in POSTINGS.items():
        for i, (city, employer) in enumerate(zip(CITIES, EMPLOYERS, strict=True)):
            board[f"{posting_id}-{i}"] = {
                **fields,
                "description": f"{fields['description']} Join {employer} in {city}.",
                "location": {"city": city},
            }
    return board


@pytest.fixture
def hnsw(settings: Settings) -> Settings:
    return settings.model_copy(update={"index_search": "hnsw", "top_n": 3})


def test_a_worker_with_the_approximate_index_writes_and_keeps_exact_lists(
    db: Database, hnsw: Settings
) -> None:
    board = variants()
    for posting_id, fields in board.items():
        create(db, posting_id, **fields)
    worker = Worker(hnsw, db, FakeEmbedder())
    worker.run(burst=True)
    index = worker.engine.index
    assert isinstance(index, HnswVectorIndex)
    assert len(index.graph) == len(board) > hnsw.top_n * 10
    assert all(assert_lists_exact(db, hnsw).values())

    create(db, "py-new", **NEAR_PY_BERLIN)
    worker.run(burst=True)
    assert "py-new" in similar_ids(db, "py-berlin")
    with db.write() as session:
        PostingWriter().delete(session, "py-munich")
    worker.run(burst=True)
    assert lists_holding(db, "py-munich") == []
    assert_lists_exact(db, hnsw)


def brute_force_lists(db: Database, settings: Settings) -> dict[str, list[str]]:
    """Each posting's top-N by float64 scores over the stored (float32) vectors."""
    with db.read() as session:
        postings = {p.id: p for p in session.scalars(select(Posting))}
    vectors = stored_vectors(db)
    lists = {}
    for pid, vector in vectors.items():
        scored = [
            (
                settings.weight_semantic * float(vector.astype(np.float64) @ other_vector)
                + settings.weight_context * expected_context(postings[pid], postings[other]),
                other,
            )
            for other, other_vector in vectors.items()
            if other != pid
        ]
        kept = sorted(item for item in scored if item[0] >= settings.min_score)[::-1]
        lists[pid] = [other for _, other in kept[: settings.top_n]]
    return lists


def test_a_worker_with_float16_storage_writes_the_float32_lists(
    db: Database, settings: Settings
) -> None:
    compact = settings.model_copy(update={"index_storage": "float16", "top_n": 3})
    board = variants()
    for posting_id, fields in board.items():
        create(db, posting_id, **fields)
    worker = Worker(compact, db, FakeEmbedder())
    worker.run(burst=True)
    assert worker.engine.index.matrix.dtype == np.float16
    expected = brute_force_lists(db, compact)
    with db.read() as session:
        entries = list(session.scalars(select(SimilarEntry)))
    stored: dict[str, set[str]] = {pid: set() for pid in board}
    for entry in entries:
        stored[entry.posting_id].add(entry.similar_id)
    found = sum(len(stored[pid] & set(ids)) for pid, ids in expected.items())
    assert found / sum(len(ids) for ids in expected.values()) >= 0.99
