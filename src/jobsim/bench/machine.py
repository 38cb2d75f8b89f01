"""What the benchmark ran on: cores, CPU model, memory, and the versions that matter."""

from __future__ import annotations

import os
import platform
from importlib import metadata

import psutil

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
        ("versions", f"python {platform.python_version()}; " + "; ".join(_versions())),
    ]


def _versions() -> list[str]:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return found
