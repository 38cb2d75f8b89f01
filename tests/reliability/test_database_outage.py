"""Scenario 13 (database outage, PostgreSQL): the API and the workers reach the shared server
through a local TCP proxy the test cuts for a while under load. API requests get 503 with a
clear body, quickly (never a hang past the request timeout); the workers keep their process,
back off, and resume by themselves; nothing acknowledged is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select

from jobsim import queue
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, Task
from jobsim.storage.models import Worker as WorkerRow
from tests.conftest import truncate_all
from tests.support.chaos import TcpProxy, report, scaled, wait_until
from tests.support.live_server import Deployment

REQUEST_TIMEOUT = 10.0


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = f"{netloc[0]}@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


@pytest.fixture
def direct(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    truncate_all(db)
    yield db
    db.dispose()


def running_workers(db: Database) -> int:
    with db.read() as session:
        return len(list(session.scalars(select(WorkerRow.id).where(WorkerRow.state == "running"))))


def job(posting_id: str) -> dict[str, object]:
    return {
        "id": posting_id,
        "title": "Backend Python Developer",
        "description": f"Build and run Python services on PostgreSQL, posting {posting_id}.",
        "category": "Engineering",
        "location": {"city": "Berlin"},
    }


def test_a_database_outage_gives_clean_503s_and_everything_resumes_by_itself(
    postgres_url: str, direct: Database, tmp_path: Path
) -> None:
    outage_seconds = scaled(6, 30)
    target = urlsplit(postgres_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        deployment = Deployment(
            tmp_path,
            {
                "database_url": through(proxy, postgres_url),
                "embedder": "fake:64",
                "vector_views": "full:1",
                "glossary_dir": "",
                "log_level": "WARNING",
                "log_format": "text",
                "poll_seconds": "0.2",
                "heartbeat_seconds": "0.5",
                "lease_seconds": "5",
                "batch_size": "8",
            },
        )
        acknowledged: list[str] = []
        answers: list[tuple[float, str, int, str, float]] = []  # when, what, status, error, s
        lock = threading.Lock()
        stop = threading.Event()
        try:
            base_url = deployment.serve()
            workers = [deployment.start(f"worker-{n}", "worker") for n in range(2)]

            def load(n: int) -> None:
                with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
                    count = 0
                    while not stop.is_set():
                        posting_id = f"o{n}-{count}"
                        count += 1
                        for what, method, path, body in (
                            ("create", "POST", "/api/jobs", job(posting_id)),
                            ("similar", "GET", f"/api/jobs/{posting_id}/similar", None),
                        ):
                            started = time.monotonic()
                            response = client.request(method, path, json=body)
                            took = time.monotonic() - started
                            error = ""
                            if response.status_code >= 500:
                                error = response.json().get("error", "")
                            with lock:
                                answers.append((started, what, response.status_code, error, took))
                                if what == "create" and response.status_code == 201:
                                    acknowledged.append(posting_id)
                        time.sleep(0.05)

            threads = [threading.Thread(target=load, args=(n,)) for n in range(3)]
            for thread in threads:
                thread.start()
            wait_until(lambda: running_workers(direct) == 2, 120, "both workers running")
            time.sleep(2)
            proxy.cut()
            cut_at = time.monotonic()
            time.sleep(outage_seconds)
            proxy.restore()
            restored_at = time.monotonic()
            time.sleep(5)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            alive = [w.popen.poll() is None for w in workers]

            def settled() -> bool:
                with direct.read() as session:
                    return (
                        session.scalar(
                            select(Task.id)
                            .where(Task.state.in_([queue.QUEUED, queue.RUNNING]))
                            .limit(1)
                        )
                        is None
                    )

            resumed_in = wait_until(
                settled,
                120,
                "the workers drain the queue after the outage",
                detail=lambda: "\n".join(w.output() for w in workers),
            )
        finally:
            stop.set()
            deployment.stop()
    during = [a for a in answers if cut_at + 0.5 <= a[0] <= restored_at - 0.5]
    statuses = Counter(f"{what} {status}" for _, what, status, _, _ in answers)
    assert during, "no request was made during the outage"
    assert {a[2] for a in during} <= {503}, Counter((a[1], a[2]) for a in during)
    assert {a[3] for a in during} == {"database_unavailable"}
    assert max(a[4] for a in answers) < REQUEST_TIMEOUT
    assert not [a for a in answers if a[2] == 500]
    after = [a for a in answers if a[0] >= restored_at + 2]
    assert after and {a[2] for a in after} <= {200, 201}, Counter(a[2] for a in after)
    assert all(alive), "a worker process ended during the outage"
    with direct.read() as session:
        postings = set(session.scalars(select(Posting.id)))
        embedded = set(session.scalars(select(Embedding.posting_id)))
        failed = list(session.scalars(select(Task).where(Task.state == queue.FAILED)))
    assert set(acknowledged) <= postings
    assert set(acknowledged) <= embedded
    assert failed == []
    report(
        "13 database outage",
        "postgresql",
        outage_s=outage_seconds,
        requests=len(answers),
        during_outage=len(during),
        during_statuses=sorted({a[2] for a in during}),
        slowest_answer_s=round(max(a[4] for a in answers), 2),
        acknowledged=len(acknowledged),
        lost=0,
        workers_alive=sum(alive),
        queue_drained_after_s=round(resumed_in, 1),
        by_kind=dict(sorted(statuses.items())),
    )
