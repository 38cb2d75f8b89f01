"""How the in-memory index scales: the work one new posting costs at 10k-100k postings.

For each size it builds a VectorIndex of clustered unit vectors (jobsim.bench's, shaped like
real ones) with the default vector width
(384 full + 384 title + 512 lexical = 1280 dims), then times what the worker does per posting:
its own top-10 and the decision of which other lists it enters (both full scans). It prints the
machine, versions, milliseconds per posting, the index memory, and the ratio to recomputing
every list one query at a time, which a system without reverse insertion would need to get
the new posting into the lists where it belongs.

    .venv/bin/python benchmarks/index_scale.py [--sizes 10000,50000,100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata

import numpy as np

from jobsim.bench.scoring import build_index
from jobsim.bench.vectors import anchors_for, synthetic
from jobsim.similarity import ScoringConfig, VectorIndex

DIMS = 1280


def build(size: int, rng: np.random.Generator) -> VectorIndex:
    """Clustered unit vectors shaped like real ones, full cached lists (jobsim.bench)."""
    return build_index(synthetic(anchors_for(DIMS, 400, rng), size, rng), rng)


def per_posting_ms(index: VectorIndex, rounds: int) -> tuple[float, float]:
    config = ScoringConfig()
    now = datetime.now(UTC)
    ids = [f"p{i}" for i in range(rounds)]
    start = time.perf_counter()
    for posting_id in ids:
        index.top_n(
            index.vector(posting_id), index.meta(posting_id), config, now, exclude=[posting_id]
        )
    own = (time.perf_counter() - start) / rounds * 1000
    start = time.perf_counter()
    for posting_id in ids:
        index.lists_it_enters(posting_id, config, now)
    enters = (time.perf_counter() - start) / rounds * 1000
    return own, enters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; python "
        f"{platform.python_version()}; numpy {np.__version__}; jobsim {metadata.version('jobsim')}"
    )
    print(f"vector width {DIMS} float32; {args.rounds} postings timed per size\n")
    print(
        "| postings | index MB | own top-10 ms | lists it enters ms | new posting total ms "
        "| all lists recomputed one query each, s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        index = build(size, rng)
        own, enters = per_posting_ms(index, args.rounds)
        naive = own / 1000 * size  # every list recomputed once
        megabytes = index.matrix.nbytes / 2**20
        print(
            f"| {size} | {megabytes:.0f} | {own:.1f} | {enters:.1f} | {own + enters:.1f} | "
            f"{naive:.0f} | {naive * 1000 / (own + enters):.0f}x |"
        )


if __name__ == "__main__":
    main()
