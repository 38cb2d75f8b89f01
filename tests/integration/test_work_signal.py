"""An idle worker wakes when tasks are queued (PostgreSQL's LISTEN/NOTIFY, SQLite's
data_version), not at its next poll; the poll interval is only the longest wait."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jobsim import queue
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import PostingWriter
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding
from jobsim.storage.models import Worker as WorkerRow
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker
from tests.support.chaos import wait_until

POLL = 60.0  # far longer than any wait below: only a signal can explain a quick answer


def seconds_waiting(signal: queue.WorkSignal, timeout: float, stop: threading.Event) -> float:
    started = time.monotonic()
    signal.wait(timeout, stop)
    return time.monotonic() - started


def enqueue_after(db: Database, delay: float, *, commit: bool = True) -> threading.Thread:
    """A task queued by another connection after `delay` (rolled back unless `commit`)."""

    def run() -> None:
        time.sleep(delay)
        with Session(db.engine) as session:
            session.begin()
            queue.enqueue(session, queue.EMBED, f"p-{time.monotonic_ns()}")
            if commit:
                session.commit()
            else:
                session.rollback()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_wait_ends_when_another_process_queues_a_task(db: Database) -> None:
    signal, stop = queue.WorkSignal(db), threading.Event()
    try:
        assert seconds_waiting(signal, 0.3, stop) >= 0.3  # nothing queued: the whole wait
        writer = enqueue_after(db, 0.2)
        assert seconds_waiting(signal, 10, stop) < 2
        writer.join()
    finally:
        signal.close()


def test_a_task_queued_while_the_worker_was_busy_ends_its_next_wait_at_once(
    db: Database,
) -> None:
    signal, stop = queue.WorkSignal(db), threading.Event()
    try:
        signal.wait(0.05, stop)  # the worker's first wait: the signal is set up
        enqueue_after(db, 0).join()  # queued between two waits (the worker was claiming)
        assert seconds_waiting(signal, 10, stop) < 1
        assert seconds_waiting(signal, 0.3, stop) >= 0.3  # and it is not seen twice
    finally:
        signal.close()


def test_a_rolled_back_enqueue_does_not_wake_anyone(db: Database) -> None:
    signal, stop = queue.WorkSignal(db), threading.Event()
    try:
        signal.wait(0.05, stop)
        enqueue_after(db, 0, commit=False).join()
        assert seconds_waiting(signal, 0.6, stop) >= 0.6
    finally:
        signal.close()


def test_stopping_ends_a_wait_within_a_fraction_of_a_second(db: Database) -> None:
    signal, stop = queue.WorkSignal(db), threading.Event()
    try:
        threading.Timer(0.2, stop.set).start()
        assert seconds_waiting(signal, 30, stop) < 1.5
    finally:
        signal.close()


def test_a_listener_whose_connection_is_killed_polls_then_listens_again(
    db: Database,
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite's signal is a read of the file, with no server to lose")
    signal, stop = queue.WorkSignal(db), threading.Event()
    try:
        signal.wait(0.05, stop)
        with db.engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
                    "pg_backend_pid() AND query LIKE 'LISTEN%' AND datname = current_database()"
                )
            ).all()
        assert killed
        assert seconds_waiting(signal, 0.4, stop) >= 0.4  # the loss is waited out as a poll
        enqueue_after(db, 0.2)
        assert seconds_waiting(signal, 10, stop) < 2  # a new connection listens again
    finally:
        signal.close()


def test_an_idle_worker_embeds_a_new_posting_long_before_its_poll_interval(
    db: Database, settings: Settings
) -> None:
    settings = settings.model_copy(update={"poll_seconds": POLL})
    worker = Worker(settings, db, FakeEmbedder(), worker_id="idle")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: _state(db, "idle") == "running", 10, "worker running", step=0.02)
        time.sleep(0.3)  # its first claim found nothing: it waits
        created = time.monotonic()
        with db.write() as session:
            PostingWriter().create(
                session,
                PostingIn(
                    id="new-one",
                    title="Night nurse",
                    description="Care for patients on the night shift of a busy ward.",
                ),
            )
        wait_until(lambda: _embedded(db, "new-one"), 10, "new posting embedded", step=0.02)
        assert time.monotonic() - created < 5
    finally:
        stopping = time.monotonic()
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - stopping < 5  # the stop ended the wait too


def test_a_task_queued_between_the_first_empty_claim_and_the_first_wait_is_not_missed(
    db: Database, settings: Settings
) -> None:
    # No heartbeat either: on SQLite its writes would end the wait too.
    settings = settings.model_copy(update={"poll_seconds": POLL, "heartbeat_seconds": POLL})
    worker = Worker(settings, db, FakeEmbedder(), worker_id="racing")
    worker._work_signal = QueueingFirst(db)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(
            lambda: _embedded(db, "queued-while-claiming"), 10, "posting embedded", step=0.02
        )
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


class QueueingFirst(queue.WorkSignal):
    """The worker's signal, with a posting created just before the first wait: after the
    worker's first claim found nothing, as if it arrived while that claim was running."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.first = True

    def wait(self, seconds: float, stop: threading.Event) -> None:
        if self.first:
            self.first = False
            with self.db.write() as session:
                PostingWriter().create(
                    session,
                    PostingIn(
                        id="queued-while-claiming",
                        title="Forklift driver",
                        description="Move pallets across a warehouse on the early shift.",
                    ),
                )
        super().wait(seconds, stop)


def _state(db: Database, worker_id: str) -> str | None:
    with db.read() as session:
        row = session.get(WorkerRow, worker_id)
        return None if row is None else row.state


def _embedded(db: Database, posting_id: str) -> bool:
    with db.read() as session:
        found = session.scalar(
            select(Embedding.posting_id).where(Embedding.posting_id == posting_id)
        )
    return found is not None
