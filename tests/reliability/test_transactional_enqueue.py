"""Scenario 4 (transactional enqueue): a create that fails after its task was inserted and
before the commit leaves neither posting nor task; after the API and the workers are killed
with SIGKILL in the middle of a stream of creates, every acknowledged (201) posting has its task
and ends embedded."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from jobsim import queue
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, Task
from tests.support.chaos import backend_of, report, scaled
from tests.support.live_server import Deployment


def job(posting_id: str) -> dict[str, Any]:
    return {
        "id": posting_id,
        "title": "Backend Python Developer",
        "description": f"Build and run Python services on PostgreSQL, posting {posting_id}.",
        "category": "Engineering",
        "tags": ["python"],
        "location": {"city": "Berlin"},
    }


@pytest.fixture
def deployment(tmp_path: Path, database_url: str) -> Iterator[Deployment]:
    deployed = Deployment(
        tmp_path,
        {
            "database_url": database_url,
            "embedder": "fake:64",
            "vector_views": "full:1",
            "glossary_dir": "",
            "log_level": "WARNING",
            "log_format": "text",
            "poll_seconds": "0.1",
            "heartbeat_seconds": "0.5",
            "lease_seconds": "3",
        },
    )
    yield deployed
    deployed.stop()


def install_failing_commit(db: Database) -> None:
    """A task for a posting whose id starts with `boom` fails its transaction: on PostgreSQL at
    COMMIT (a deferred constraint trigger: after the task insert, before the commit), on SQLite
    at the task insert (no deferred triggers there). Both are real database errors."""
    with db.engine.begin() as connection:
        if db.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER boom AFTER INSERT ON tasks WHEN NEW.posting_id LIKE 'boom%' "
                    "BEGIN SELECT RAISE(ABORT, 'boom: injected failure'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.posting_id LIKE 'boom%' THEN RAISE EXCEPTION 'boom: injected "
                    "failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(text("DROP TRIGGER IF EXISTS boom ON tasks"))
            connection.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON tasks DEFERRABLE INITIALLY "
                    "DEFERRED FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )


def drop_failing_commit(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            text("DROP TRIGGER IF EXISTS boom" + ("" if db.is_sqlite else " ON tasks"))
        )


def test_a_create_failing_before_commit_leaves_neither_posting_nor_task(
    database_url: str, db: Database, deployment: Deployment
) -> None:
    install_failing_commit(db)
    try:
        base_url = deployment.serve()
        with httpx.Client(base_url=base_url, timeout=30) as client:
            failed = [client.post("/api/jobs", json=job(f"boom-{n}")) for n in range(5)]
            fine = client.post("/api/jobs", json=job("fine-1"))
    finally:
        deployment.stop()
        drop_failing_commit(db)
    assert {r.status_code for r in failed} == {500}
    assert all(r.json()["error"] == "internal_error" for r in failed)
    # One keep-alive connection carried them all (no reset after a 500), each with its trace id.
    assert all(r.json()["trace_id"] == r.headers["x-trace-id"] for r in failed)
    assert "boom" not in "".join(r.text for r in failed)  # no database detail leaks
    assert fine.status_code == 201
    with db.read() as session:
        postings = set(session.scalars(select(Posting.id)))
        tasks = set(session.scalars(select(Task.posting_id)))
    assert postings == {"fine-1"} and tasks == {"fine-1"}
    report(
        "4 transactional enqueue: failing commit",
        backend_of(database_url),
        failed_creates=len(failed),
        postings_left=0,
        tasks_left=0,
    )


def test_every_acknowledged_posting_has_its_task_after_api_and_workers_are_killed(
    database_url: str, db: Database, deployment: Deployment
) -> None:
    base_url = deployment.serve()
    workers = [deployment.start(f"worker-{n}", "worker") for n in range(2)]
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            count = 0
            while not stop.is_set():
                posting_id = f"w{n}-{count}"
                count += 1
                try:
                    response = client.post("/api/jobs", json=job(posting_id))
                except httpx.TransportError:
                    return  # the API is gone
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(posting_id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(scaled(3, 30))
    for process in [deployment.processes[0], *workers]:
        process.popen.send_signal(signal.SIGKILL)
    for process in [deployment.processes[0], *workers]:
        process.popen.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert acknowledged
    with db.read() as session:
        postings = set(session.scalars(select(Posting.id)))
        with_task = set(session.scalars(select(Task.posting_id).where(Task.kind == queue.EMBED)))
    assert set(acknowledged) <= postings
    assert postings <= with_task  # no posting without its task, acknowledged or not
    # The killed workers' tasks are claimable again once their leases (3 s) expire; a burst
    # started before that would find them still leased and stop.
    time.sleep(3.5)
    deployment.run("worker", "--burst", timeout=300)
    with db.read() as session:
        embedded = set(session.scalars(select(Embedding.posting_id)))
        pending = session.scalar(
            select(Task.id).where(Task.state.in_([queue.QUEUED, queue.RUNNING])).limit(1)
        )
    assert set(acknowledged) <= embedded
    assert pending is None
    report(
        "4 transactional enqueue: API and workers killed",
        backend_of(database_url),
        acknowledged=len(acknowledged),
        postings=len(postings),
        unacknowledged_but_committed=len(postings - set(acknowledged)),
        missing_tasks=0,
        embedded_after_restart=len(embedded),
    )
