"""The reliability harness: an append-only execution log, worker processes that write it and can
be killed, stopped, frozen and resumed, a TCP proxy the test can cut, the scale knob and the
figures each scenario prints.

A worker process here is `python -m tests.support.chaos_worker WORKER_ID LOG` (see that module):
the production Worker with its settings from JOBSIM_* variables, appending one JSON line to the
log for every claim it makes and every vector it stores (after the transaction commits).
"""

from __future__ import annotations

import contextlib
import json
import os
import select as io_select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jobsim.storage.engine import Database
from jobsim.storage.models import Worker as WorkerRow

ROOT = Path(__file__).resolve().parents[2]
SCALE_VARIABLE = "JOBSIM_RELIABILITY_SCALE"
RESULTS_VARIABLE = "JOBSIM_RELIABILITY_RESULTS"


def scale() -> float:
    """1 = the short CI version (the default); larger values lengthen the soaks."""
    return max(float(os.environ.get(SCALE_VARIABLE, "1") or 1), 0.01)


def scaled(short: int, full: int) -> int:
    """`short` at scale 1, `full` at scale 10 and beyond, in proportion between."""
    factor = min((scale() - 1) / 9, 1.0) if scale() > 1 else 0.0
    return round(short + (full - short) * factor) if scale() <= 10 else round(full * scale() / 10)


def report(scenario: str, backend: str, **figures: Any) -> None:
    """Print a scenario's figures (read them with `pytest -s`) and append them, as one JSON
    line, to $JOBSIM_RELIABILITY_RESULTS when it is set (docs/reliability.md is built from it)."""
    line = {"scenario": scenario, "backend": backend, "scale": scale(), **figures}
    print(f"\n[reliability] {json.dumps(line, sort_keys=True, default=str)}", flush=True)
    target = os.environ.get(RESULTS_VARIABLE)
    if target:
        with open(target, "a", encoding="utf-8") as sink:
            sink.write(json.dumps(line, sort_keys=True, default=str) + "\n")


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    step: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> float:
    """Seconds it took `condition` to hold; AssertionError naming `what` (and `detail()`) after
    `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f}s{extra}")
        time.sleep(step)
    return time.monotonic() - started


# --- the execution log ---------------------------------------------------------------------


class ExecutionLog:
    """One JSON object per line, appended with a single write() on an O_APPEND descriptor, so
    lines from many processes never interleave and a kill -9 loses at most the line not yet
    written (never half of one already there)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, **record: Any) -> None:
        line = (json.dumps({"t": time.time(), "pid": os.getpid(), **record}) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            if not raw.strip():
                continue
            record = json.loads(raw)
            if event is None or record.get("event") == event:
                records.append(record)
        return records


# --- worker processes ------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    id: str
    popen: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.popen.send_signal(signum)

    def kill(self) -> float:
        """SIGKILL; the time.time() of the kill once the process is gone."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        return time.time()

    def tail(self) -> str:
        return self.output.read_text(errors="replace")[-3000:] if self.output.exists() else ""


@dataclass
class Cluster:
    """Worker processes on one database, all logging to one ExecutionLog."""

    directory: Path
    settings: dict[str, str]
    log: ExecutionLog
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    _count: int = 0

    @classmethod
    def create(cls, directory: Path, database_url: str, **settings: str) -> Cluster:
        defaults = {
            "database_url": database_url,
            "embedder": "fake:64",
            "vector_views": "full:1",
            "glossary_dir": "",
            "log_level": "WARNING",
            "log_format": "text",
            "maintenance_seconds": "3600",
        }
        return cls(directory, {**defaults, **settings}, ExecutionLog(directory / "executions.log"))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSIM_")}
        env.update({f"JOBSIM_{k.upper()}": v for k, v in self.settings.items()})
        env.update(self.extra_env)
        env.update(extra)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, module: str = "tests.support.chaos_worker", **extra: str) -> WorkerProcess:
        self._count += 1
        worker_id = f"chaos-{self._count}"
        output = self.directory / f"{worker_id}.out"
        with output.open("wb") as sink:
            popen = subprocess.Popen(
                [sys.executable, "-m", module, worker_id, str(self.log.path)],
                env=self.env(**extra),
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        process = WorkerProcess(worker_id, popen, output)
        self.workers.append(process)
        return process

    def running(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive()]

    def wait_registered(self, db: Database, timeout: float = 60.0) -> None:
        """Until every live worker has its row (its signal handlers are in place by then: a
        process still importing dies of SIGTERM like any program)."""

        def registered() -> bool:
            with db.read() as session:
                ids = set(session.scalars(select(WorkerRow.id)))
            return all(w.id in ids for w in self.running())

        wait_until(registered, timeout, "workers registered")

    def stop_all(self, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM to every live worker (SIGCONT first, in case it is frozen); exit codes."""
        for worker in self.running():
            worker.signal(signal.SIGCONT)
            worker.signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for worker in self.workers:
            try:
                codes[worker.id] = worker.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                worker.popen.kill()
                worker.popen.wait(timeout=10)
                codes[worker.id] = None
        return codes

    def outputs(self) -> str:
        return "\n".join(f"--- {w.id} (rc={w.popen.poll()})\n{w.tail()}" for w in self.workers)


# --- a TCP proxy the test can cut ------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> forwarding to `target`. `cut()` drops every open connection and refuses
    new ones (closes them at once) until `restore()`: a database outage without touching the
    shared server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._closing = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._listener.close()
        self._drop_all()
        self._thread.join(timeout=5)

    def cut(self) -> None:
        self._up.clear()
        self._drop_all()

    def restore(self) -> None:
        self._up.set()

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while self._up.is_set():
                readable, _, _ = io_select.select(sockets, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()


def iter_lines(path: Path) -> Iterator[str]:
    if path.exists():
        yield from path.read_text(errors="replace").splitlines()


# --- the brute-force list oracle, vectorised ------------------------------------------------


def assert_lists_match_oracle(
    db: Database, settings: Any, model: str, *, now: Any = None
) -> dict[str, list[str]]:
    """Scenario 14: every stored similar list equals the brute-force top-N over the stored
    vectors of `model` (the rules of tests/integration/test_worker.py's `assert_lists_exact`,
    as matrix operations so thousands of postings check in seconds). Equal scores may swap
    places, so a list is compared as its scores in order plus, per entry, the pair's score.
    Returns the lists checked."""
    import numpy as np

    from jobsim.postings.listed import is_listed
    from jobsim.postings.schema import EXPERIENCE_LEVELS
    from jobsim.storage.models import Embedding, Posting, SimilarEntry
    from jobsim.storage.types import utcnow

    levels = list(EXPERIENCE_LEVELS)
    with db.read() as session:
        postings = {p.id: p for p in session.scalars(select(Posting))}
        rows = session.execute(
            select(Embedding.posting_id, Embedding.vector).where(Embedding.model == model)
        ).all()
        entries = list(session.scalars(select(SimilarEntry)))
    now = now or utcnow()
    vectors = {pid: np.frombuffer(raw, dtype="<f4") for pid, raw in rows}
    ids = sorted(pid for pid in postings if pid in vectors and is_listed(postings[pid], now))
    index = {pid: n for n, pid in enumerate(ids)}
    lists: dict[str, list[Any]] = {pid: [] for pid in ids}
    for entry in entries:
        assert entry.similar_id in index, f"{entry.similar_id} in a list but not listed"
        assert entry.posting_id in index, f"{entry.posting_id} has a list but is not listed"
        assert entry.similar_id != entry.posting_id
        lists[entry.posting_id].append(entry)
    if not ids:
        return {}

    def norm(value: str | None) -> str:
        return value.strip().casefold() if value else ""

    matrix = np.stack([vectors[pid].astype(np.float64) for pid in ids])
    level = np.array(
        [
            levels.index(postings[p].experience_level)
            if postings[p].experience_level in levels
            else -1
            for p in ids
        ]
    )
    category = np.array([norm(postings[p].category) for p in ids], dtype=object)
    city = np.array([norm(postings[p].city) for p in ids], dtype=object)
    remote = np.array([bool(postings[p].remote) for p in ids])
    ws, wc = settings.weight_semantic, settings.weight_context
    result: dict[str, list[str]] = {}
    for start in range(0, len(ids), 512):
        rows_ = slice(start, min(start + 512, len(ids)))
        semantic = matrix[rows_] @ matrix.T
        both = (level[rows_, None] >= 0) & (level[None, :] >= 0)
        distance = np.abs(level[rows_, None] - level[None, :])
        by_distance = np.select([distance == 0, distance == 1, distance == 2], [0.5, 0.3, 0.1], 0.0)
        ctx = np.where(both, by_distance, 0.25)
        same_category = (category[rows_, None] == category[None, :]) & (category[rows_, None] != "")
        ctx = ctx + np.where(same_category, 0.3, 0.0)
        same_place = ((city[rows_, None] == city[None, :]) & (city[rows_, None] != "")) | (
            remote[rows_, None] & remote[None, :]
        )
        open_place = (
            (city[rows_, None] == "")
            | (city[None, :] == "")
            | remote[rows_, None]
            | (remote[None, :])
        )
        ctx = ctx + np.where(same_place, 0.2, np.where(open_place, 0.1, 0.0))
        ctx = np.minimum(ctx.astype(np.float64), 1.0)
        score = ws * semantic + wc * ctx
        for offset, pid in enumerate(ids[rows_]):
            row = score[offset].copy()
            row[index[pid]] = -np.inf
            candidates = np.flatnonzero(row >= settings.min_score)
            best = candidates[np.argsort(-row[candidates], kind="stable")][: settings.top_n]
            actual = sorted(lists[pid], key=lambda e: -e.score)
            assert len(actual) == len(best), (pid, len(actual), len(best))
            expected_scores = row[best]
            got = np.array([e.score for e in actual])
            assert np.allclose(got, expected_scores, atol=1e-5), (pid, got, expected_scores)
            for entry in actual:
                other = index[entry.similar_id]
                assert abs(entry.score - score[offset, other]) <= 1e-5, (pid, entry.similar_id)
                assert abs(entry.semantic - semantic[offset, other]) <= 1e-5
                assert abs(entry.context - ctx[offset, other]) <= 1e-5
            result[pid] = [e.similar_id for e in actual]
    return result
