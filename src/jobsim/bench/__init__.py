"""`jobsim bench`: reproducible benchmarks on generated postings, one table of figures, each
against its target as a ratio to a reference measured in the same run.

One module per group of figures (pipeline, scoring, serving, freshness, queueing, memory,
scale), the posting generator (postings), synthetic vectors shaped like real ones (vectors),
the table (table) and the scaling simulation (simulation).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from jobsim.bench.config import FULL, QUICK, TINY, BenchConfig
from jobsim.bench.machine import describe_machine
from jobsim.bench.run import BenchRun
from jobsim.bench.table import Figure, format_table

__all__ = ["FULL", "QUICK", "TINY", "BenchConfig", "BenchResult", "run_bench"]

Group = Callable[[BenchRun], list[Figure]]


class BenchResult:
    def __init__(self, header: list[tuple[str, str]], figures: list[Figure], notes: list[str]):
        self.header = header
        self.figures = figures
        self.notes = notes

    @property
    def table(self) -> str:
        return format_table(self.header, self.figures)

    @property
    def report(self) -> str:
        return self.table + "\n\n" + "\n".join(self.notes) if self.notes else self.table


def groups() -> list[Group]:
    """In order: figure 1 first (its real embeddings shape every later group's vectors)."""
    from jobsim.bench.freshness import freshness_figures
    from jobsim.bench.memory import memory_figures
    from jobsim.bench.pipeline import pipeline_figures
    from jobsim.bench.queueing import queue_figures
    from jobsim.bench.scale import scale_figures
    from jobsim.bench.scoring import scoring_figures, seed_figures
    from jobsim.bench.serving import serving_figures

    return [
        pipeline_figures,
        scoring_figures,
        serving_figures,
        freshness_figures,
        queue_figures,
        memory_figures,
        scale_figures,
        seed_figures,
    ]


def run_bench(config: BenchConfig, *, quiet: bool = False) -> BenchResult:
    from jobsim.bench.simulation import scaling_table

    header = [("run", _describe(config)), *describe_machine()]
    logging.getLogger("jobsim").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="jobsim-bench-") as folder:
        run = BenchRun(config, Path(folder), quiet=quiet)
        figures = [figure for group in groups() for figure in group(run)]
    return BenchResult(header, figures, scaling_table(run))


def _describe(config: BenchConfig) -> str:
    database = "SQLite and PostgreSQL" if config.database_url else "SQLite only (no --database)"
    return f"{config.name}; {database}; seed {config.seed}"
