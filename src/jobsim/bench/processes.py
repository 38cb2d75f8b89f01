"""`jobsim serve` and `jobsim worker` as child processes on a free loopback port, stopped
when the benchmark step ends."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def jobsim_env(database_url: str, embedder: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "JOBSIM_DATABASE_URL": database_url,
            "JOBSIM_EMBEDDER": embedder,
            "JOBSIM_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


@contextmanager
def child(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m jobsim.cli ARGS`, terminated (then killed) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobsim.cli", *args], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def server(env: dict[str, str], log: Path, *options: str) -> Iterator[int]:
    """A `jobsim serve [options]` on a free port, once it answers /readyz; yields the port."""
    port = free_port()
    with child(["serve", "--port", str(port), *options], env, log) as process:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jobsim serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield port


def _ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/readyz")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False
