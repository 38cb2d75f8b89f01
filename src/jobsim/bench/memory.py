"""Figure 6: a worker's resident memory once its index holds a board of stored vectors, and
the compact representation (the approximate index's float16 vectors and graph) against half
of the float32 vectors, with its recall against exact float32."""

from __future__ import annotations

import multiprocessing
from typing import Any

import psutil

from jobsim.ann import ApproximateIndex
from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.run import BenchRun
from jobsim.bench.scale import recall_at_10
from jobsim.bench.store import populate
from jobsim.bench.table import Figure
from jobsim.bench.vectors import synthetic
from jobsim.embedders.registry import create_embedder
from jobsim.settings import Settings
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
    with run.step(f"figure 6: compact index, {count:,} x {dims}"):
        compact = ApproximateIndex(dims)
        compact.add(vectors)
        recall = recall_at_10(vectors, compact, run.rng, queries=100)[0]
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
            f"compact representation (HNSW, float16 vectors + graph) / float32 vectors, "
            f"{count:,} x {dims}{size}",
            compact.memory_bytes / vectors.nbytes,
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
