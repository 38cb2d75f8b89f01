"""Figure 6: a worker's peak resident memory over start-up (its index loaded from a board of
stored vectors) and one full batch of new postings (claimed, embedded, scored against the
index and written into the lists); and the compact representation (the worker's index with
JOBSIM_INDEX_STORAGE=float16) against half of the float32 vectors, with its recall@10 against
exact float32 and its scan time."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.postings import generate_postings
from jobsim.bench.run import BenchRun
from jobsim.bench.scale import load, recall_and_times, top10_of
from jobsim.bench.store import populate
from jobsim.bench.table import Figure
from jobsim.bench.vectors import synthetic
from jobsim.embedders.registry import create_embedder
from jobsim.postings.store import PostingStore
from jobsim.settings import Settings
from jobsim.similarity import FloatArray, StoredArray, VectorIndex, scan
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

BASE_MB = 400.0
VECTOR_FACTOR = 1.2
COMPACT_SHARE = 0.5
COMPACT_RECALL = 0.99


@dataclass(frozen=True)
class WorkerMemory:
    loaded_rss: int  # bytes, once the index is loaded
    peak_rss: int  # bytes, the most the process held up to the end of its first batch
    indexed: int  # vectors in the index after the batch
    embedded: int  # postings the batch embedded


def peak_rss() -> int:
    """This process's resident high-water mark in bytes (Linux's VmHWM). Not ru_maxrss: that one
    carries over exec, so a spawned process would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return psutil.Process().memory_info().rss  # no VmHWM: the current size, a lower bound


def worker_rss(url: str, embedder: str, results: Any) -> None:
    """In a fresh process: a Worker with its model loaded and its index loaded from the
    database, then one batch of the postings waiting in the queue; puts a WorkerMemory."""
    from jobsim.worker import Worker

    settings = Settings(database_url=url, embedder=embedder)
    db = Database(url)
    worker = Worker(settings, db, create_embedder(embedder, settings))
    worker.embedder.check()
    with db.write() as session:
        worker.engine.begin(session)
    loaded = psutil.Process().memory_info().rss
    totals = worker.run(burst=True, max_batches=1)
    results.put(WorkerMemory(loaded, peak_rss(), len(worker.engine.index), totals.embedded))
    db.dispose()


def measure_rss(url: str, embedder: str) -> WorkerMemory:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=worker_rss, args=(url, embedder, results))
    process.start()
    measured: WorkerMemory = results.get(timeout=900)
    process.join()
    return measured


def queue_new_postings(url: str, settings: Settings, count: int, seed: int) -> None:
    """`count` generated postings imported and waiting for a worker (one full batch)."""
    db = Database(url)
    try:
        store = PostingStore(db, VectorRecipe.from_settings(settings).text)
        store.bulk_upsert(
            ("bench", record, None) for record in generate_postings(count, seed, "new")
        )
    finally:
        db.dispose()


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
    batch = settings.batch_size
    with run.step(f"figure 6: worker RSS, {count:,} x {dims} and a batch of {batch}, {embedder}"):
        with fresh_database(run, "memory") as url:
            db = Database(url)
            try:
                populate(db, model, vectors, seed=config.seed)
            finally:
                db.dispose()
            queue_new_postings(url, settings, batch, config.seed + 6)
            worker = measure_rss(url, embedder)
        if worker.embedded != batch or worker.indexed != count + batch:
            raise RuntimeError(
                f"the worker embedded {worker.embedded} of {batch} new postings and holds "
                f"{worker.indexed} of {count + batch} vectors"
            )
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
            f"worker peak RSS, {count:,} postings x {dims} float32 ({vector_mb:,.0f} MB of "
            f"vectors) and a batch of {batch} new postings, {embedder} loaded "
            f"({worker.loaded_rss / 2**20:,.0f} MB before the batch){size}",
            worker.peak_rss / 2**20,
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
