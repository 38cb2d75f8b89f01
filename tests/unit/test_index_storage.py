"""VectorIndex with float16 storage: half the bytes, the same lists as float32."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jobsim.bench.vectors import anchors_for, synthetic
from jobsim.row_facts import PostingMeta
from jobsim.similarity import (
    IndexStorage,
    ScoringConfig,
    VectorIndex,
    scan,
    scan_many,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
CONFIG = ScoringConfig(min_score=0.3)
ROWS, DIMS = 3000, 96
CATEGORIES = ("Data", "Care", "Sales", "Kitchen")


def clustered(rows: int = ROWS, dims: int = DIMS, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return synthetic(anchors_for(dims, 200, rng), rows, rng)


def meta(i: int) -> PostingMeta:
    return PostingMeta(category=CATEGORIES[i % 4], city=("Berlin", "Munich")[i % 2])


def loaded(vectors: np.ndarray, storage: IndexStorage) -> VectorIndex:
    index = VectorIndex(vectors.shape[1], capacity=16, storage=storage)
    for i, vector in enumerate(vectors):
        index.upsert(f"p{i}", vector, meta(i))
    return index


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered()


@pytest.fixture(scope="module")
def pair(vectors: np.ndarray) -> tuple[VectorIndex, VectorIndex]:
    return loaded(vectors, "float32"), loaded(vectors, "float16")


def top_ids(index: VectorIndex, posting_id: str) -> list[str]:
    found = index.top_n(
        index.vector(posting_id), index.meta(posting_id), CONFIG, NOW, exclude=[posting_id]
    )
    return [m.posting_id for m in found]


def test_float16_storage_holds_half_the_bytes_and_grew_past_its_capacity(
    pair: tuple[VectorIndex, VectorIndex],
) -> None:
    exact, compact = pair
    assert compact.matrix.dtype == np.float16
    assert len(compact) == ROWS
    assert compact.matrix.nbytes * 2 == exact.matrix.nbytes


def test_float16_lists_match_float32_lists(pair: tuple[VectorIndex, VectorIndex]) -> None:
    exact, compact = pair
    recalls = []
    for i in range(0, ROWS, 15):
        truth, found = top_ids(exact, f"p{i}"), top_ids(compact, f"p{i}")
        assert len(found) == len(truth)
        recalls.append(len(set(truth) & set(found)) / max(len(truth), 1))
    assert np.mean(recalls) >= 0.99


def test_float16_scores_are_float32_and_close_to_exact(
    pair: tuple[VectorIndex, VectorIndex], vectors: np.ndarray
) -> None:
    exact, compact = pair
    query = vectors[11]
    score, semantic, context = compact.score_all(query, meta(11), CONFIG)
    reference = exact.score_all(query, meta(11), CONFIG)
    assert score.dtype == semantic.dtype == context.dtype == np.float32
    assert semantic == pytest.approx(reference[1], abs=2e-3)
    assert score == pytest.approx(reference[0], abs=2e-3)
    assert compact.vector("p11").dtype == np.float32


def test_prepare_gives_score_all_the_scores_of_a_fresh_scan(
    pair: tuple[VectorIndex, VectorIndex],
) -> None:
    _, compact = pair
    ids = [f"p{i}" for i in range(40, 72)]
    fresh = {p: compact.score_all(compact.vector(p), compact.meta(p), CONFIG)[1] for p in ids}
    compact.prepare(ids)
    for posting_id in ids:
        prepared = compact.score_all(compact.vector(posting_id), compact.meta(posting_id), CONFIG)
        assert prepared[1] == pytest.approx(fresh[posting_id], abs=1e-4)
    compact.prepare(())


def test_an_upsert_replaces_the_stored_float16_vector(vectors: np.ndarray) -> None:
    index = loaded(vectors[:200], "float16")
    index.upsert("p5", vectors[150], meta(5))
    assert index.vector("p5") == pytest.approx(vectors[150], abs=1e-3)
    assert top_ids(index, "p150")[0] == "p5"  # now a near-copy of p150


@pytest.mark.parametrize("rows", [0, 1, 5])
def test_the_float16_scans_agree_with_numpy(rows: int) -> None:
    vectors = clustered(max(rows, 2), 16)[:rows]
    queries = clustered(3, 16, seed=1)
    half = vectors.astype(np.float16)
    assert scan(half, queries[0]) == pytest.approx(vectors @ queries[0], abs=2e-3)
    assert scan_many(half, queries) == pytest.approx(queries @ vectors.T, abs=2e-3)
