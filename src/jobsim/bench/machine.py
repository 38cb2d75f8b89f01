"""What the benchmark ran on: cores, CPU model, memory, the host's speed at the start, and the
versions that matter."""

from __future__ import annotations

import os
import platform
from importlib import metadata

import numpy as np
import psutil

from jobsim.bench.run import best_seconds

PACKAGES = (
    "jobsim",
    "numpy",
    "torch",
    "sentence-transformers",
    "sqlalchemy",
    "psycopg",
    "fastapi",
    "uvicorn",
    "usearch",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> list[tuple[str, str]]:
    memory_gib = psutil.virtual_memory().total / 2**30
    return [
        (
            "machine",
            f"{os.cpu_count()} cores, {cpu_model()}, {memory_gib:.0f} GiB memory, "
            f"{platform.system()} {platform.release()}, load average "
            f"{os.getloadavg()[0]:.1f} at start",
        ),
        ("speed", host_speed()),
        ("versions", f"python {platform.python_version()}; " + "; ".join(_versions())),
    ]


def host_speed() -> str:
    """The two speeds most figures follow, measured in a second: a float32 matrix product
    (what scoring a batch costs) and one streaming pass over memory (what a scan costs). Hosts
    of a shared pool differ by 2-3x in both, and so do the figures' absolute times."""
    rng = np.random.default_rng(0)
    square = rng.standard_normal((1024, 1024), dtype=np.float32)
    product = best_seconds(lambda: square @ square, 5)
    flat = rng.standard_normal(2**25, dtype=np.float32)  # 128 MiB, far beyond any cache
    stream = best_seconds(flat.max, 5)
    return (
        f"matrix product {2 * 1024**3 / product / 1e9:.0f} GFLOP/s, memory "
        f"{flat.nbytes / stream / 1e9:.1f} GB/s (one pass), at start"
    )


def _versions() -> list[str]:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found
