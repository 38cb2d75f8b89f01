"""The worker end to end on a real SQLite file and a real PostgreSQL server, with the
deterministic FakeEmbedder: embedding, list freshness, retries, fencing and shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from jobsim import lists, queue
from jobsim.clock import ManualClock
from jobsim.embedders.base import FloatMatrix
from jobsim.errors import PermanentError, RateLimited, TransientError
from jobsim.maintenance import run_maintenance
from jobsim.postings.listed import is_listed
from jobsim.postings.recipe import DEFAULT_RECIPE, posting_inputs
from jobsim.postings.schema import EXPERIENCE_LEVELS, PostingIn, PostingPatch
from jobsim.postings.writer import PostingWriter
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, ListState, Posting, SimilarEntry, Task
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker
from tests.support.dictd import write_dictd

MODEL = FakeEmbedder().name

POSTINGS: dict[str, dict[str, Any]] = {
    "py-berlin": {
        "title": "Senior Python Backend Developer",
        "description": "Design and build Python backend services and REST APIs with Django "
        "and PostgreSQL for our logistics platform.",
        "category": "Engineering",
        "tags": ["python", "django", "postgresql"],
        "location": {"city": "Berlin"},
        "experience_level": "senior",
    },
    "py-munich": {
        "title": "Python Backend Engineer",
        "description": "Build Python backend services and REST APIs with FastAPI and "
        "PostgreSQL for a fintech product.",
        "category": "Engineering",
        "tags": ["python", "fastapi", "postgresql"],
        "location": {"city": "Munich"},
        "experience_level": "mid",
    },
    "data-eng": {
        "title": "Data Engineer",
        "description": "Build data pipelines in Python and Spark, model data in PostgreSQL "
        "and run Airflow jobs.",
        "category": "Data",
        "tags": ["python", "spark", "airflow"],
        "location": {"remote": True},
        "experience_level": "mid",
    },
    "frontend": {
        "title": "Frontend Developer",
        "description": "Build accessible web interfaces with React and TypeScript for our "
        "customer portal.",
        "category": "Engineering",
        "tags": ["react", "typescript"],
        "location": {"city": "Berlin"},
        "experience_level": "junior",
    },
    "nurse": {
        "title": "Registered Nurse",
        "description": "Provide patient care on a busy surgical ward, administer medication "
        "and support doctors.",
        "category": "Healthcare",
        "tags": ["patient care"],
        "location": {"city": "Hamburg"},
        "experience_level": "mid",
    },
    "icu-nurse": {
        "title": "Intensive Care Nurse",
        "description": "Provide patient care in the intensive care unit, monitor patients and "
        "administer medication.",
        "category": "Healthcare",
        "location": {"city": "Berlin"},
        "experience_level": "senior",
    },
    "cook": {
        "title": "Line Cook",
        "description": "Prepare dishes on the grill station, keep the kitchen clean and follow "
        "food safety rules.",
        "category": "Hospitality",
        "location": {"city": "Munich"},
    },
    "sales": {
        "title": "Account Executive",
        "description": "Sell our SaaS product to mid-market customers, run demos and close "
        "deals with decision makers.",
        "category": "Sales",
        "location": {"remote": True},
        "experience_level": "senior",
    },
}

NEAR_PY_BERLIN: dict[str, Any] = {
    **POSTINGS["py-berlin"],
    "description": "Design and build Python backend services and REST APIs with Django and "
    "PostgreSQL for our travel platform.",
}


# --- helpers -------------------------------------------------------------------------------


def create(db: Database, posting_id: str, **fields: Any) -> None:
    data = fields or POSTINGS[posting_id]
    with db.write() as session:
        PostingWriter().create(session, PostingIn(id=posting_id, **data))


def create_all(db: Database, ids: Sequence[str] = tuple(POSTINGS)) -> None:
    for posting_id in ids:
        create(db, posting_id)


def patch(db: Database, posting_id: str, **fields: Any) -> None:
    with db.write() as session:
        PostingWriter().update(session, posting_id, PostingPatch(**fields))


def similar_ids(db: Database, posting_id: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(SimilarEntry.similar_id)
                .where(SimilarEntry.posting_id == posting_id)
                .order_by(SimilarEntry.score.desc())
            )
        )


def lists_holding(db: Database, posting_id: str) -> list[str]:
    with db.read() as session:
        return sorted(
            session.scalars(
                select(SimilarEntry.posting_id).where(SimilarEntry.similar_id == posting_id)
            )
        )


def tasks_of(db: Database, posting_id: str, kind: str | None = None) -> list[Task]:
    with db.read() as session:
        query = select(Task).where(Task.posting_id == posting_id).order_by(Task.id)
        if kind:
            query = query.where(Task.kind == kind)
        return list(session.scalars(query))


def only_task(db: Database, posting_id: str, kind: str = queue.EMBED) -> Task:
    tasks = tasks_of(db, posting_id, kind)
    assert len(tasks) == 1, tasks
    return tasks[0]


def stored_vectors(db: Database) -> dict[str, np.ndarray]:
    with db.read() as session:
        rows = session.execute(
            select(Embedding.posting_id, Embedding.vector).where(Embedding.model == MODEL)
        ).all()
    return {posting_id: np.frombuffer(raw, dtype="<f4") for posting_id, raw in rows}


def get_posting(db: Database, posting_id: str) -> Posting:
    with db.read() as session:
        posting = session.get(Posting, posting_id)
        assert posting is not None
        return posting


def list_computed_at(db: Database, posting_id: str) -> datetime | None:
    """When the posting's list was last written (None: never)."""
    with db.read() as session:
        state = session.get(ListState, posting_id)
        return None if state is None else state.computed_at


def expected_context(a: Posting, b: Posting) -> float:
    """The documented context rules, written out independently of VectorIndex."""
    if a.experience_level in EXPERIENCE_LEVELS and b.experience_level in EXPERIENCE_LEVELS:
        distance = abs(
            EXPERIENCE_LEVELS.index(a.experience_level)
            - EXPERIENCE_LEVELS.index(b.experience_level)
        )
        level = {0: 0.5, 1: 0.3, 2: 0.1}.get(distance, 0.0)
    else:
        level = 0.25

    def norm(value: str | None) -> str | None:
        return value.strip().casefold() if value else None

    category = 0.3 if norm(a.category) and norm(a.category) == norm(b.category) else 0.0
    if (norm(a.city) and norm(a.city) == norm(b.city)) or (a.remote and b.remote):
        location = 0.2
    elif not a.city or not b.city or a.remote or b.remote:
        location = 0.1
    else:
        location = 0.0
    return min(level + category + location, 1.0)


def assert_lists_exact(
    db: Database, settings: Settings, now: datetime | None = None
) -> dict[str, list[str]]:
    """Every listed posting's stored list equals a brute-force top-N over the stored vectors,
    each score is w_sem * semantic + w_ctx * context, and no list holds an unlisted posting."""
    with db.read() as session:
        postings = {p.id: p for p in session.scalars(select(Posting))}
        entries = list(session.scalars(select(SimilarEntry)))
    vectors = stored_vectors(db)
    now = now or utcnow()
    listed = [pid for pid in postings if pid in vectors and is_listed(postings[pid], now)]
    lists: dict[str, list[SimilarEntry]] = defaultdict(list)
    for entry in entries:
        lists[entry.posting_id].append(entry)
        assert entry.similar_id in listed, f"{entry.similar_id} is not listed"
        assert entry.similar_id != entry.posting_id
    ws, wc = settings.weight_semantic, settings.weight_context
    result: dict[str, list[str]] = {}
    for pid in listed:
        expected = []
        for other in listed:
            if other == pid:
                continue
            semantic = float(vectors[pid].astype(np.float64) @ vectors[other].astype(np.float64))
            context = expected_context(postings[pid], postings[other])
            score = ws * semantic + wc * context
            if score >= settings.min_score:
                expected.append((score, other, semantic, context))
        # Equal scores (to float32 precision) may come in either order: ties are read by id.
        expected.sort(key=lambda item: (-round(item[0], 6), item[1]))
        expected = expected[: settings.top_n]
        actual = sorted(lists[pid], key=lambda e: (-round(e.score, 6), e.similar_id))
        assert [e.similar_id for e in actual] == [item[1] for item in expected], pid
        for entry, (score, _, semantic, context) in zip(actual, expected, strict=True):
            assert entry.semantic == pytest.approx(semantic, abs=1e-5)
            assert entry.context == pytest.approx(context, abs=1e-5)
            assert entry.score == pytest.approx(score, abs=1e-5)
            assert entry.score == pytest.approx(ws * entry.semantic + wc * entry.context, abs=1e-5)
        result[pid] = [e.similar_id for e in actual]
    return result


def burst(worker: Worker) -> None:
    worker.run(burst=True)


class ScriptedEmbedder(FakeEmbedder):
    """A FakeEmbedder that raises the queued errors first, then embeds normally."""

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors = list(errors)

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if self.errors:
            self.calls.append(len(texts))
            raise self.errors.pop(0)
        return super().embed(texts)


class AlwaysFailing(FakeEmbedder):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.calls.append(len(texts))
        raise self.error


# --- embedding and lists -------------------------------------------------------------------


def test_a_burst_embeds_every_posting_and_writes_exact_lists(
    db: Database, settings: Settings
) -> None:
    create_all(db)
    embedder = FakeEmbedder()
    totals = Worker(settings, db, embedder).run(burst=True)
    assert embedder.calls == [len(POSTINGS)]  # one batch, one call
    assert totals.embedded == len(POSTINGS)
    vectors = stored_vectors(db)
    assert set(vectors) == set(POSTINGS)
    for posting_id in POSTINGS:
        posting = get_posting(db, posting_id)
        text = DEFAULT_RECIPE.build(posting)
        assert vectors[posting_id] == pytest.approx(FakeEmbedder().embed([text])[0], abs=1e-6)
        assert list_computed_at(db, posting_id) is not None
        assert all(t.state == queue.SUCCEEDED for t in tasks_of(db, posting_id))
    lists = assert_lists_exact(db, settings)
    assert all(lists[pid] for pid in POSTINGS)
    assert lists["py-berlin"][0] == "py-munich"
    assert lists["nurse"][0] == "icu-nurse"
    assert lists["icu-nurse"][0] == "nurse"


def test_stored_list_state_matches_the_stored_list(db: Database, settings: Settings) -> None:
    small = settings.model_copy(update={"top_n": 3})
    create_all(db)
    burst(Worker(small, db, FakeEmbedder()))
    with db.read() as session:
        states = {s.posting_id: s for s in session.scalars(select(ListState))}
        assert set(states) == set(session.scalars(select(Posting.id)))
        for posting_id, state in states.items():
            scores = list(
                session.scalars(
                    select(SimilarEntry.score).where(SimilarEntry.posting_id == posting_id)
                )
            )
            assert state.count == len(scores)
            if len(scores) >= small.top_n:
                assert state.floor == pytest.approx(min(scores))
            else:
                assert state.floor is None


def test_a_new_posting_enters_the_full_list_of_a_related_posting_without_a_recompute(
    db: Database, settings: Settings
) -> None:
    small = settings.model_copy(update={"top_n": 3})
    create_all(db)
    embedder = FakeEmbedder()
    worker = Worker(small, db, embedder)
    burst(worker)
    before = similar_ids(db, "py-berlin")
    assert len(before) == 3
    assert "py-new" not in before
    computed_before = list_computed_at(db, "py-berlin")
    tasks_before = len(tasks_of(db, "py-berlin"))

    create(db, "py-new", **NEAR_PY_BERLIN)
    burst(worker)

    assert embedder.calls == [len(POSTINGS), 1]  # only the new posting was embedded
    assert len(tasks_of(db, "py-berlin")) == tasks_before  # nothing queued for py-berlin
    after = similar_ids(db, "py-berlin")
    assert after == ["py-new", *before[:2]]  # entered at the top, the old floor dropped out
    assert list_computed_at(db, "py-berlin") != computed_before
    assert similar_ids(db, "py-new")[0] == "py-berlin"
    assert_lists_exact(db, small)


def test_a_deleted_posting_disappears_from_every_list(db: Database, settings: Settings) -> None:
    create_all(db)
    worker = Worker(settings, db, FakeEmbedder())
    burst(worker)
    assert len(lists_holding(db, "py-munich")) >= 3
    with db.write() as session:
        PostingWriter().delete(session, "py-munich")
    burst(worker)
    assert lists_holding(db, "py-munich") == []
    assert similar_ids(db, "py-munich") == []  # its own list is gone too
    with db.read() as session:
        assert session.get_one(ListState, "py-munich").count == 0
    assert "py-munich" not in assert_lists_exact(db, settings)
    assert all(t.state == queue.SUCCEEDED for t in tasks_of(db, "py-munich"))


def test_a_closed_posting_leaves_every_list_and_returns_when_reopened(
    db: Database, settings: Settings
) -> None:
    create_all(db)
    embedder = FakeEmbedder()
    worker = Worker(settings, db, embedder)
    burst(worker)
    assert "nurse" in lists_holding(db, "icu-nurse")
    with db.write() as session:
        PostingWriter().close(session, "icu-nurse")
    burst(worker)
    assert lists_holding(db, "icu-nurse") == []
    assert_lists_exact(db, settings)
    patch(db, "icu-nurse", status="active")
    burst(worker)
    assert similar_ids(db, "nurse")[0] == "icu-nurse"
    assert_lists_exact(db, settings)
    assert embedder.calls == [len(POSTINGS)]  # closing and reopening never re-embeds


def test_an_expired_posting_leaves_every_list_after_maintenance_and_a_burst(
    db: Database, settings: Settings
) -> None:
    create_all(db)
    expiring = {**POSTINGS["icu-nurse"], "title": "Night Shift Intensive Care Nurse"}
    create(db, "expiring", **expiring, expires_at=utcnow() + timedelta(seconds=2))
    clock = ManualClock()
    worker = Worker(settings, db, FakeEmbedder(), clock=clock)
    burst(worker)
    assert "nurse" in lists_holding(db, "expiring")
    clock.advance(3)  # past its expiry

    report = run_maintenance(db, settings, clock=clock)
    assert report.expired_refills == 1
    assert [t.state for t in tasks_of(db, "expiring", queue.SIMILAR)] == [queue.QUEUED]
    burst(worker)
    assert lists_holding(db, "expiring") == []
    assert "expiring" not in assert_lists_exact(db, settings, now=clock())
    assert run_maintenance(db, settings, clock=clock).expired_refills == 0


def test_after_a_hundred_rapid_updates_the_vector_is_that_of_the_last_version(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich", "data-eng"])
    embedder = FakeEmbedder()
    worker = Worker(settings, db, embedder)
    burst(worker)
    for i in range(100):
        patch(
            db,
            "py-berlin",
            description=f"Design Python services and REST APIs, revision {i} of {i * 7} words.",
            tags=["python", f"skill{i}"],
        )
    queued = [t for t in tasks_of(db, "py-berlin", queue.EMBED) if t.state == queue.QUEUED]
    assert len(queued) == 1
    burst(worker)
    assert embedder.calls == [3, 1]
    posting = get_posting(db, "py-berlin")
    assert posting.version == 101
    assert "revision 99 of 693 words" in posting.description
    text = DEFAULT_RECIPE.build(posting)
    with db.read() as session:
        row = session.get(Embedding, ("py-berlin", MODEL))
        assert row is not None
    assert row.content_hash == posting.content_hash
    assert posting.content_hash == posting_inputs(DEFAULT_RECIPE, posting).content_hash
    vector = np.frombuffer(row.vector, dtype="<f4")
    assert vector == pytest.approx(FakeEmbedder().embed([text])[0], abs=1e-6)
    assert_lists_exact(db, settings)


def test_an_update_that_keeps_the_embedded_text_enqueues_no_embed_task(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich"])
    embedder = FakeEmbedder()
    worker = Worker(settings, db, embedder)
    burst(worker)
    hash_before = get_posting(db, "py-berlin").content_hash
    patch(db, "py-berlin", salary={"min": 70_000, "max": 90_000, "currency": "EUR"})
    patch(db, "py-berlin", company="Another Company GmbH")
    queued = [t for t in tasks_of(db, "py-berlin", queue.EMBED) if t.state == queue.QUEUED]
    assert queued == []
    posting = get_posting(db, "py-berlin")
    assert posting.content_hash == hash_before
    assert posting.salary_max == 90_000
    burst(worker)
    assert embedder.calls == [2]


def test_an_unchanged_update_writes_nothing(db: Database, settings: Settings) -> None:
    create(db, "py-berlin")
    with db.write() as session:
        result = PostingWriter().update(
            session, "py-berlin", PostingPatch(title=POSTINGS["py-berlin"]["title"])
        )
    assert result.action == "unchanged"
    assert get_posting(db, "py-berlin").version == 1
    assert len(tasks_of(db, "py-berlin")) == 1


# --- failures ------------------------------------------------------------------------------


def test_a_transient_embedder_error_requeues_the_task_with_the_attempt_counted(
    db: Database, settings: Settings
) -> None:
    create(db, "py-berlin")
    embedder = ScriptedEmbedder(TransientError("upstream timeout after 30s"))
    clock = ManualClock()
    worker = Worker(settings, db, embedder, clock=clock)
    report = worker.run_once()
    assert (report.claimed, report.retried, report.failed) == (1, 1, 0)
    task = only_task(db, "py-berlin")
    assert task.state == queue.QUEUED
    assert task.attempts == 1
    assert task.last_error == "upstream timeout after 30s"
    assert task.run_after <= utcnow() + timedelta(seconds=settings.retry_cap_seconds)
    assert stored_vectors(db) == {}

    clock.advance(settings.retry_cap_seconds)
    burst(worker)
    task = only_task(db, "py-berlin")
    assert task.state == queue.SUCCEEDED
    assert task.attempts == 2
    assert set(stored_vectors(db)) == {"py-berlin"}


def test_a_task_that_keeps_failing_transiently_is_dead_lettered_after_max_attempts(
    db: Database, settings: Settings
) -> None:
    create(db, "py-berlin")
    clock = ManualClock()
    worker = Worker(settings, db, AlwaysFailing(TransientError("503 from provider")), clock=clock)
    for _ in range(settings.max_attempts):
        assert worker.run_once().claimed == 1
        clock.advance(settings.retry_cap_seconds)
    assert worker.run_once().claimed == 0
    task = only_task(db, "py-berlin")
    assert task.state == queue.FAILED
    assert task.attempts == settings.max_attempts
    assert task.last_error == "503 from provider"


def test_an_unexpected_embedder_exception_is_retried_as_transient(
    db: Database, settings: Settings
) -> None:
    create(db, "py-berlin")
    worker = Worker(settings, db, ScriptedEmbedder(ConnectionResetError("peer reset")))
    assert worker.run_once().retried == 1
    task = only_task(db, "py-berlin")
    assert task.state == queue.QUEUED
    assert "ConnectionResetError" in (task.last_error or "")


def test_a_permanent_embedder_error_fails_the_task_with_a_sanitized_message(
    db: Database, settings: Settings
) -> None:
    keyed = settings.model_copy(update={"openai_api_key": SecretStr("plain-secret-value-42")})
    create_all(db, ["py-berlin", "py-munich"])
    error = PermanentError(
        "401: key plain-secret-value-42 rejected (sk-proj-abcdefghijklmnop), "
        "header Authorization: Bearer xyz"
    )
    embedder = AlwaysFailing(error)
    report = Worker(keyed, db, embedder).run(burst=True)
    # No retry: the batch, then each half once (both fail, so it is not one bad input).
    assert embedder.calls == [2, 1, 1]
    assert report.failed == 2
    for posting_id in ("py-berlin", "py-munich"):
        task = only_task(db, posting_id)
        assert task.state == queue.FAILED
        assert task.attempts == 1
        message = task.last_error or ""
        assert message.startswith("401: key [redacted] rejected")
        assert "plain-secret-value-42" not in message
        assert "sk-proj" not in message
        assert "xyz" not in message
    assert stored_vectors(db) == {}


def test_a_rate_limited_embedder_delays_the_task_by_retry_after_and_refunds_the_attempt(
    db: Database, settings: Settings
) -> None:
    # The retry cap also bounds Retry-After, so give it room for the provider's 30 seconds.
    roomy = settings.model_copy(update={"retry_cap_seconds": 600.0})
    create(db, "py-berlin")
    worker = Worker(roomy, db, ScriptedEmbedder(RateLimited("429 slow down", retry_after=30)))
    before = utcnow()
    report = worker.run_once()
    assert report.retried == 1
    task = only_task(db, "py-berlin")
    assert task.state == queue.QUEUED
    assert task.attempts == 0
    assert task.last_error == "429 slow down"
    assert before + timedelta(seconds=29.5) <= task.run_after <= utcnow() + timedelta(seconds=30.5)
    assert worker.run_once().claimed == 0  # not due yet


class RejectsOne(FakeEmbedder):
    """A provider that refuses any request holding `word` (e.g. input it cannot take)."""

    def __init__(self, word: str) -> None:
        super().__init__()
        self.word = word

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if any(self.word in text for text in texts):
            self.calls.append(len(texts))
            raise PermanentError(f"400: input rejected ({self.word})")
        return super().embed(texts)


def test_one_posting_the_provider_rejects_fails_alone_and_its_batch_is_stored(
    db: Database, settings: Settings
) -> None:
    create_all(db)
    poison = {**POSTINGS["cook"], "title": "Line Cook Zzyzx"}
    create(db, "poison", **poison)

    report = Worker(settings, db, RejectsOne("Zzyzx")).run(burst=True)

    assert (report.failed, report.succeeded) == (1, len(POSTINGS))
    assert only_task(db, "poison").state == queue.FAILED
    assert only_task(db, "poison").last_error == "400: input rejected (Zzyzx)"
    assert set(stored_vectors(db)) == set(POSTINGS)
    assert_lists_exact(db, settings)


class BadShapeEmbedder(FakeEmbedder):
    """A broken provider that returns one vector too few and skips validation."""

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.calls.append(len(texts))
        return np.ones((len(texts) - 1, self.dims), dtype=np.float32)


def test_vectors_of_the_wrong_shape_fail_the_batch_instead_of_crashing_the_worker(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich"])
    report = Worker(settings, db, BadShapeEmbedder()).run_once()
    assert report.failed == 2
    for posting_id in ("py-berlin", "py-munich"):
        task = only_task(db, posting_id)
        assert task.state == queue.FAILED
        assert "shape" in (task.last_error or "")
    assert stored_vectors(db) == {}


# --- fencing -------------------------------------------------------------------------------


class LeaseStealingEmbedder(FakeEmbedder):
    """While embedding, expires the victims' leases and lets another worker claim them."""

    def __init__(self, db: Database, victims: Sequence[str]) -> None:
        super().__init__()
        self.db = db
        self.victims = list(victims)
        self.stolen: list[queue.ClaimedTask] = []

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        with self.db.write() as session:
            session.execute(
                update(Task)
                .where(Task.posting_id.in_(self.victims), Task.state == queue.RUNNING)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        self.stolen = queue.claim(self.db, "thief", limit=10, lease_seconds=60)
        return super().embed(texts)


def test_a_batch_whose_lease_was_stolen_mid_embedding_writes_nothing_for_those_tasks(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich", "data-eng"])
    embedder = LeaseStealingEmbedder(db, ["py-munich"])
    report = Worker(settings, db, embedder).run_once()
    assert [t.posting_id for t in embedder.stolen] == ["py-munich"]
    assert report.claimed == 3
    assert report.embedded == 2
    assert report.succeeded == 2
    assert set(stored_vectors(db)) == {"py-berlin", "data-eng"}
    assert lists_holding(db, "py-munich") == []
    assert similar_ids(db, "py-munich") == []
    stolen = only_task(db, "py-munich")
    assert stolen.state == queue.RUNNING
    assert stolen.lease_owner == "thief"
    assert stolen.lease_token == embedder.stolen[0].token
    assert stolen.attempts == 1  # its lease was lost in a batch: refunded (queue.claim)
    assert list_computed_at(db, "py-munich") is None
    for posting_id in ("py-berlin", "data-eng"):
        assert only_task(db, posting_id).state == queue.SUCCEEDED
    assert similar_ids(db, "py-berlin") == ["data-eng"]


def test_the_embed_task_of_a_posting_that_no_longer_exists_fails(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich"])
    with db.write() as session:
        session.execute(delete(Posting).where(Posting.id == "py-munich"))
    report = Worker(settings, db, FakeEmbedder()).run(burst=True)
    assert report.failed == 1
    task = only_task(db, "py-munich")
    assert task.state == queue.FAILED
    assert "no longer exists" in (task.last_error or "")
    assert only_task(db, "py-berlin").state == queue.SUCCEEDED
    assert set(stored_vectors(db)) == {"py-berlin"}


def test_a_task_for_an_unknown_posting_id_fails_the_same_way(
    db: Database, settings: Settings
) -> None:
    with db.write() as session:
        queue.enqueue(session, queue.SIMILAR, "ghost")
    Worker(settings, db, FakeEmbedder()).run(burst=True)
    task = only_task(db, "ghost", queue.SIMILAR)
    assert task.state == queue.FAILED
    assert task.last_error == "posting 'ghost' no longer exists"


def test_a_heartbeat_keeps_the_lease_through_a_slow_embedding(
    db: Database, settings: Settings
) -> None:
    short = settings.model_copy(update={"lease_seconds": 0.6, "heartbeat_seconds": 0.1})
    create(db, "py-berlin")
    thief_got: list[list[queue.ClaimedTask]] = []

    class Slow(FakeEmbedder):
        def embed(self, texts: Sequence[str]) -> FloatMatrix:
            time.sleep(1.0)  # past the original lease
            thief_got.append(queue.claim(db, "thief", limit=10, lease_seconds=60))
            return super().embed(texts)

    Worker(short, db, Slow()).run(burst=True)
    assert thief_got == [[]]
    task = only_task(db, "py-berlin")
    assert task.state == queue.SUCCEEDED
    assert task.attempts == 1


# --- several workers -----------------------------------------------------------------------


def test_a_worker_keeps_only_its_newest_lists_and_reads_the_others_back(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists, "LIST_CACHE_LIMIT", 2)
    small = settings.model_copy(update={"top_n": 3, "batch_size": 2})
    worker = Worker(small, db, FakeEmbedder())
    create_all(db)
    burst(worker)
    assert len(worker.engine._lists) == 2
    create(db, "py-new", **NEAR_PY_BERLIN)
    burst(worker)  # enters lists the worker no longer keeps: read back, merged, written
    assert len(worker.engine._lists) == 2
    assert similar_ids(db, "py-berlin")[0] == "py-new"
    assert_lists_exact(db, small)


def test_two_workers_alternating_keep_every_list_exact(
    database_url: str, db: Database, settings: Settings
) -> None:
    other_db = Database(database_url)
    try:
        first = Worker(settings, db, FakeEmbedder(), worker_id="first")
        second = Worker(settings, other_db, FakeEmbedder(), worker_id="second")
        create_all(db, ["py-berlin", "nurse"])
        burst(first)
        create(db, "py-munich")
        burst(second)
        create(db, "icu-nurse")
        burst(first)  # must have caught up with py-munich, written by the second worker
        assert "py-munich" in similar_ids(db, "icu-nurse")
        assert similar_ids(db, "py-munich")[0] == "py-berlin"
        create(db, "data-eng")
        burst(second)
        lists = assert_lists_exact(db, settings)
        assert lists["py-berlin"][:2] == ["py-munich", "data-eng"]
        assert lists["nurse"][0] == "icu-nurse"

        # A context change processed by one worker must reach the other's scoring.
        patch(db, "py-munich", location={"city": "Hamburg"}, experience_level="executive")
        burst(first)
        create(db, "frontend")
        burst(second)
        assert_lists_exact(db, settings)
        with db.write() as session:
            PostingWriter().delete(session, "py-berlin")
        burst(second)
        create(db, "py-new", **NEAR_PY_BERLIN)
        burst(first)
        lists = assert_lists_exact(db, settings)
        assert "py-berlin" not in lists
        assert lists["py-new"][0] == "py-munich"
    finally:
        other_db.dispose()


# --- stopping ------------------------------------------------------------------------------


def worker_row(db: Database, worker_id: str) -> WorkerRow | None:
    with db.read() as session:
        return session.get(WorkerRow, worker_id)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_stop_from_another_thread_ends_a_running_worker(db: Database, settings: Settings) -> None:
    worker = Worker(settings, db, FakeEmbedder(), worker_id="stoppable")
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(worker.run()))
    thread.start()
    try:
        wait_for(lambda: getattr(worker_row(db, "stoppable"), "state", None) == "running")
        create(db, "py-berlin")  # picked up while running
        wait_for(lambda: "py-berlin" in stored_vectors(db))
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert results and results[0].succeeded == 1
    row = worker_row(db, "stoppable")
    assert row is not None
    assert row.state == "stopped"
    assert row.stopped_at is not None
    assert row.processed == 1


def test_release_held_returns_the_batch_in_hand_to_the_queue(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich"])
    entered, gate = threading.Event(), threading.Event()

    class Blocking(FakeEmbedder):
        def embed(self, texts: Sequence[str]) -> FloatMatrix:
            entered.set()
            gate.wait(10)
            return super().embed(texts)

    worker = Worker(settings, db, Blocking(), worker_id="holder")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert entered.wait(10)
        running = [only_task(db, p) for p in ("py-berlin", "py-munich")]
        assert {(t.state, t.attempts) for t in running} == {(queue.RUNNING, 1)}
        worker.stop()
        assert worker.release_held() == 2
        assert worker.release_held() == 0
    finally:
        gate.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    for posting_id in ("py-berlin", "py-munich"):
        task = only_task(db, posting_id)
        assert (task.state, task.attempts, task.lease_token) == (queue.QUEUED, 0, None)
    assert stored_vectors(db) == {}  # the late embedding was fenced off
    row = worker_row(db, "holder")
    assert row is not None and row.state == "stopped"


SIGTERM_SCRIPT = """
import sys, time
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker

class Stuck(FakeEmbedder):
    def embed(self, texts):
        time.sleep(60)
        return super().embed(texts)

url, mode = sys.argv[1], sys.argv[2]
settings = Settings(
    database_url=url, embedder="fake:64", heartbeat_seconds=0.1, lease_seconds=5,
    poll_seconds=0.05, shutdown_grace_seconds=0.5, maintenance_seconds=3600,
)
embedder = Stuck() if mode == "stuck" else FakeEmbedder()
worker = Worker(settings, Database(url), embedder, worker_id="sigterm-" + mode)
worker.run(install_signal_handlers=True)
print("run returned", flush=True)
time.sleep(1.5)  # longer than the grace period: nothing may kill the process now
print("survived", flush=True)
sys.exit(3)
"""


def start_script(tmp_path: Path, database_url: str, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "sigterm_worker.py"
    script.write_text(SIGTERM_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), database_url, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sigterm_stops_an_idle_worker_cleanly_and_the_process_lives_on(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    process = start_script(tmp_path, database_url, "idle")
    try:
        wait_for(lambda: worker_row(db, "sigterm-idle") is not None, timeout=20)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert "run returned" in out, err
    assert "survived" in out, err
    assert process.returncode == 3
    row = worker_row(db, "sigterm-idle")
    assert row is not None and row.state == "stopped"


def test_sigterm_during_a_stuck_batch_releases_it_after_the_grace_period(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    create(db, "py-berlin")
    process = start_script(tmp_path, database_url, "stuck")
    try:
        wait_for(lambda: only_task(db, "py-berlin").state == queue.RUNNING, timeout=20)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        elapsed = time.monotonic() - signalled
    finally:
        process.kill()
    assert "run returned" not in out, err
    assert 0.4 <= elapsed < 10
    task = only_task(db, "py-berlin")
    assert (task.state, task.attempts, task.lease_token) == (queue.QUEUED, 0, None)
    row = worker_row(db, "sigterm-stuck")
    assert row is not None and row.state == "stopped"


def test_the_memory_guard_pauses_claiming_and_marks_the_worker_paused(
    db: Database, settings: Settings
) -> None:
    create_all(db, ["py-berlin", "py-munich"])
    guarded = settings.model_copy(update={"worker_memory_limit_mb": 1})
    worker = Worker(guarded, db, FakeEmbedder())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        state = None
        while time.monotonic() < deadline and state != "paused":
            time.sleep(0.05)
            with db.read() as session:
                state = session.scalar(select(WorkerRow.state).where(WorkerRow.id == worker.id))
        assert state == "paused"
        assert all(t.state == queue.QUEUED for t in tasks_of(db, "py-berlin", queue.EMBED))
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_default_view_mix_stores_the_vectorizer_output_and_fills_lists(
    db: Database, settings: Settings
) -> None:
    mixed = settings.model_copy(update={"vector_views": "full:0.5,title:0.2,lexical:0.3"})
    create_all(db)
    worker = Worker(mixed, db, FakeEmbedder(64, name=mixed.embedder))
    burst(worker)
    posting = get_posting(db, "py-berlin")
    with db.read() as session:
        row = session.get(Embedding, ("py-berlin", worker.vectorizer.name))
        assert row is not None
        assert session.get_one(ListState, "py-berlin").count > 0
    expected = worker.vectorizer.vectors([worker.vectorizer.inputs(posting)])[0]
    assert row.dims == 64 + 64 + mixed.lexical_dims
    assert np.frombuffer(row.vector, dtype="<f4") == pytest.approx(expected, abs=1e-6)


def test_a_worker_with_another_text_recipe_than_the_api_still_stores_every_vector(
    db: Database, settings: Settings
) -> None:
    from jobsim.service import Service

    written_by = settings.model_copy(update={"text_max_chars": 1500})
    create_all(db)  # hashes computed with the default recipe
    worker_settings = written_by.model_copy(update={"text_max_chars": 120})
    worker = Worker(worker_settings, db, FakeEmbedder(64, name=settings.embedder))

    burst(worker)

    with db.read() as session:
        stored = session.scalars(
            select(Embedding.posting_id).where(Embedding.model == worker.vectorizer.name)
        ).all()
    assert sorted(stored) == sorted(POSTINGS)
    assert "#recipe:" in worker.vectorizer.name
    status = Service(worker_settings, db).ops.status()
    assert status["embeddings"]["coverage"] == 1.0
    assert status["similar_lists"]["computed"] == len(POSTINGS)


def test_changing_the_recipe_or_the_view_mix_names_a_new_vector_model() -> None:
    from jobsim.vector_recipe import VectorRecipe

    def vector_model(settings: Settings) -> str:
        return VectorRecipe.from_settings(settings).model

    base = Settings(embedder="fake:8")
    assert vector_model(base) == vector_model(base.model_copy())
    assert vector_model(base.model_copy(update={"text_max_chars": 900})) != vector_model(base)
    assert vector_model(base.model_copy(update={"vector_expansion": 2})) != vector_model(base)
    raw = {"vector_views": "full:1", "vector_expansion": 0}
    assert vector_model(base.model_copy(update=raw)) == "fake:8"


def test_polish_titles_are_embedded_glossed_and_status_says_so(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from jobsim.glossary import find_glossary
    from jobsim.service import Service

    write_dictd(
        tmp_path,
        "freedict-pol-eng",
        {"kasjer": "kasjer <n>\ncashier\nosoba przyjmująca wpłaty\n"},
    )
    glossed = settings.model_copy(
        update={"vector_views": "title:1", "glossary_dir": str(tmp_path), "min_score": -1.0}
    )
    description = "Obsługa kasy fiskalnej i klientów w sklepie spożywczym, praca zmianowa."
    create(db, "pl-kasjer", title="Kasjer", description=description)
    create(db, "en-cashier", title="Cashier", description="Serve customers at the till, shifts.")
    worker = Worker(glossed, db, FakeEmbedder(64, name=glossed.embedder))

    burst(worker)

    assert worker.vectorizer.name.endswith("#gloss:" + find_glossary(str(tmp_path)).fingerprint)
    with db.read() as session:
        rows = {
            row.posting_id: np.frombuffer(row.vector, dtype="<f4")
            for row in session.scalars(select(Embedding))
        }
    assert get_posting(db, "pl-kasjer").language == "pl"
    assert rows["pl-kasjer"] == pytest.approx(rows["en-cashier"], abs=1e-6)
    languages = {row["language"]: row for row in Service(glossed, db).ops.status()["languages"]}
    assert languages["pl"]["glossed"] and languages["pl"]["coverage"] == 1.0
    assert not languages["en"]["glossed"]


class NotReadyAtFirst(FakeEmbedder):
    """A provider whose start-up check fails with the queued errors before it answers."""

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors = list(errors)
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.errors:
            raise self.errors.pop(0)


def test_a_worker_started_while_the_provider_is_rate_limiting_or_down_waits_then_works(
    db: Database, settings: Settings
) -> None:
    create(db, "py-berlin")
    embedder = NotReadyAtFirst(
        RateLimited("429 slow down", retry_after=0.01), TransientError("503 unavailable")
    )
    report = Worker(settings, db, embedder, worker_id="patient").run(burst=True)

    assert embedder.checks == 3
    assert report.succeeded == 1
    assert set(stored_vectors(db)) == {"py-berlin"}
    assert worker_row(db, "patient").state == "stopped"


def test_a_worker_shows_starting_until_its_provider_answers(
    db: Database, settings: Settings
) -> None:
    embedder = NotReadyAtFirst(*(TransientError("connection refused") for _ in range(1000)))
    worker = Worker(settings, db, embedder, worker_id="waiting")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: embedder.checks >= 3)
        assert worker_row(db, "waiting").state == "starting"
        assert thread.is_alive()  # a transient error never ends the worker
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_worker_whose_provider_rejects_the_key_at_start_up_stops_with_that_error(
    db: Database, settings: Settings
) -> None:
    embedder = NotReadyAtFirst(PermanentError("401: invalid key"))
    with pytest.raises(PermanentError, match="401"):
        Worker(settings, db, embedder, worker_id="refused").run(burst=True)
    assert worker_row(db, "refused").state == "stopped"
