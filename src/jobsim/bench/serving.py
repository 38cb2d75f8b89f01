"""Figure 3: GET /api/jobs/{id}/similar from 8 concurrent clients on loopback, at a board of
many postings with full cached lists, on SQLite and on PostgreSQL, served as an operator
would run it: `jobsim serve --workers N`, one API process per core."""

from __future__ import annotations

import http.client
import os
import threading
import time

import numpy as np

from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.processes import jobsim_env, server
from jobsim.bench.run import BenchRun, percentile_ms
from jobsim.bench.store import populate
from jobsim.bench.table import Figure
from jobsim.bench.vectors import synthetic
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe

CLIENTS = 8
EMBEDDER = "fake:384"  # serving never calls the model; the server starts without loading one
P99_MS = 10.0
RATE = 1_000.0


def api_processes() -> int:
    """One API process per core, as docs/operations.md advises."""
    return max(1, os.cpu_count() or 1)


def load(port: int, ids: list[str], requests: int) -> tuple[list[float], float]:
    """`requests` GETs spread over CLIENTS threads, each on its own keep-alive connection;
    returns each request's seconds and the requests per second over the whole run."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []
    rng = np.random.default_rng(len(ids))
    picks = [ids[int(i)] for i in rng.integers(0, len(ids), requests)]

    def client(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for posting_id in picks[k::CLIENTS]:
            started = time.perf_counter()
            connection.request("GET", f"/api/jobs/{posting_id}/similar")
            response = connection.getresponse()
            body = response.read()
            latencies[k].append(time.perf_counter() - started)
            if response.status != 200 or b'"semantic"' not in body:
                errors.append(f"{response.status} {body[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} bad answers, e.g. {errors[0]}")
    return [s for per_client in latencies for s in per_client], requests / elapsed


def serving_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    model = VectorRecipe.from_settings(Settings(embedder=EMBEDDER)).model
    dims = VectorRecipe.from_settings(Settings(embedder=EMBEDDER)).views.lexical_dims + 2 * 384
    vectors = synthetic(run.real_anchors(dims), config.serving_postings, run.rng)
    size = run.size_note(config.serving_postings, FULL.serving_postings, "postings")
    figures = []
    workers = api_processes()
    for label, server_url in (("SQLite", None), ("PostgreSQL", config.database_url)):
        what = f"{label}, {config.serving_postings:,} postings, {CLIENTS} clients, "
        what += f"{workers} API process" + ("es" if workers > 1 else "")
        first, second = ("3a", "3b") if label == "SQLite" else ("3c", "3d")
        if label == "PostgreSQL" and server_url is None:
            figures += [
                Figure.not_measured(first, f"GET similar p99, {what}", "ms", "<=", P99_MS),
                Figure.not_measured(
                    second, f"GET similar throughput, {what}", "requests/s", ">=", RATE
                ),
            ]
            continue
        with (
            run.step(f"figure 3: serving, {label}, {config.serving_postings:,} postings"),
            fresh_database(run, f"serving_{label.lower()}", server_url) as url,
        ):
            db = Database(url)
            try:
                ids = populate(db, model, vectors, seed=config.seed)
            finally:
                db.dispose()
            env = jobsim_env(url, EMBEDDER)
            with server(env, run.folder / f"serve-{label}.log", "--workers", str(workers)) as port:
                load(port, ids, CLIENTS * 10)  # warm-up: connections, caches
                latencies, rate = load(port, ids, config.serving_requests)
        what += size
        figures += [
            Figure(
                first,
                f"GET similar p99, {what}",
                percentile_ms(latencies, 99),
                "ms",
                "<=",
                P99_MS,
            ),
            Figure(
                second,
                f"GET similar throughput, {what}",
                rate,
                "requests/s",
                ">=",
                RATE,
            ),
        ]
    return figures
