"""The admin API on a real SQLite file and a real PostgreSQL server: the token (never open, header
only, rate-limited failures), the reports an operator reads, and every action, with its audit
line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update

from jobsim.api.app import create_app
from jobsim.errors import PermanentError
from jobsim.logs import configure_logging
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Task
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker

TOKEN = "adm1n-T0ken-canary-7f3e2a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GET_ROUTES = [
    "/api/admin/embeddings",
    "/api/admin/queue",
    "/api/admin/tasks",
    "/api/admin/tasks/1",
    "/api/admin/workers",
    "/api/admin/log-level",
]
POST_ROUTES = [
    ("/api/admin/recompute", None),
    ("/api/admin/reembed", None),
    ("/api/admin/tasks/retry", {}),
    ("/api/admin/tasks/1/retry", None),
    ("/api/admin/tasks/clear", {"older_than_days": 30}),
    ("/api/admin/enqueue", {"ids": ["nothing-here"]}),
]


def admin_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(TOKEN), **overrides})


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(admin_settings(settings), Service(settings, db))) as client:
        yield client


def posting(n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"job-{n}",
        "title": f"Python Backend Developer {n}",
        "description": "Build and run Python services on PostgreSQL for a logistics platform.",
        "category": "Engineering",
        "location": {"city": "Berlin"},
    }
    body.update(overrides)
    return body


def create_postings(client: TestClient, count: int) -> None:
    response = client.post("/api/jobs/bulk", json=[posting(n) for n in range(count)])
    assert response.status_code == 200, response.text


def run_worker(settings: Settings, db: Database, embedder: FakeEmbedder | None = None) -> None:
    # One posting per batch: a provider error fails the whole batch it is in.
    one_by_one = settings.model_copy(update={"batch_size": 1})
    Worker(one_by_one, db, embedder or FakeEmbedder(64, name=settings.embedder)).run(burst=True)


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, headers=AUTH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post(client: TestClient, path: str, body: Any = None) -> Any:
    response = client.post(path, headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    return response.json()


class FailingFor(FakeEmbedder):
    """Rejects any batch holding a text with `word` (a permanent provider error)."""

    def __init__(self, word: str, name: str) -> None:
        super().__init__(64, name=name)
        self.word = word

    def embed(self, texts: Any) -> Any:
        if any(self.word in text for text in texts):
            raise PermanentError(f"provider rejected the input containing {self.word}")
        return super().embed(texts)


# --- the token ---------------------------------------------------------------------------------


def test_without_a_configured_token_every_admin_route_answers_503_and_never_opens(
    settings: Settings, db: Database
) -> None:
    with TestClient(create_app(settings, Service(settings, db))) as client:
        for path in GET_ROUTES:
            response = client.get(path, headers=AUTH)
            assert response.status_code == 503, path
            assert response.json()["error"] == "admin_disabled"
            assert "JOBSIM_ADMIN_TOKEN" in response.json()["message"]
        for path, body in POST_ROUTES:
            assert client.post(path, headers=AUTH, json=body).status_code == 503, path


def test_every_admin_route_answers_401_without_the_token_and_200_with_it(
    client: TestClient,
) -> None:
    create_postings(client, 1)
    first_task = get(client, "/api/admin/tasks")["items"][-1]["id"]
    for path in GET_ROUTES:
        path = path.replace("/tasks/1", f"/tasks/{first_task}")
        assert client.get(path).status_code == 401, path
        wrong = {"Authorization": "Bearer not-the-token"}
        assert client.get(path, headers=wrong).status_code == 401, path
        assert client.get(path, headers=AUTH).status_code == 200, path
    for path, body in POST_ROUTES:
        path = path.replace("/tasks/1/", f"/tasks/{first_task}/")
        assert client.post(path, json=body).status_code == 401, path
        assert client.post(path, headers=AUTH, json=body).status_code == 200, path


def test_a_token_in_the_query_string_is_ignored(client: TestClient) -> None:
    for name in ("token", "access_token", "admin_token"):
        response = client.get("/api/admin/queue", params={name: TOKEN})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_repeated_failures_from_one_client_are_refused_with_429_even_with_the_right_token(
    settings: Settings, db: Database
) -> None:
    limited = admin_settings(settings, admin_failed_auth_per_minute=3)
    with TestClient(create_app(limited, Service(limited, db))) as client:
        for _ in range(3):
            assert (
                client.get("/api/admin/queue", headers={"Authorization": "Bearer x"}).status_code
                == 401
            )
        refused = client.get("/api/admin/queue", headers=AUTH)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert client.get("/api/jobs").status_code == 200  # only the admin routes are refused


def test_no_admin_answer_or_error_carries_the_token(client: TestClient) -> None:
    answers = [client.get(p, headers=AUTH).text for p in GET_ROUTES]
    answers.append(
        client.get("/api/admin/queue", headers={"Authorization": "Bearer " + TOKEN[:-1]}).text
    )
    answers.append(
        client.post("/api/admin/tasks/clear", headers=AUTH, json={"older_than_days": -1}).text
    )
    assert not any(TOKEN in answer for answer in answers)


# --- reports -----------------------------------------------------------------------------------


def test_the_embedding_report_counts_postings_by_state_model_and_language(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 4)
    client.post("/api/jobs", json=posting(9, title="Registered Nurse", id="nurse"))
    before = get(client, "/api/admin/embeddings")
    assert before["states"] == {"embedded": 0, "queued": 5, "failed": 0, "missing": 0}
    assert before["coverage"] == 0.0

    run_worker(settings, db, FailingFor("Nurse", settings.embedder))

    report = get(client, "/api/admin/embeddings")
    assert report["states"] == {"embedded": 4, "queued": 0, "failed": 1, "missing": 0}
    assert report["coverage"] == 0.8
    assert report["postings"]["active"] == 5
    assert report["models"] == [
        {
            "model": report["vector_model"],
            "vectors": 4,
            "current": True,
            "serving": True,
            "embedded": 4,
            "coverage": 0.8,
        }
    ]
    assert report["languages"][0]["active"] == 5
    assert report["stale_lists"] == 0


def test_the_embedding_report_and_the_status_count_each_listing_type_apart(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 5)
    assert client.patch("/api/jobs/job-2", json={"status": "closed"}).status_code == 200
    assert client.patch("/api/jobs/job-3", json={"status": "draft"}).status_code == 200
    assert client.delete("/api/jobs/job-4").status_code == 204
    bakery = {
        "name": "Crust & Crumb",
        "category": "Bakery",
        "description": "Sourdough and rye bread baked before dawn, croissants and cakes.",
        "address": {"street": "1 Church Lane", "city": "Northfield"},
    }
    assert client.post("/api/businesses", json=bakery).status_code == 201
    before = get(client, "/api/admin/embeddings")["listing_types"]
    run_worker(settings, db)

    after = get(client, "/api/admin/embeddings")["listing_types"]
    jobs = {"listing_type": "job", "active": 2, "closed": 1, "draft": 1, "deleted": 1}
    businesses = {"listing_type": "business", "active": 1, "closed": 0, "draft": 0, "deleted": 0}
    assert before == [
        {**jobs, "embedded": 0, "coverage": 0.0},
        {**businesses, "embedded": 0, "coverage": 0.0},
    ]
    assert after == [
        {**jobs, "embedded": 2, "coverage": 1.0},
        {**businesses, "embedded": 1, "coverage": 1.0},
    ]
    assert Service(settings, db).ops.status()["listing_types"] == after
    # The totals count every listing type together.
    totals = get(client, "/api/admin/embeddings")["postings"]
    assert totals == {"active": 3, "closed": 1, "draft": 1, "deleted": 1}


def test_the_queue_report_has_counts_the_oldest_age_and_sixty_minutes_of_throughput(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 3)
    queued = get(client, "/api/admin/queue")
    assert queued["totals"]["queued"] == 3
    assert queued["counts"]["embed"]["queued"] == 3
    assert queued["oldest_queued_age_seconds"] >= 0

    run_worker(settings, db)

    report = get(client, "/api/admin/queue")
    assert report["totals"]["succeeded"] == 3 and report["totals"]["queued"] == 0
    assert report["oldest_queued_age_seconds"] is None
    assert len(report["last_hour"]) == 60
    assert report["last_hour"][-1]["succeeded"] == 3  # this minute
    assert report["succeeded_last_hour"] == 3 and report["failed_last_hour"] == 0


def test_tasks_are_listed_by_state_with_pagination_and_one_shows_its_sanitized_error(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 5)
    client.post(
        "/api/jobs",
        json=posting(9, title="Registered Nurse", id="nurse"),
        headers={"X-Trace-Id": "trace42"},
    )
    keyed = settings.model_copy(update={"openai_api_key": SecretStr("sk-" + "x" * 24)})
    run_worker(keyed, db, FailingFor("Nurse", settings.embedder))

    page = get(client, "/api/admin/tasks", state="succeeded", limit=2, offset=1)
    assert page["total"] == 5 and len(page["items"]) == 2 and page["offset"] == 1
    assert all(item["state"] == "succeeded" for item in page["items"])
    failed = get(client, "/api/admin/tasks", state="failed")["items"]
    assert [item["posting_id"] for item in failed] == ["nurse"]

    task = get(client, f"/api/admin/tasks/{failed[0]['id']}")
    assert task["state"] == "failed" and task["attempts"] == 1
    assert "provider rejected" in task["last_error"]
    assert task["trace_id"] == "trace42"
    assert task["finished_at"] is not None
    assert client.get("/api/admin/tasks/999999", headers=AUTH).status_code == 404
    assert client.get("/api/admin/tasks", headers=AUTH, params={"state": "lost"}).status_code == 422


def test_the_workers_report_tells_live_workers_from_silent_ones(
    client: TestClient, settings: Settings, db: Database
) -> None:
    run_worker(settings, db)  # registers, then stops
    now = utcnow()
    with db.write() as session:
        for worker_id, age in (("busy", 0), ("silent", 3600)):
            session.add(
                WorkerRow(
                    id=worker_id,
                    hostname="host-a",
                    pid=7,
                    state="running",
                    embedder="fake:64",
                    started_at=now - timedelta(hours=2),
                    heartbeat_at=now - timedelta(seconds=age),
                    processed=12,
                    failed=1,
                    memory_mb=321.5,
                    current_batch=4,
                )
            )

    report = get(client, "/api/admin/workers")

    by_id = {item["id"]: item for item in report["items"]}
    assert by_id["busy"]["alive"] and by_id["busy"]["current_batch"] == 4
    assert by_id["busy"]["hostname"] == "host-a" and by_id["busy"]["processed"] == 12
    assert not by_id["silent"]["alive"]
    assert (report["alive"], report["dead"]) == (1, 1)
    stopped = [item for item in report["items"] if item["state"] == "stopped"]
    assert len(stopped) == 1 and not stopped[0]["alive"] and stopped[0]["stopped_at"]


# --- actions -----------------------------------------------------------------------------------


def test_retry_sends_a_dead_letter_back_exactly_once_and_it_then_succeeds(
    client: TestClient, settings: Settings, db: Database
) -> None:
    client.post("/api/jobs", json=posting(9, title="Registered Nurse", id="nurse"))
    run_worker(settings, db, FailingFor("Nurse", settings.embedder))
    failed_id = get(client, "/api/admin/tasks", state="failed")["items"][0]["id"]

    first = post(client, f"/api/admin/tasks/{failed_id}/retry")
    again = post(client, f"/api/admin/tasks/{failed_id}/retry")

    assert (first["count"], first["ids"]) == (1, [failed_id])
    assert again["count"] == 0
    assert get(client, f"/api/admin/tasks/{failed_id}")["state"] == "queued"
    run_worker(settings, db)  # the provider accepts it now
    assert get(client, f"/api/admin/tasks/{failed_id}")["state"] == "succeeded"
    assert client.post("/api/admin/tasks/999999/retry", headers=AUTH).status_code == 404


def test_retry_all_sends_every_dead_letter_back(
    client: TestClient, settings: Settings, db: Database
) -> None:
    for n in range(3):
        client.post("/api/jobs", json=posting(n, title=f"Registered Nurse {n}"))
    run_worker(settings, db, FailingFor("Nurse", settings.embedder))
    assert get(client, "/api/admin/queue")["totals"]["failed"] == 3

    result = post(client, "/api/admin/tasks/retry", {})

    assert result["count"] == 3
    assert get(client, "/api/admin/queue")["totals"] == {
        "queued": 3,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
    }


def test_recompute_and_reembed_queue_every_listed_or_active_posting(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 3)
    client.post("/api/jobs", json=posting(7, status="closed"))
    run_worker(settings, db)
    with db.read() as session:
        first_vectors = dict(session.execute(select(Embedding.posting_id, Embedding.seq)).all())

    assert post(client, "/api/admin/recompute")["count"] == 3
    assert post(client, "/api/admin/reembed")["count"] == 3
    counts = get(client, "/api/admin/queue")["counts"]
    assert (counts["similar"]["queued"], counts["reembed"]["queued"]) == (3, 3)

    run_worker(settings, db)

    with db.read() as session:
        again = dict(session.execute(select(Embedding.posting_id, Embedding.seq)).all())
    assert set(again) == set(first_vectors)
    assert all(again[pid] > first_vectors[pid] for pid in again)  # stored anew, not skipped


def test_clear_deletes_finished_tasks_older_than_the_days_given(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 3)
    run_worker(settings, db)
    with db.write() as session:
        oldest = session.scalars(select(Task.id).order_by(Task.id).limit(2)).all()
        session.execute(
            update(Task)
            .where(Task.id.in_(oldest))
            .values(finished_at=utcnow() - timedelta(days=10))
        )

    assert post(client, "/api/admin/tasks/clear", {"older_than_days": 30})["count"] == 0
    assert post(client, "/api/admin/tasks/clear", {"older_than_days": 7})["count"] == 2
    assert get(client, "/api/admin/tasks")["total"] == 1
    bad = client.post("/api/admin/tasks/clear", headers=AUTH, json={"older_than_days": -1})
    assert bad.status_code == 422


def test_enqueue_queues_known_postings_and_reports_unknown_ids(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_postings(client, 2)
    run_worker(settings, db)

    result = post(client, "/api/admin/enqueue", {"ids": ["job-0", "job-1", "job-0", "ghost"]})

    assert (result["count"], result["unknown"]) == (2, ["ghost"])
    assert get(client, "/api/admin/queue")["counts"]["embed"]["queued"] == 2
    too_many = client.post("/api/admin/enqueue", headers=AUTH, json={"ids": ["a"] * 1001})
    assert too_many.status_code == 422


def test_the_log_level_changes_at_run_time_and_every_action_is_audited_without_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("INFO")
    jobsim_logger = logging.getLogger("jobsim")
    jobsim_logger.addHandler(caplog.handler)
    try:
        assert get(client, "/api/admin/log-level")["level"] == "INFO"
        response = client.put("/api/admin/log-level", headers=AUTH, json={"level": "DEBUG"})
        assert response.json() == {"level": "DEBUG"}
        assert get(client, "/api/admin/log-level")["level"] == "DEBUG"
        assert jobsim_logger.level == logging.DEBUG
        assert (
            client.put("/api/admin/log-level", headers=AUTH, json={"level": "LOUD"}).status_code
            == 422
        )
        post(client, "/api/admin/recompute")
    finally:
        jobsim_logger.removeHandler(caplog.handler)
        configure_logging("INFO")

    audit = [r for r in caplog.records if r.name == "jobsim.audit"]
    assert [r.__dict__["action"] for r in audit] == ["log-level DEBUG", "recompute"]
    assert all(r.__dict__["who"].startswith("token:") for r in audit)
    assert not any(TOKEN in str(r.__dict__) for r in caplog.records)


def test_the_openapi_document_lists_every_admin_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in [*GET_ROUTES, *(p for p, _ in POST_ROUTES)]:
        template = path.replace("/tasks/1", "/tasks/{task_id}")
        assert template in paths, template


def test_a_worker_takes_up_a_stored_log_level_at_its_next_heartbeat(
    settings: Settings, db: Database
) -> None:
    from jobsim import runtime_settings

    configure_logging("INFO")
    worker = Worker(settings, db, FakeEmbedder(64, name=settings.embedder))
    with db.write() as session:
        runtime_settings.write(session, runtime_settings.LOG_LEVEL, "ERROR")
    try:
        worker.beat()
        assert logging.getLogger("jobsim").level == logging.ERROR
    finally:
        configure_logging("INFO")
