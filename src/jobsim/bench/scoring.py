"""Figures 2 and 8: scoring against the memory limit, a batch of new postings, and the seed's
per-candidate cosine loop."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import numpy as np

from jobsim.bench.config import FULL
from jobsim.bench.run import BenchRun, best_seconds
from jobsim.bench.table import Figure
from jobsim.bench.vectors import list_floors, synthetic
from jobsim.expansion import expand
from jobsim.postings.schema import EXPERIENCE_LEVELS
from jobsim.row_facts import PostingMeta
from jobsim.settings import Settings
from jobsim.similarity import FloatArray, ScoringConfig, VectorIndex

CATEGORIES = [f"category {i}" for i in range(30)]
CITIES = [f"city {i}" for i in range(50)]
QUERIES = 20


def memory_bandwidth(matrix: FloatArray) -> float:
    """Bytes per second of one streaming pass over `matrix`: the fastest of 5 runs of the
    fastest numpy reductions (max; a dot product of the data with itself)."""
    flat = matrix.reshape(-1)
    seconds = min(best_seconds(flat.max, 5), best_seconds(lambda: flat @ flat, 5))
    return matrix.nbytes / seconds


def build_index(vectors: FloatArray, rng: np.random.Generator | None = None) -> VectorIndex:
    """A VectorIndex over `vectors` with varied metadata and full cached lists whose lowest
    score is about what a real top-10 would hold (see `list_floors`)."""
    index = VectorIndex(vectors.shape[1], capacity=len(vectors))
    floors = list_floors(vectors, rng or np.random.default_rng(0))
    for i, vector in enumerate(vectors):
        meta = PostingMeta(
            category=CATEGORIES[i % 30],
            city=CITIES[i % 50],
            remote=i % 7 == 0,
            experience_level=EXPERIENCE_LEVELS[i % len(EXPERIENCE_LEVELS)],
        )
        index.upsert(f"p{i}", vector, meta)
        index.set_list_state(f"p{i}", 10, float(floors[i]))
    return index


def scoring_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    with run.step(f"figure 2: index of {config.scan_rows:,} x {config.scan_dims}"):
        vectors = synthetic(run.real_anchors(config.scan_dims), config.scan_rows, run.rng)
        index = build_index(vectors, run.rng)
        bandwidth = memory_bandwidth(index.matrix)
        own_ms = _own_top10_ms(index)
        batch_ms = _new_batch_ms(index, config.new_batch)
        run.measured["flops"] = _matrix_product_flops(index, config.new_batch)
    floor_ms = index.matrix.nbytes / bandwidth * 1000
    size = run.size_note(config.scan_rows, FULL.scan_rows, "rows")
    return [
        Figure(
            "2a",
            f"one posting's top-10, {config.scan_rows:,} x {config.scan_dims} float32 "
            f"(bandwidth {bandwidth / 1e9:.1f} GB/s, scan floor {floor_ms:.1f} ms){size}",
            own_ms,
            "ms",
            "<=",
            1.5 * floor_ms,
        ),
        Figure(
            "2b",
            f"batch of {config.new_batch} new postings: neighbour expansion, own lists + "
            "insertion into others, "
            f"{config.scan_rows:,} x {config.scan_dims}{size}",
            batch_ms,
            "ms",
            "<=",
            150.0,
        ),
    ]


def _own_top10_ms(index: VectorIndex) -> float:
    """Median of one posting's top-10 (score, listed filter, context bonus, selection)."""
    config = ScoringConfig()
    now = datetime.now(UTC)
    last = index.ids[-1]
    index.top_n(index.vector(last), index.meta(last), config, now)  # warm-up: first touch
    times = []
    for i in range(QUERIES):
        posting_id = f"p{i * 7}"
        vector, meta = index.vector(posting_id), index.meta(posting_id)
        started = time.perf_counter()
        index.top_n(vector, meta, config, now, exclude=[posting_id])
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000


def _new_batch_ms(index: VectorIndex, batch: int) -> float:
    """What the worker's list engine asks the index for a batch of new postings, in its order:
    their neighbour expansion (the default's, jobsim.expansion) before they are stored, one
    prepared matrix product, every posting's own top-10, then the lists each enters
    (SimilarityEngine.postings_embedded)."""
    config = ScoringConfig()
    now = datetime.now(UTC)
    ids = [f"p{i}" for i in range(len(index) - batch, len(index))]
    vectors = np.vstack([index.vector(posting_id) for posting_id in ids])
    neighbours = Settings().vector_expansion

    def one_batch() -> None:
        expand(index, vectors, ["job"] * len(ids), neighbours, exclude=ids)
        index.prepare(ids)
        for posting_id in ids:
            index.top_n(
                index.vector(posting_id), index.meta(posting_id), config, now, exclude=[posting_id]
            )
        for posting_id in ids:
            index.lists_it_enters(posting_id, config, now)

    return best_seconds(one_batch, 3) * 1000


def _matrix_product_flops(index: VectorIndex, batch: int) -> float:
    ids = index.ids[:batch]
    seconds = best_seconds(lambda: index.prepare(ids), 3)
    return 2.0 * len(index) * index.dims * batch / seconds


# --- figure 8: the seed's algorithm ---------------------------------------------------------

SEED_LEVELS = ("entry", "junior", "mid", "senior", "lead", "executive")


def seed_cosine(a: list[float], b: list[float]) -> float:
    """The seed's cosineSimilarity, ported line by line (validation, loop, clamp)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    dot = norm_a = norm_b = 0.0
    for x, y in zip(a, b, strict=True):
        if math.isnan(x) or math.isnan(y):
            return 0.0
        dot += x * y
        norm_a += x * x
        norm_b += y * y
    norm_a, norm_b = math.sqrt(norm_a), math.sqrt(norm_b)
    if norm_a == 0 or norm_b == 0:
        return 0.0
    similarity = dot / (norm_a * norm_b)
    if not math.isfinite(similarity):
        return 0.0
    return max(-1.0, min(1.0, similarity))


def seed_context(job: PostingMeta, other: PostingMeta) -> float:
    """The seed's calculateContextScore."""
    score = 0.0
    if job.experience_level and other.experience_level:
        if job.experience_level == other.experience_level:
            score += 0.5
        elif job.experience_level in SEED_LEVELS and other.experience_level in SEED_LEVELS:
            distance = abs(
                SEED_LEVELS.index(job.experience_level) - SEED_LEVELS.index(other.experience_level)
            )
            score += {1: 0.3, 2: 0.1}.get(distance, 0.0)
    else:
        score += 0.25
    if job.category and job.category == other.category:
        score += 0.3
    if (job.city and job.city == other.city) or (job.remote and other.remote):
        score += 0.2
    elif job.remote or other.remote:
        score += 0.1
    return min(score, 1.0)


def seed_top10(
    query: list[float], meta: PostingMeta, candidates: list[tuple[list[float], PostingMeta]]
) -> list[tuple[int, float]]:
    """The seed's computeSimilarities: every candidate in a loop, then sort (no sleeps)."""
    scored = [
        (i, 0.9 * seed_cosine(query, vector) + 0.1 * seed_context(meta, other))
        for i, (vector, other) in enumerate(candidates)
    ]
    scored.sort(key=lambda item: -item[1])
    return scored[:10]


def seed_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    with run.step(f"figure 8: seed loop, {config.seed_candidates:,} x {config.seed_dims}"):
        vectors = synthetic(run.real_anchors(config.seed_dims), config.seed_candidates, run.rng)
        index = build_index(vectors)
        as_lists = [
            (index.vector(posting_id).tolist(), index.meta(posting_id)) for posting_id in index.ids
        ]
        query, meta = as_lists[0]
        started = time.perf_counter()
        seed_top10(query, meta, as_lists)
        seed_s = time.perf_counter() - started
        ours_s = _own_top10_ms(index) / 1000
    return [
        Figure(
            "8",
            f"seed's per-candidate cosine loop ({seed_s * 1000:,.0f} ms) / jobsim's scoring "
            f"({ours_s * 1000:.2f} ms), {config.seed_candidates:,} x {config.seed_dims}"
            + run.size_note(config.seed_candidates, FULL.seed_candidates, "candidates"),
            seed_s / ours_s,
            "x",
            ">=",
            100.0,
        )
    ]
