"""Scenario 5 (graceful shutdown): SIGTERM with work in flight. Work that ends within the grace
period completes; work past it goes back to the queue without losing an attempt; nothing is
claimed after the signal; the exit code is 0.

The flake this settles: one SIGTERM test on PostgreSQL hung now and then. Cause: the worker's
Python-level signal handler ran `Worker._begin_shutdown` in the main thread, between two
bytecodes of whatever it was doing. Idle, the main thread sits in `Event.wait` on the very
event `stop()` sets; when the signal landed while `Event.wait` held that event's condition lock
(a plain, non-reentrant Lock), `Event.set` in the handler waited for it forever, the signal
watcher thread blocked behind it, and the grace thread was never started: the process hung
until SIGKILL. `test_signals_never_deadlock_the_process` reproduces it (about one hang in 40
signals before the fix); jobsim.shutdown now acts only from its watcher thread.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from jobsim import queue
from jobsim.storage.engine import Database
from jobsim.storage.models import Task
from tests.reliability.conftest import create_postings
from tests.support.chaos import ROOT, Cluster, backend_of, report, scaled, wait_until

SETTINGS = {
    "lease_seconds": "30",
    "heartbeat_seconds": "0.3",
    "poll_seconds": "0.05",
    "batch_size": "4",
    "min_score": "0.05",
}


def tasks(db: Database) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


def sigterm_in_first_batch(cluster: Cluster, embed_seconds: float) -> tuple[int, float, float]:
    """Start a worker whose embedding takes `embed_seconds`, SIGTERM it once it has claimed its
    first batch, and wait for it: (exit code, time signalled, time stopped). Exit code 0 is
    checked here."""
    worker = cluster.start(CHAOS_EMBED_SECONDS=str(embed_seconds))
    try:
        wait_until(lambda: cluster.log.read("claim"), 60, "a claim")
        signalled = time.time()
        worker.signal(signal.SIGTERM)
        code = worker.popen.wait(timeout=30)
        stopped = time.time()
    finally:
        worker.kill() if worker.alive() else None
    assert code == 0, worker.tail()
    return code, signalled, stopped


def test_sigterm_lets_a_batch_within_grace_finish_and_claims_nothing_more(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    create_postings(db, 12)
    cluster = Cluster.create(tmp_path, database_url, shutdown_grace_seconds="10", **SETTINGS)
    code, signalled, stopped = sigterm_in_first_batch(cluster, embed_seconds=1.5)
    claims = cluster.log.read("claim")
    first_batch = {c["task"] for c in claims if c["t"] < signalled}
    assert len(first_batch) == 4
    assert [c for c in claims if c["t"] >= signalled] == []  # no claim after the signal
    stored = {task for r in cluster.log.read("stored") for task in r["tasks"]}
    assert stored == first_batch  # the batch in hand finished
    by_state = {t.id: (t.state, t.attempts) for t in tasks(db)}
    assert {by_state[t] for t in first_batch} == {(queue.SUCCEEDED, 1)}
    others = [v for t, v in by_state.items() if t not in first_batch]
    assert set(others) == {(queue.QUEUED, 0)}
    report(
        "5 graceful shutdown: within grace",
        backend_of(database_url),
        batch=len(first_batch),
        completed=len(stored),
        claims_after_signal=0,
        exit_code=code,
        stop_s=round(stopped - signalled, 2),
    )


def test_sigterm_past_the_grace_period_requeues_the_batch_without_losing_an_attempt(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    create_postings(db, 12)
    cluster = Cluster.create(tmp_path, database_url, shutdown_grace_seconds="1", **SETTINGS)
    code, signalled, stopped = sigterm_in_first_batch(cluster, embed_seconds=60)
    assert 0.9 <= stopped - signalled < 10
    claims = cluster.log.read("claim")
    assert [c for c in claims if c["t"] >= signalled] == []
    assert cluster.log.read("stored") == []
    rows = tasks(db)
    assert {(t.state, t.attempts, t.lease_token, t.lease_owner) for t in rows} == {
        (queue.QUEUED, 0, None, None)
    }
    report(
        "5 graceful shutdown: past grace",
        backend_of(database_url),
        batch=len(claims),
        requeued=len(rows),
        attempts_after=0,
        exit_code=code,
        stop_s=round(stopped - signalled, 2),
        grace_s=1,
    )


def test_sigterm_at_random_moments_always_stops_the_worker_with_exit_code_0(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    """Idle, claiming, mid-batch: SIGTERM anywhere ends the process within grace + a margin."""
    rounds = scaled(3, 30)
    rng = random.Random(5)
    create_postings(db, 40)
    cluster = Cluster.create(tmp_path, database_url, shutdown_grace_seconds="2", **SETTINGS)
    times: list[float] = []
    for _ in range(rounds):
        worker = cluster.start(CHAOS_EMBED_SECONDS=str(rng.choice([0, 0.05, 0.5])))
        try:
            cluster.wait_registered(db)
            time.sleep(rng.uniform(0, 1.0))
            signalled = time.monotonic()
            worker.signal(signal.SIGTERM)
            code = worker.popen.wait(timeout=20)
            times.append(time.monotonic() - signalled)
        finally:
            worker.kill() if worker.alive() else None
        assert code == 0, worker.tail()
    pending = [t for t in tasks(db) if t.state == queue.RUNNING]
    assert pending == []  # every batch finished or went back to the queue
    report(
        "5 graceful shutdown: random moments",
        backend_of(database_url),
        rounds=rounds,
        max_stop_s=round(max(times), 2),
        exit_codes="all 0",
    )


SIGNAL_LOOP = """
import sys, threading
from jobsim.shutdown import ShutdownSignals
stop = threading.Event()
started = []
def on_signal():
    stop.set()
    if not started:
        started.append(1)
        threading.Thread(target=lambda: None).start()
ShutdownSignals(on_signal)
print("ready", flush=True)
while not stop.is_set():
    stop.wait(0.0005)
print("stopped", flush=True)
"""


def test_signals_never_deadlock_the_process(tmp_path: Path) -> None:
    """The cause of the SIGTERM flake, without a database: a main thread in a tight Event.wait
    loop (an idle worker's), signalled at random moments, must always stop."""
    script = tmp_path / "signal_loop.py"
    script.write_text(SIGNAL_LOOP)
    rounds = scaled(20, 200)
    rng = random.Random(7)
    hangs = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(rounds):
        process = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0, 0.05))
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                hangs += 1
        finally:
            process.kill()
            process.wait()
            process.stdout.close() if process.stdout else None
    report("5 graceful shutdown: signal deadlock", "none", rounds=rounds, hangs=hangs)
    assert hangs == 0
