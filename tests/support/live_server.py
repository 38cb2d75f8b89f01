"""Real processes for browser tests: a jobsim deployment (`jobsim serve`, `jobsim worker` as
subprocesses on one SQLite file, each on a free local port), a static web site served from a
folder (a job board's pages, on a port of its own) and Debian's Chromium for Playwright."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Playwright

from jobsim.storage import migrate
from jobsim.storage.engine import Database

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium (Playwright's own browser download is never used)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(run scripts/bootstrap.sh as root, or apt-get install -y chromium)",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


@dataclass
class Deployment:
    """jobsim on one SQLite file in `directory`. `settings` (names without the JOBSIM_ prefix,
    lower case) reach every process it starts; the caller's own JOBSIM_* variables never do."""

    directory: Path
    settings: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    @classmethod
    def on_sqlite(cls, directory: Path, **settings: str) -> Deployment:
        database_url = f"sqlite:///{directory / 'jobsim.db'}"
        db = Database(database_url)
        migrate.upgrade(db)
        db.dispose()
        defaults = {
            "database_url": database_url,
            "glossary_dir": "",
            "log_level": "WARNING",
            "log_format": "text",
        }
        return cls(directory, {**defaults, **settings})

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSIM_")}
        env.update({f"JOBSIM_{k.upper()}": v for k, v in {**self.settings, **extra}.items()})
        return env

    def start(self, name: str, *args: str, **extra: str) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("wb") as sink:
            popen = subprocess.Popen(
                [sys.executable, "-m", "jobsim.cli", *args],
                env=self.env(**extra),
                cwd=self.directory,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def run(self, *args: str, timeout: float = 120.0, **extra: str) -> str:
        """A jobsim command run to its end (e.g. `worker --burst`); its output."""
        done = subprocess.run(
            [sys.executable, "-m", "jobsim.cli", *args],
            env=self.env(**extra),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"jobsim {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def serve(self, **extra: str) -> str:
        """Start `jobsim serve` on a free port; its base URL once it answers."""
        port = free_port()
        process = self.start(f"serve-{port}", "serve", "--port", str(port), **extra)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                pytest.fail(f"jobsim serve exited early:\n{process.output()}")
            try:
                if httpx.get(f"{base_url}/api/health/live", timeout=1).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"jobsim serve did not answer within {START_TIMEOUT}s:\n{process.output()}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticSite:
    """The files of `directory` over HTTP on a free local port, from a thread (`with` it)."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
