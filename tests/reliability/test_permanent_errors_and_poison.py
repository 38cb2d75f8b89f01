"""Scenario 8 (permanent errors and poison): 400/401 answers dead-letter after one attempt with
a sanitized error; a posting whose handler crashes the worker process every time is
dead-lettered after max attempts while all the others complete; an admin retry, sent twice at
once, puts a dead letter back exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from jobsim import queue
from jobsim.admin import AdminActions
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, Task
from jobsim.vector_recipe import VectorRecipe
from tests.reliability.conftest import create_postings
from tests.support.chaos import Cluster, backend_of, report, scaled, wait_until
from tests.support.fake_providers import (
    FakeProviderServer,
    Fault,
    RecordedRequest,
    echo_key_error,
    http_error,
)

API_KEY = "sk-canary-8f3e1d2c4b5a69788f3e1d2c"


@pytest.fixture
def provider() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(dims=32) as server:
        yield server


def all_tasks(db: Database) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


def finished(db: Database) -> bool:
    return all(t.state in (queue.SUCCEEDED, queue.FAILED) for t in all_tasks(db))


@pytest.mark.parametrize("status", [400, 401])
def test_a_permanent_provider_error_dead_letters_after_one_attempt_with_a_sanitized_error(
    database_url: str, db: Database, tmp_path: Path, provider: FakeProviderServer, status: int
) -> None:
    checked = threading.Event()
    poison_text: list[str] = []

    def reject(request: RecordedRequest) -> Fault | None:
        if not checked.is_set():
            checked.set()  # set here, not by the test: the server records a request first
            return None  # the start-up check passes
        if status == 401:
            return echo_key_error(401)  # the key is bad for everything, and echoed back
        texts = request.body.get("input", []) if isinstance(request.body, dict) else []
        if any(poison_text[0] in t for t in texts):
            return http_error(400, f"input rejected, key {API_KEY}")
        return None

    provider.responder = reject
    cluster = Cluster.create(
        tmp_path,
        database_url,
        embedder="openai:jobsim-test-embed",
        openai_base_url=provider.openai_base_url,
        openai_api_key=API_KEY,
        batch_size="8",
        poll_seconds="0.1",
        heartbeat_seconds="0.5",
        lease_seconds="10",
        min_score="0.05",
    )
    worker = cluster.start()
    try:
        cluster.wait_registered(db)
        wait_until(checked.is_set, 60, "the start-up check")
        ids = create_postings(db, 20)
        poison = ids[5]
        with db.read() as session:
            posting = session.get(Posting, poison)
            assert posting is not None
            poison_text.append(posting.description[:40])
        wait_until(lambda: finished(db), 120, "every task settled", detail=cluster.outputs)
        codes = cluster.stop_all()
    finally:
        worker.kill() if worker.alive() else None
    assert codes[worker.id] == 0, worker.tail()
    tasks = all_tasks(db)
    failed = [t for t in tasks if t.state == queue.FAILED]
    if status == 401:
        assert len(failed) == len(tasks)  # every posting: the key is wrong for all
    else:
        assert [t.posting_id for t in failed] == [poison]  # isolated: the rest is stored
        with db.read() as session:
            stored = set(session.scalars(select(Embedding.posting_id)))
        assert stored == set(ids) - {poison}
    assert {t.attempts for t in failed} == {1}
    for task in failed:
        assert task.last_error and str(status) in task.last_error
        assert API_KEY not in task.last_error and API_KEY[3:20] not in task.last_error
    assert API_KEY not in worker.tail()
    report(
        f"8 permanent error HTTP {status}",
        backend_of(database_url),
        tasks=len(tasks),
        dead_lettered=len(failed),
        attempts=1,
        key_in_errors=0,
        sample_error=failed[0].last_error[:90] if failed[0].last_error else "",
    )


def test_a_posting_that_crashes_its_worker_is_dead_lettered_and_the_rest_complete(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    count = scaled(50, 1000)
    ids = create_postings(db, count)
    with db.write() as session:  # three crashes are enough to make the point
        session.execute(update(Task).values(max_attempts=3))
    poison = ids[7]
    lease = 1.0
    cluster = Cluster.create(
        tmp_path,
        database_url,
        batch_size="16",
        poll_seconds="0.1",
        heartbeat_seconds="0.3",
        lease_seconds=str(lease),
        min_score="0.05",
        max_attempts="3",
    )
    cluster.extra_env["CHAOS_CRASH_POSTING"] = poison
    for _ in range(2):
        cluster.start()
    started = time.monotonic()
    crashes = 0
    try:
        deadline = started + 240
        while not finished(db) and time.monotonic() < deadline:
            for worker in list(cluster.workers):
                if (
                    not worker.alive()
                    and worker.popen.returncode == 70
                    and not getattr(worker, "replaced", False)
                ):
                    crashes += 1
                    worker.replaced = True  # type: ignore[attr-defined]
                    cluster.start()  # the supervisor restarts it, as systemd would
            time.sleep(0.2)
        assert finished(db), (
            f"not settled:\n{Counter((t.state, t.attempts) for t in all_tasks(db))}"
        )
        cluster.wait_registered(db)
        codes = cluster.stop_all()
    finally:
        for worker in cluster.running():
            worker.kill()
    elapsed = time.monotonic() - started
    tasks = all_tasks(db)
    failed = [t for t in tasks if t.state == queue.FAILED]
    assert [t.posting_id for t in failed] == [poison], Counter((t.state, t.attempts) for t in tasks)
    assert failed[0].attempts == failed[0].max_attempts
    with db.read() as session:
        stored = set(session.scalars(select(Embedding.posting_id)))
    assert stored == set(ids) - {poison}
    assert all(code in (0, 70) for code in codes.values())

    # An operator retries the dead letter twice at once: it goes back to the queue once.
    settings = Settings(database_url=database_url, embedder="fake:64", glossary_dir="")
    recipe = VectorRecipe.from_settings(settings)
    admins = [AdminActions(settings, Database(database_url), recipe) for _ in range(2)]
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def retry(admin: AdminActions) -> None:
        barrier.wait()
        results.append(list(admin.retry([failed[0].id], who="test").ids or []))

    threads = [threading.Thread(target=retry, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for admin in admins:
        admin.db.dispose()
    assert sorted(len(r) for r in results) == [0, 1]
    again = [t for t in all_tasks(db) if t.posting_id == poison]
    assert [(t.state, t.attempts) for t in again] == [(queue.QUEUED, 0)]
    report(
        "8 process-crashing poison + admin retry",
        backend_of(database_url),
        postings=count,
        crashes=crashes,
        dead_lettered=1,
        poison_attempts=failed[0].attempts,
        others_completed=len(stored),
        settle_s=round(elapsed, 1),
        concurrent_retries=2,
        requeued=1,
    )
