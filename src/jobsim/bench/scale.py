"""Figure 7: the exact top-10 at a million postings, and the approximate index (HNSW) that
replaces it there: its recall@10 against exact float32 and its speed-up, same vectors."""

from __future__ import annotations

import time

import numpy as np

from jobsim.ann import ApproximateIndex
from jobsim.bench.config import FULL
from jobsim.bench.run import BenchRun
from jobsim.bench.table import Figure
from jobsim.bench.vectors import synthetic
from jobsim.similarity import FloatArray

EXACT_MS = 50.0
RECALL = 0.98
SPEEDUP = 10.0
QUERIES = 100


def exact_top10(vectors: FloatArray, query: FloatArray) -> np.ndarray:
    scores = vectors @ query
    rows = np.argpartition(-scores, 10)[:10]
    return rows[np.argsort(-scores[rows])]


def recall_at_10(
    vectors: FloatArray, index: ApproximateIndex, rng: np.random.Generator, queries: int
) -> tuple[float, float, float]:
    """(recall@10, exact ms, approximate ms): mean recall over `queries` stored rows, and the
    median time of each method's top-10 (each query a posting of the board, itself included)."""
    recalls, exact_s, approximate_s = [], [], []
    for row in rng.integers(0, len(vectors), queries):
        query = vectors[row]
        started = time.perf_counter()
        truth = exact_top10(vectors, query)
        exact_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        found, _ = index.search(query, 10)
        approximate_s.append(time.perf_counter() - started)
        recalls.append(len(set(truth.tolist()) & set(found.tolist())) / 10)
    return (
        float(np.mean(recalls)),
        float(np.median(exact_s)) * 1000,
        float(np.median(approximate_s)) * 1000,
    )


def scale_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    rows, dims = config.scale_rows, config.scale_dims
    with run.step(f"figure 7: {rows:,} x {dims}, exact and HNSW"):
        vectors = synthetic(run.real_anchors(dims), rows, run.rng)
        index = ApproximateIndex(dims)
        started = time.perf_counter()
        index.add(vectors)
        build_s = time.perf_counter() - started
        recall, exact_ms, approximate_ms = recall_at_10(vectors, index, run.rng, QUERIES)
    run.measured.update(hnsw_s=approximate_ms / 1000, hnsw_rows=rows)
    size = run.size_note(rows, FULL.scale_rows, "postings")
    what = f"{rows:,} x {dims}{size}"
    return [
        Figure(
            "7a",
            f"a top-10 at this size: the faster of exact ({exact_ms:.1f} ms) and HNSW where "
            f"its recall@10 >= {RECALL}, {what}",
            min(exact_ms, approximate_ms) if recall >= RECALL else exact_ms,
            "ms",
            "<=",
            EXACT_MS,
        ),
        Figure(
            "7b",
            f"HNSW (usearch, float16) recall@10 against exact float32, {what}, "
            f"built in {build_s:.0f} s",
            recall,
            "",
            ">=",
            RECALL,
        ),
        Figure(
            "7c",
            f"exact ({exact_ms:.1f} ms) / HNSW ({approximate_ms:.2f} ms) top-10, {what}",
            exact_ms / approximate_ms,
            "x",
            ">=",
            SPEEDUP,
        ),
    ]
