"""Health endpoints through FastAPI's TestClient on a real SQLite file and a real PostgreSQL
server: the probes (/healthz, /readyz and their older names), and /api/health/embeddings in the
seed's format, healthy or degraded as the `health_*` thresholds say."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update

from jobsim import queue, worker_registry
from jobsim.api.app import create_app
from jobsim.retry import RetryDecision
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker
from tests.support.app_client import open_client

DB_PASSWORD = "pw-Secret-4f1e-do-not-leak"


# --- helpers ---------------------------------------------------------------------------------


def post_job(client: TestClient, title: str = "Backend Python Developer") -> str:
    response = client.post(
        "/api/jobs",
        json={
            "title": title,
            "description": "Build and run Python services on PostgreSQL for a logistics team.",
            "company": "Acme",
            "category": "Engineering",
            "location": {"city": "Berlin", "remote": False},
        },
    )
    assert response.status_code == 201, response.text
    posting_id: str = response.json()["id"]
    return posting_id


def run_worker(settings: Settings, db: Database) -> None:
    Worker(settings, db, FakeEmbedder(64, name=settings.embedder)).run(burst=True)


def live_worker(db: Database, worker_id: str = "w-live") -> None:
    worker_registry.register(db, worker_id, embedder="fake:64", memory_mb=10.0)


def dead_letter(db: Database, posting_id: str) -> None:
    """A failed task, made the way a worker makes one: claim, then a `fail` decision."""
    with db.write() as session:
        queue.enqueue(session, queue.SIMILAR, posting_id)
    claimed = queue.claim(db, "w-test", kinds=[queue.SIMILAR], limit=1)
    with db.write() as session:
        queue.settle_failure(
            session, claimed[0].token, claimed[0].id, RetryDecision("fail"), "boom"
        )


def health(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/health/embeddings")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def unreachable_database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A Database whose server is not there: a closed port, or a SQLite path that cannot be
    opened (its directory replaced by a file before the first connection)."""
    if request.param == "postgresql":
        return Database(f"postgresql://jobsim:{DB_PASSWORD}@127.0.0.1:1/jobsim")
    folder = tmp_path / "data"
    db = Database(f"sqlite:///{folder / 'jobsim.db'}")
    folder.rmdir()
    folder.write_text("not a directory")
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def down_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    db = unreachable_database(request, tmp_path)
    settings = Settings(database_url=db.url, embedder="fake:64", vector_views="full:1")
    with open_client(settings, db) as client:
        yield client
    db.dispose()


# --- probes ----------------------------------------------------------------------------------


def test_healthz_and_readyz_answer_200_like_their_older_names(client: TestClient) -> None:
    answers = {
        path: client.get(path)
        for path in ("/healthz", "/readyz", "/api/health/live", "/api/health/ready")
    }

    assert {path: (r.status_code, r.json()["status"]) for path, r in answers.items()} == {
        "/healthz": (200, "ok"),
        "/readyz": (200, "ready"),
        "/api/health/live": (200, "ok"),
        "/api/health/ready": (200, "ready"),
    }


def test_readyz_answers_503_when_the_database_is_unreachable_while_healthz_stays_200(
    down_client: TestClient,
) -> None:
    ready = down_client.get("/readyz")
    old_name = down_client.get("/api/health/ready")
    live = down_client.get("/healthz")

    assert (ready.status_code, ready.json()["status"]) == (503, "unavailable")
    assert old_name.status_code == 503
    assert live.status_code == 200


# --- /api/health/embeddings ------------------------------------------------------------------


def test_embedding_health_is_healthy_with_a_live_worker_and_everything_embedded(
    client: TestClient, settings: Settings, db: Database
) -> None:
    for title in ("Backend Python Developer", "Frontend React Developer"):
        post_job(client, title)
    run_worker(settings, db)
    live_worker(db)

    body = health(client)

    assert body["status"] == "healthy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    assert body["metrics"] == {
        "coverage": "100.00%",
        "totalJobs": 2,
        "jobsWithEmbeddings": 2,
        "queue": {"pending": 0, "processing": 0, "failed": 0},
        "workers": {"active": 1},
    }


def test_embedding_health_is_degraded_without_a_live_worker(client: TestClient) -> None:
    post_job(client)

    body = health(client)

    assert body["status"] == "degraded"
    assert body["metrics"]["workers"] == {"active": 0}
    assert body["metrics"]["coverage"] == "0.00%"
    assert body["metrics"]["queue"]["pending"] == 1


def test_a_stopped_worker_or_one_silent_past_the_dead_after_window_is_not_active(
    client: TestClient, settings: Settings, db: Database
) -> None:
    run_worker(settings, db)  # registers, then signs off: stopped
    live_worker(db, "w-silent")
    window = settings.heartbeat_seconds * settings.dead_after_heartbeats
    with db.write() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == "w-silent")
            .values(heartbeat_at=utcnow() - timedelta(seconds=window + 1))
        )

    assert health(client)["metrics"]["workers"] == {"active": 0}


def test_embedding_health_is_degraded_once_pending_tasks_reach_health_max_queued(
    settings: Settings, db: Database
) -> None:
    strict = settings.model_copy(update={"health_max_queued": 2})
    live_worker(db)
    with TestClient(create_app(strict, Service(strict, db))) as client:
        post_job(client, "Backend Python Developer")
        below = health(client)
        post_job(client, "Frontend React Developer")
        at = health(client)

    assert (below["status"], below["metrics"]["queue"]["pending"]) == ("healthy", 1)
    assert (at["status"], at["metrics"]["queue"]["pending"]) == ("degraded", 2)


def test_embedding_health_is_degraded_once_dead_letters_reach_health_max_failed(
    settings: Settings, db: Database
) -> None:
    strict = settings.model_copy(update={"health_max_failed": 1, "health_min_workers": 0})
    with TestClient(create_app(strict, Service(strict, db))) as client:
        posting_id = post_job(client)
        run_worker(strict, db)
        healthy = health(client)
        dead_letter(db, posting_id)
        degraded = health(client)

    assert healthy["status"] == "healthy"
    assert degraded["status"] == "degraded"
    assert degraded["metrics"]["queue"] == {"pending": 0, "processing": 0, "failed": 1}


def test_embedding_health_counts_only_active_postings_and_the_current_model(
    client: TestClient, settings: Settings, db: Database
) -> None:
    post_job(client, "Backend Python Developer")
    closed = post_job(client, "Frontend React Developer")
    run_worker(settings, db)
    assert client.post(f"/api/jobs/{closed}/close").status_code == 200
    post_job(client, "Data Engineer")  # active, not embedded yet

    metrics = health(client)["metrics"]

    assert (metrics["totalJobs"], metrics["jobsWithEmbeddings"]) == (2, 1)
    assert metrics["coverage"] == "50.00%"


def test_embedding_health_answers_503_with_a_short_error_and_no_secret_when_the_database_is_down(
    down_client: TestClient,
) -> None:
    response = down_client.get("/api/health/embeddings")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "error": "database unavailable"}
    assert DB_PASSWORD not in response.text


def test_the_health_endpoints_need_no_token_even_when_an_api_key_is_set(
    settings: Settings, db: Database
) -> None:
    guarded = settings.model_copy(update={"api_key": SecretStr("k3y-health-0000")})
    with TestClient(create_app(guarded, Service(guarded, db))) as client:
        codes = [
            client.get(p).status_code for p in ("/healthz", "/readyz", "/api/health/embeddings")
        ]

    assert codes == [200, 200, 200]
