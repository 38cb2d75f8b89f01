"""What every benchmark group shares in one run: the configuration, the seeded random
generator, a scratch folder, the real embeddings that synthetic vectors are shaped after, and
progress lines on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jobsim.bench.config import BenchConfig
from jobsim.bench.vectors import anchors_for, fit_width
from jobsim.similarity import FloatArray


@dataclass
class BenchRun:
    config: BenchConfig
    folder: Path
    quiet: bool = False
    anchors: FloatArray | None = None  # real embeddings of generated postings (figure 1)
    notes: list[str] = field(default_factory=list)  # the scaling simulation's table
    # What the scaling simulation is built from, measured by the groups before it: the model's
    # postings/s per worker, memory bandwidth (bytes/s), matrix-product speed (flop/s), and
    # one claim + complete round trip (s).
    measured: dict[str, float] = field(default_factory=dict)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.config.seed)

    @property
    def scaled(self) -> bool:
        return self.config.name != "full"

    def size_note(self, value: int, full_value: int, what: str) -> str:
        """' (quick: 10,000 postings)' where this run measures less than the full run."""
        return f" ({self.config.name}: {value:,} {what})" if value < full_value else ""

    def real_anchors(self, dims: int) -> FloatArray:
        if self.anchors is None or len(self.anchors) < 8:
            return anchors_for(dims, 400, self.rng)
        return fit_width(self.anchors, dims, self.rng)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.log(f"{name} ...")
        yield
        self.log(f"{name} done in {time.perf_counter() - started:.1f} s")


def best_seconds(action: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs of a no-argument callable: on a shared machine the fastest
    is the closest to the cost alone."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.array(seconds), q)) * 1000
