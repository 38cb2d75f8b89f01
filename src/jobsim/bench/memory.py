"""Figure 6: a worker's resident memory once its index holds a board of stored vectors, and
the compact representation (the worker's index with JOBSIM_INDEX_STORAGE=float16) against
half of the float32 vectors, with its recall@10 against exact float32 and its scan time."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import numpy as np
import psutil

from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.run import BenchRun
from jobsim.bench.scale import load, recall_and_times, top10_of
from jobsim.bench.store import populate
from jobsim.bench.table import Figure
from jobsim.bench.vectors import synthetic
from jobsim.embedders.registry import create_embedder
from jobsim.settings import Settings
from jobsim.similarity import FloatArray, StoredArray, VectorIndex, scan
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

BASE_MB = 400.0
VECTOR_FACTOR = 1.2
COMPACT_SHARE = 0.5
COMPACT_RECALL = 0.99


def worker_rss(url: str, embedder: str, results: Any) -> None:
    """In a fresh process: a Worker with its model loaded and its index loaded from the
    database, as after start-up and the first batch; puts (RSS bytes, postings in index)."""
    from jobsim.worker import Worker

    settings = Settings(database_url=url, embedder=embedder)
    db = Database(url)
    worker = Worker(settings, db, create_embedder(embedder, settings))
    worker.embedder.check()
    with db.write() as session:
        worker.engine.begin(session)
    results.put((psutil.Process().memory_info().rss, len(worker.engine.index)))
    db.dispose()


def measure_rss(url: str, embedder: str) -> tuple[int, int]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=worker_rss, args=(url, embedder, results))
    process.start()
    rss, loaded = results.get(timeout=900)
    process.join()
    return int(rss), int(loaded)


def exact_top10(vectors: FloatArray, query: FloatArray) -> set[str]:
    scores = vectors @ query
    return {str(row) for row in np.argpartition(-scores, 10)[:10]}


def scan_ms(matrix: StoredArray, vectors: FloatArray) -> float:
    """The median time of one full scan (jobsim.similarity.scan) over `matrix`."""
    times = []
    for query in vectors[:: max(1, len(vectors) // 20)]:
        started = time.perf_counter()
        scan(matrix, query)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000


def memory_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    embedder = config.process_model or Settings().embedder
    settings = Settings(embedder=embedder)
    vectorizer = PostingVectorizer(
        create_embedder(embedder, settings), VectorRecipe.from_settings(settings)
    )
    dims, model = vectorizer.dims, vectorizer.name
    count = config.memory_postings
    vectors = synthetic(run.real_anchors(dims), count, run.rng)
    with run.step(f"figure 6: worker RSS, {count:,} x {dims}, {embedder}"):
        with fresh_database(run, "memory") as url:
            db = Database(url)
            try:
                populate(db, model, vectors, seed=config.seed, with_lists=False)
            finally:
                db.dispose()
            rss, loaded = measure_rss(url, embedder)
        if loaded != count:
            raise RuntimeError(f"the worker loaded {loaded} of {count} vectors")
    with run.step(f"figure 6: float16 index, {count:,} x {dims}"):
        compact = load(VectorIndex(dims, capacity=count, storage="float16"), vectors)
        recall = recall_and_times(
            vectors, lambda q: exact_top10(vectors, q), top10_of(compact), run.rng, 100
        )[0]
        half_ms, full_ms = scan_ms(compact.matrix, vectors), scan_ms(vectors, vectors)
    vector_mb = vectors.nbytes / 2**20
    size = run.size_note(count, FULL.memory_postings, "postings")
    return [
        Figure(
            "6a",
            f"worker RSS, {count:,} postings x {dims} float32 ({vector_mb:,.0f} MB of "
            f"vectors), {embedder} loaded{size}",
            rss / 2**20,
            "MB",
            "<=",
            BASE_MB + VECTOR_FACTOR * vector_mb,
        ),
        Figure(
            "6b",
            f"compact representation (JOBSIM_INDEX_STORAGE=float16) / float32 vectors, "
            f"{count:,} x {dims}{size}; a scan {half_ms:.1f} ms against float32's "
            f"{full_ms:.1f} ms ({half_ms / full_ms:.2f}x)",
            compact.matrix.nbytes / vectors.nbytes,
            "x",
            "<=",
            COMPACT_SHARE,
        ),
        Figure(
            "6c",
            f"compact representation's recall@10 against exact float32, {count:,} x {dims}{size}",
            recall,
            "",
            ">=",
            COMPACT_RECALL,
        ),
    ]
