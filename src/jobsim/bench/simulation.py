"""The scaling section: what happens past one machine, simulated from this run's measurements.

Each worker (one per host) loops: claim a batch (a short statement; PostgreSQL runs claims
side by side, SKIP LOCKED), embed it (the model's measured rate), then hold the similarity
lock while it scores the batch against every vector (one matrix product at the measured
speed, or one HNSW search per posting) and writes the lists. A discrete-event simulation runs
W such workers against one lock and one database for simulated minutes and reports the
postings/s, how busy the lock is, how long a worker waits for it, and each worker's memory.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from jobsim.bench.run import BenchRun

WORKERS = (4, 16, 64)
POSTINGS = (1_000_000, 10_000_000, 50_000_000)
BATCH = 32
DIMS = 1280
DB_CORES = 16  # assumed: a PostgreSQL host running that many claims at once
LIST_WRITE_S = 0.0004  # assumed, per posting: its list and the lists it enters, written
BASE_MB = 400.0
# Measured: usearch's graph of 1,000,000 float16 vectors at connectivity 32 takes 1,602 MB at
# 384 dimensions, 768 bytes of vector and about 834 of links and levels a node.
GRAPH_LINK_BYTES = 834
SIMULATED_S = 600.0
WORKER_MEMORY_LIMIT_GB = 64.0  # a worker host; beyond it one index per worker stops fitting


@dataclass(frozen=True)
class Inputs:
    model_rate: float  # postings/s one worker's model embeds
    flops: float  # matrix-product speed of one worker
    claim_s: float  # one claim + complete round trip
    hnsw_s: float  # one HNSW top-k search at hnsw_rows postings (grows with log N)
    hnsw_rows: int


@dataclass(frozen=True)
class Outcome:
    workers: int
    postings: int
    exact: bool
    rate: float  # postings/s through the whole system
    lock_busy: float  # share of time the similarity lock is held
    lock_wait_s: float  # mean wait for it per batch
    memory_gb: float  # per worker


def lock_hold_s(inputs: Inputs, postings: int, exact: bool) -> float:
    """Seconds one batch holds the similarity lock."""
    if exact:
        scoring = 2.0 * postings * DIMS * BATCH / inputs.flops
    else:
        scoring = BATCH * inputs.hnsw_s * np.log(postings) / np.log(inputs.hnsw_rows)
    return float(scoring + BATCH * LIST_WRITE_S)


def memory_gb(postings: int, exact: bool) -> float:
    """Per worker: the base, the index (figure 6a's 1.2 x its vectors) and, for the exact scan,
    the batch's scores against every row (VectorIndex.prepare: a float32 per row and posting).
    HNSW: the index's float16 matrix (lists are rescored exactly from it), the graph's own
    float16 copy and its links; it prepares no scores."""
    vector_bytes = DIMS * 4 if exact else DIMS * 2 + DIMS * 2 + GRAPH_LINK_BYTES
    batch_scores = BATCH * postings * 4 if exact else 0
    return (BASE_MB * 2**20 + 1.2 * postings * vector_bytes + batch_scores) / 2**30


def simulate(inputs: Inputs, workers: int, postings: int, exact: bool, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    hold = lock_hold_s(inputs, postings, exact)
    embed = BATCH / inputs.model_rate
    events: list[tuple[float, int]] = [(float(rng.uniform(0, embed)), w) for w in range(workers)]
    heapq.heapify(events)
    lock_free_at = 0.0
    db_free_at = [0.0] * DB_CORES
    busy = waited = 0.0
    batches = 0
    while events:
        now, worker = heapq.heappop(events)
        if now > SIMULATED_S:
            break
        core = int(np.argmin(db_free_at))
        claimed = max(now, db_free_at[core]) + inputs.claim_s
        db_free_at[core] = claimed
        embedded = claimed + embed * float(rng.uniform(0.9, 1.1))
        start = max(embedded, lock_free_at)
        waited += start - embedded
        lock_free_at = start + hold
        busy += hold
        batches += 1
        heapq.heappush(events, (lock_free_at, worker))
    return Outcome(
        workers,
        postings,
        exact,
        batches * BATCH / SIMULATED_S,
        min(1.0, busy / SIMULATED_S),
        waited / max(batches, 1),
        memory_gb(postings, exact),
    )


def scaling_table(run: BenchRun) -> list[str]:
    measured = run.measured
    inputs = Inputs(
        measured.get("model_rate", 25.0),
        measured.get("flops", 5e10),
        measured.get("claim_s", 0.005),
        measured.get("hnsw_s", 0.001),
        int(measured.get("hnsw_rows", 1_000_000)),
    )
    lines = [
        f"Simulated {SIMULATED_S:.0f} s per row from this run's measurements: model "
        f"{inputs.model_rate:.1f} postings/s per worker, matrix product "
        f"{inputs.flops / 1e9:.0f} GFLOP/s, claim + complete {inputs.claim_s * 1000:.1f} ms, "
        f"HNSW search {inputs.hnsw_s * 1000:.2f} ms at {inputs.hnsw_rows:,} postings; "
        f"batch {BATCH}, {DIMS} dims, {DB_CORES} database cores.",
        "",
        "| workers | postings | index | claims/s | postings/s | lock busy | lock wait per batch "
        "| memory per worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for postings in POSTINGS:
        for workers in WORKERS:
            for exact in (True, False):
                o = simulate(inputs, workers, postings, exact, seed=workers + postings)
                fits = "" if o.memory_gb <= WORKER_MEMORY_LIMIT_GB else " (does not fit)"
                index = "exact float32" if exact else "HNSW float16"
                lines.append(
                    f"| {workers} | {postings:,} | {index} | {o.rate / BATCH:,.1f} "
                    f"| {o.rate:,.0f} | {o.lock_busy:.0%} | {o.lock_wait_s:.2f} s "
                    f"| {o.memory_gb:,.1f} GB{fits} |"
                )
    return lines
