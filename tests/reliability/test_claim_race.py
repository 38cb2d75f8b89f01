"""Scenario 2 (claim race): no-op tasks drained by concurrent claimers (16 threads with their
own connections on PostgreSQL, 4 processes on SQLite): every task executes exactly once, run
after run."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import delete, func, select

from jobsim import queue
from jobsim.storage.engine import Database
from jobsim.storage.models import Task
from tests.support.chaos import Cluster, ExecutionLog, backend_of, report, scaled


def enqueue(db: Database, count: int, run: int) -> None:
    with db.write() as session:
        session.execute(delete(Task))
    ids = [f"r{run}-{n:05d}" for n in range(count)]
    for start in range(0, count, 2000):
        with db.write() as session:
            queue.enqueue_many(session, queue.SIMILAR, ids[start : start + 2000])


def drain_with_threads(database_url: str, log: ExecutionLog, claimers: int) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(claimers)

    def claimer(n: int) -> None:
        own = Database(database_url)
        try:
            barrier.wait()
            idle = 0
            while idle < 3:
                batch = queue.claim(own, f"t{n}", limit=10, lease_seconds=300)
                if not batch:
                    idle += 1
                    time.sleep(0.02)
                    continue
                idle = 0
                for task in batch:
                    log.append(event="executed", worker=f"t{n}", task=task.id)
                with own.write() as session:
                    done = queue.complete(session, batch[0].token, [t.id for t in batch])
                assert done == {t.id for t in batch}
        except BaseException as error:
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == []


def test_concurrent_claimers_execute_every_task_exactly_once(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    count = scaled(1000, 10000)
    runs = scaled(1, 20)
    backend = backend_of(database_url)
    claimers = 16 if backend == "postgresql" else 4
    durations: list[float] = []
    for run in range(runs):
        enqueue(db, count, run)
        log = ExecutionLog(tmp_path / f"run-{run}.log")
        started = time.monotonic()
        if backend == "postgresql":
            drain_with_threads(database_url, log, claimers)
        else:
            cluster = Cluster.create(tmp_path, database_url, batch_size="10")
            cluster.log = log
            for _ in range(claimers):
                cluster.start(CHAOS_MODE="noop", CHAOS_IDLE_SECONDS="1.5")
            codes = [w.popen.wait(timeout=600) for w in cluster.workers]
            assert codes == [0] * claimers, cluster.outputs()
        durations.append(time.monotonic() - started)
        executed = Counter(r["task"] for r in log.read("executed"))
        assert sum(executed.values()) == count, f"run {run}: {sum(executed.values())} executions"
        assert max(executed.values()) == 1, f"run {run}: a task executed twice"
        with db.read() as session:
            states = dict(
                session.execute(select(Task.state, func.count()).group_by(Task.state)).all()
            )
            attempts = set(session.scalars(select(Task.attempts).distinct()))
        assert states == {queue.SUCCEEDED: count}
        assert attempts == {1}
        assert len({r["worker"] for r in log.read("executed")}) > 1  # the claimers really raced
    report(
        "2 claim race",
        backend,
        tasks=count,
        claimers=claimers,
        runs=runs,
        executions_per_run=count,
        duplicates=0,
        max_run_s=round(max(durations), 1),
    )
