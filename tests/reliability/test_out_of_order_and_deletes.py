"""Scenario 9 (out of order and deletes), with two workers on one database: an old version whose
embedding finishes after a newer one was stored never overwrites it; a posting deleted while its
task is queued or running ends in no list, and its endpoints answer 404. Lists are then checked
against the brute-force oracle (scenario 14)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from jobsim import queue
from jobsim.api.app import create_app
from jobsim.embedders.base import FloatMatrix
from jobsim.postings.schema import PostingPatch
from jobsim.postings.writer import PostingWriter
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, SimilarEntry, Task
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe
from jobsim.worker import Worker
from tests.reliability.conftest import create_postings
from tests.support.chaos import assert_lists_match_oracle, backend_of, report


class Gated(FakeEmbedder):
    """Embeds, then holds the batch until the test opens the gate (a slow old version)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        vectors = super().embed(texts)
        self.texts.extend(texts)
        self.entered.set()
        assert self.gate.wait(30)
        return vectors


def run_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=lambda: worker.run(burst=True, max_batches=1))
    thread.start()
    return thread


def stored(db: Database, posting_id: str) -> tuple[str, np.ndarray] | None:
    with db.read() as session:
        row = session.execute(
            select(Embedding.content_hash, Embedding.vector).where(
                Embedding.posting_id == posting_id
            )
        ).first()
    return None if row is None else (row[0], np.frombuffer(row[1], dtype="<f4"))


def holding(db: Database, posting_id: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(SimilarEntry.posting_id).where(SimilarEntry.similar_id == posting_id)
            )
        )


def test_an_old_version_finishing_late_never_overwrites_the_newer_one(
    database_url: str, db: Database, settings: Settings
) -> None:
    ids = create_postings(db, 20)
    Worker(settings, db, FakeEmbedder()).run(burst=True)
    target = ids[3]
    with db.write() as session:
        PostingWriter().update(
            session, target, PostingPatch(description="Version two of this job: python and sql")
        )
    slow = Gated()
    old = Worker(settings, db, slow, worker_id="old")
    thread = run_in_thread(old)
    try:
        assert slow.entered.wait(30)  # v2's task is in hand, its vector computed
        with db.write() as session:  # v3 arrives meanwhile, with a task of its own
            PostingWriter().update(
                session, target, PostingPatch(description="Version three of this job: nursing care")
            )
        other_db = Database(database_url)
        try:
            Worker(settings, other_db, FakeEmbedder(), worker_id="new").run(burst=True)
        finally:
            other_db.dispose()
        with db.read() as session:
            posting = session.get(Posting, target)
            assert posting is not None
            v3_hash = VectorRecipe.from_settings(settings).content_hash(posting)
        after_new = stored(db, target)
        assert after_new is not None and after_new[0] == v3_hash
    finally:
        slow.gate.set()
        thread.join(timeout=30)
    after_old = stored(db, target)
    assert after_old is not None
    assert after_old[0] == v3_hash
    assert np.array_equal(after_old[1], after_new[1])  # the late v2 wrote nothing
    assert any("Version two" in t for t in slow.texts)
    with db.read() as session:
        states = {t.state for t in session.scalars(select(Task))}
    assert states == {queue.SUCCEEDED}
    model = Worker(settings, db, FakeEmbedder()).vectorizer.name
    lists = assert_lists_match_oracle(db, settings, model)
    report(
        "9 out of order",
        backend_of(database_url),
        versions=3,
        late_writes=0,
        stored_hash_is_latest=True,
        lists_checked=len(lists),
    )


def test_a_posting_deleted_while_queued_or_running_ends_in_no_list_and_answers_404(
    database_url: str, db: Database, settings: Settings
) -> None:
    ids = create_postings(db, 20)
    Worker(settings, db, FakeEmbedder()).run(burst=True)
    queued_victim, running_victim = "del-queued", "del-running"
    # Two near-copies of an embedded posting, so each would enter several lists.
    with db.read() as session:
        source = session.get(Posting, ids[0])
        assert source is not None
        fields: dict[str, Any] = {
            "title": source.title,
            "description": source.description,
            "category": source.category,
            "tags": source.tags,
        }
    from jobsim.postings.schema import PostingIn

    writer = PostingWriter()
    with db.write() as session:
        writer.create(session, PostingIn(id=queued_victim, **fields))
    with db.write() as session:  # deleted while its embed task is still queued
        writer.delete(session, queued_victim)
    with db.write() as session:
        writer.create(session, PostingIn(id=running_victim, **fields))
    slow = Gated()
    thread = run_in_thread(Worker(settings, db, slow, worker_id="slow"))
    try:
        assert slow.entered.wait(30)  # running_victim's task is in hand
        with db.write() as session:
            writer.delete(session, running_victim)
    finally:
        slow.gate.set()
        thread.join(timeout=30)
    other_db = Database(database_url)
    try:  # whatever the deletes queued (list recomputes) runs on another worker
        Worker(settings, other_db, FakeEmbedder(), worker_id="after").run(burst=True)
    finally:
        other_db.dispose()
    for victim in (queued_victim, running_victim):
        assert holding(db, victim) == []
    with db.read() as session:
        pending = list(
            session.scalars(select(Task).where(Task.state.in_([queue.QUEUED, queue.RUNNING])))
        )
    assert pending == []
    service = Service(settings, db)
    with TestClient(create_app(settings, service)) as client:
        answers = {
            (victim, path): client.get(f"/api/jobs/{victim}{path}").status_code
            for victim in (queued_victim, running_victim)
            for path in ("", "/similar")
        }
    assert set(answers.values()) == {404}, answers
    model = Worker(settings, db, FakeEmbedder()).vectorizer.name
    lists = assert_lists_match_oracle(db, settings, model)
    assert queued_victim not in lists and running_victim not in lists
    report(
        "9 deletes",
        backend_of(database_url),
        deleted_while_queued=1,
        deleted_while_running=1,
        lists_holding_them=0,
        status_codes=sorted(set(answers.values())),
        lists_checked=len(lists),
    )
