"""Figure 5: no-op tasks through worker processes (claim a batch, complete it: the queue's
own cost around every batch), and the claim's plan on a table of finished tasks."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from jobsim import queue
from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.run import BenchRun
from jobsim.bench.table import Figure
from jobsim.storage.engine import Database
from jobsim.storage.types import utcnow

BATCH = 32
RATE = 1_000.0
BACKLOG = 10_000  # queued tasks in the table the claim is explained on
ROWS_PER_BATCH = 10  # the claim may examine at most this many rows per task it claims
_SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan")


def drain(url: str, worker_id: str, go: Any, done: Any) -> None:
    """A worker process's loop with nothing to do per task: claim, complete, until empty."""
    db = Database(url, pool_size=1)
    go.wait()
    completed = 0
    while tasks := queue.claim(db, worker_id, limit=BATCH):
        with db.write() as session:
            completed += len(queue.complete(session, tasks[0].token, [t.id for t in tasks]))
    done.put(completed)
    db.dispose()


def throughput(url: str, tasks: int, workers: int) -> float:
    db = Database(url)
    with db.write() as session:
        queue.enqueue_many(session, queue.EMBED, (f"noop-{i}" for i in range(tasks)))
    db.dispose()
    context = multiprocessing.get_context("spawn")
    go, done = context.Event(), context.Queue()
    processes = [
        context.Process(target=drain, args=(url, f"bench-{k}", go, done)) for k in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(3.0)  # let every process import jobsim and connect before the clock starts
    started = time.perf_counter()
    go.set()
    completed = sum(done.get(timeout=600) for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    if completed != tasks:
        raise RuntimeError(f"{completed} of {tasks} no-op tasks completed")
    return tasks / elapsed


def fill_finished(db: Database, finished: int) -> None:
    """`finished` succeeded tasks and a backlog of queued ones, written by the server itself."""
    now = utcnow()
    with db.write() as session:
        session.execute(
            text(
                "INSERT INTO tasks (kind, posting_id, state, priority, attempts, max_attempts,"
                " run_after, created_at, updated_at, finished_at)"
                " SELECT 'embed', 'done-' || i, 'succeeded', 10, 1, 5, :then, :then, :then, :then"
                " FROM generate_series(1, :n) AS i"
            ),
            {"n": finished, "then": now - timedelta(hours=1)},
        )
        queue.enqueue_many(session, queue.EMBED, (f"todo-{i}" for i in range(BACKLOG)))
        session.execute(text("ANALYZE tasks"))


def rows_examined(db: Database) -> tuple[int, list[str]]:
    """EXPLAIN ANALYZE of a claim's statements (rolled back): expired leases, then the top
    priority level; the rows their scans read, and the scan nodes."""
    total, scans = 0, []
    for priority in (None, queue.PRIORITY_NEW):
        statement = queue.claim_statement(
            "explain", uuid.uuid4().hex, utcnow(), priority=priority, limit=BATCH
        )
        for node in _nodes(_explain(db, statement)):
            if node["Node Type"] in _SCANS:
                loops = node.get("Actual Loops", 1)
                read = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                total += read * loops
                scans.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
    return int(total), scans


def _explain(db: Database, statement: Any) -> dict[str, Any]:
    compiled = statement.compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    with db.engine.connect() as connection:
        transaction = connection.begin()
        raw = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params
        ).scalar()
        transaction.rollback()
    explained: Any = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = explained[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def queue_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    server = config.database_url
    label = "PostgreSQL" if server else "SQLite (no --database)"
    size = run.size_note(config.queue_tasks, FULL.queue_tasks, "tasks")
    with (
        run.step(f"figure 5: {config.queue_tasks:,} no-op tasks, {config.queue_workers} workers"),
        fresh_database(run, "queue", server) as url,
    ):
        rate = throughput(url, config.queue_tasks, config.queue_workers)
    figures = [
        Figure(
            "5a",
            f"no-op tasks through {config.queue_workers} worker processes, {label}, "
            f"batch {BATCH}{size}",
            rate,
            "tasks/s",
            ">=",
            RATE,
        )
    ]
    run.measured["claim_s"] = config.queue_workers * BATCH / rate
    what = f"rows the claim examines, {config.finished_tasks:,} finished tasks"
    if server is None:
        return [*figures, Figure.not_measured("5b", what, "rows", "<=", ROWS_PER_BATCH * BATCH)]
    with (
        run.step(f"figure 5: claim plan at {config.finished_tasks:,} finished tasks"),
        fresh_database(run, "claim_plan", server) as url,
    ):
        db = Database(url)
        try:
            fill_finished(db, config.finished_tasks)
            examined, scans = rows_examined(db)
        finally:
            db.dispose()
    size = run.size_note(config.finished_tasks, FULL.finished_tasks, "finished tasks")
    figures.append(
        Figure(
            "5b",
            f"rows the claim examines (EXPLAIN ANALYZE: {', '.join(scans)}), "
            f"{config.finished_tasks:,} finished + {BACKLOG:,} queued tasks, batch {BATCH}{size}",
            examined,
            "rows",
            "<=",
            ROWS_PER_BATCH * BATCH,
        )
    )
    return figures
