"""How big each benchmark group runs: the full run (the issue's sizes), --quick (scaled to
finish in under 3 minutes on 2 cores; each scaled figure says so in its label) and tiny (the
integration test)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BenchConfig:
    name: str
    database_url: str | None = None  # PostgreSQL for the figures that need it; None skips them
    model: str | None = None  # the embedder of figure 1's model line (None: the default model)
    # The embedder of the worker and server processes of figures 4 and 6 (None: the default
    # model; --quick uses the FakeEmbedder there: every process would load the model again).
    process_model: str | None = None
    seed: int = 2026
    model_postings: int = 512  # figure 1: postings through the model, raw and in the pipeline
    pipeline_postings: int = 20_000  # figure 1: FakeEmbedder postings per database
    scan_rows: int = 100_000  # figure 2
    scan_dims: int = 384
    new_batch: int = 64
    serving_postings: int = 100_000  # figure 3
    serving_requests: int = 4_000  # per database, over 8 clients
    freshness_samples: int = 30  # figure 4
    freshness_board: int = 200  # postings embedded and listed before the timing
    queue_tasks: int = 20_000  # figure 5: no-op tasks through 4 worker processes
    queue_workers: int = 4
    finished_tasks: int = 1_000_000  # figure 5: the EXPLAIN table
    memory_postings: int = 100_000  # figure 6
    scale_rows: int = 1_000_000  # figure 7
    scale_dims: int = 384
    seed_candidates: int = 5_000  # figure 8
    seed_dims: int = 1_536

    def with_database(self, url: str | None) -> BenchConfig:
        return replace(self, database_url=url)


FULL = BenchConfig("full")

QUICK = BenchConfig(
    "quick",
    process_model="fake:384",
    model_postings=64,
    pipeline_postings=200,
    scan_rows=50_000,
    serving_postings=2_000,
    serving_requests=800,
    freshness_samples=8,
    freshness_board=30,
    queue_tasks=3_000,
    finished_tasks=100_000,
    memory_postings=10_000,
    scale_rows=30_000,
    seed_candidates=2_000,
)

TINY = BenchConfig(
    "tiny",
    model="fake:384",
    process_model="fake:384",
    model_postings=32,
    pipeline_postings=60,
    scan_rows=5_000,
    new_batch=16,
    serving_postings=300,
    serving_requests=160,
    freshness_samples=2,
    freshness_board=20,
    queue_tasks=300,
    queue_workers=2,
    finished_tasks=2_000,
    memory_postings=1_000,
    scale_rows=5_000,
    seed_candidates=300,
)
