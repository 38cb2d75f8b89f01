"""GET /metrics through FastAPI's TestClient on a real SQLite file and a real PostgreSQL server,
parsed with prometheus_client's own parser: database gauges at scrape time, worker counters
summed from their rows (two workers add up), the API's own counters (also across processes in
multiprocess mode), provider requests against a real local HTTP server, and a database outage.

The API's counters live in this test process and so carry over from earlier tests: the checks
on them compare two scrapes. Worker counters and gauges come from the test's fresh database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from jobsim import metrics, worker_registry
from jobsim.api.app import create_app
from jobsim.embedders.base import FloatMatrix
from jobsim.embedders.openai import OpenAIEmbedder
from jobsim.errors import PermanentError, TransientError
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.testing import FakeEmbedder, ManualClock
from jobsim.worker import Worker
from tests.support.fake_providers import (
    FakeProviderServer,
    delay,
    fake_openai_fixture,  # noqa: F401
    rate_limited,
)

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ROOT = Path(__file__).resolve().parents[2]


# --- helpers ---------------------------------------------------------------------------------


def scrape(client: TestClient) -> Values:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(values: Values, name: str, **labels: str) -> float:
    """The sum of the series of `name` that carry these labels (whatever others they carry:
    each worker's counters are a series of their own, labelled `worker`)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in values.items() if n == name and wanted <= set(found))


def moved(before: Values, after: Values, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def post_jobs(client: TestClient, *titles: str) -> list[str]:
    ids = []
    for title in titles:
        response = client.post(
            "/api/jobs",
            json={
                "title": title,
                "description": f"{title}: build and run services for a logistics team.",
                "category": "Engineering",
                "location": {"city": "Berlin"},
            },
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def fake(settings: Settings) -> FakeEmbedder:
    return FakeEmbedder(64, name=settings.embedder)


class FailingEmbedder(FakeEmbedder):
    """The fake whose every call raises `error` (an outage, or a request it refuses)."""

    def __init__(self, error: Exception, name: str) -> None:
        super().__init__(64, name=name)
        self.error = error

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        raise self.error


TITLES = ("Backend Python Developer", "Frontend React Developer", "Data Engineer")


# --- a scrape moves with the work done -------------------------------------------------------


def test_a_scrape_after_posting_and_a_worker_burst_shows_counters_and_gauges_moved(
    client: TestClient, settings: Settings, db: Database
) -> None:
    start = scrape(client)
    post_jobs(client, *TITLES)
    queued = scrape(client)
    Worker(settings, db, fake(settings), worker_id="w-burst").run(burst=True)
    done = scrape(client)

    assert moved(start, queued, "jobsim_tasks_enqueued_total", kind="embed") == 3
    assert value(queued, "jobsim_queue_tasks", kind="embed", state="queued") == 3
    assert value(queued, "jobsim_queue_oldest_queued_age_seconds") >= 0
    assert value(queued, "jobsim_embedding_coverage_ratio") == 0
    assert moved(queued, done, "jobsim_tasks_claimed_total", kind="embed") == 3
    assert (
        moved(queued, done, "jobsim_tasks_completed_total", kind="embed", outcome="succeeded") == 3
    )
    assert moved(queued, done, "jobsim_embeddings_stored_total") == 3
    assert moved(queued, done, "jobsim_list_refreshes_total") >= 3
    assert moved(queued, done, "jobsim_task_duration_seconds_count", kind="embed") == 3
    assert moved(queued, done, "jobsim_embedding_call_duration_seconds_count") >= 1
    assert value(done, "jobsim_queue_tasks", kind="embed", state="queued") == 0
    assert value(done, "jobsim_queue_tasks", kind="embed", state="succeeded") == 3
    assert (value(done, "jobsim_postings_active"), value(done, "jobsim_postings_embedded")) == (
        3,
        3,
    )
    assert value(done, "jobsim_embedding_coverage_ratio") == 1
    assert value(done, "jobsim_workers", state="stopped") == 1
    assert value(done, "jobsim_database_up") == 1


def test_similar_requests_are_counted_by_method_with_their_latency(
    client: TestClient, settings: Settings, db: Database
) -> None:
    first, _ = post_jobs(client, *TITLES[:2])
    before = scrape(client)
    assert client.get(f"/api/jobs/{first}/similar").json()["method"] == "fallback"
    Worker(settings, db, fake(settings)).run(burst=True)
    assert client.get(f"/api/jobs/{first}/similar").json()["method"] == "semantic"
    after = scrape(client)

    for method in ("fallback", "semantic"):
        assert moved(before, after, "jobsim_similar_requests_total", method=method) == 1
        count = "jobsim_similar_request_duration_seconds_count"
        assert moved(before, after, count, method=method) == 1
        inf = "jobsim_similar_request_duration_seconds_bucket"
        assert moved(before, after, inf, method=method, le="+Inf") == 1


def test_the_counters_of_two_worker_processes_add_up_in_one_scrape(
    client: TestClient, settings: Settings, db: Database
) -> None:
    post_jobs(client, *TITLES, "Site Reliability Engineer")
    before = scrape(client)
    two_per_batch = settings.model_copy(update={"batch_size": 2})
    one = Worker(two_per_batch, db, fake(settings), worker_id="w-one")
    two = Worker(two_per_batch, db, fake(settings), worker_id="w-two")
    one.run(max_batches=1)
    two.run(burst=True)
    after = scrape(client)

    with db.read() as session:
        rows = {row.id: row.metrics for row in worker_registry.all_workers(session)}
    claimed = {
        worker_id: snapshot["counters"]["jobsim_tasks_claimed"]
        for worker_id, snapshot in rows.items()
        if snapshot is not None
    }
    assert claimed == {"w-one": [[["embed"], 2]], "w-two": [[["embed"], 2]]}
    for worker_id in ("w-one", "w-two"):
        assert value(after, "jobsim_tasks_claimed_total", kind="embed", worker=worker_id) == 2
    assert moved(before, after, "jobsim_tasks_claimed_total", kind="embed") == 4
    assert (
        moved(before, after, "jobsim_tasks_completed_total", kind="embed", outcome="succeeded") == 4
    )


def test_failed_attempts_are_counted_as_retries_and_dead_letters(
    client: TestClient, settings: Settings, db: Database
) -> None:
    post_jobs(client, TITLES[0])
    before = scrape(client)
    clock = ManualClock()
    outage = FailingEmbedder(TransientError("provider answered 503"), settings.embedder)
    Worker(settings, db, outage, worker_id="w-outage", clock=clock).run(max_batches=1)
    clock.advance(60)  # past the retry delay
    refusal = FailingEmbedder(PermanentError("provider refused the text"), settings.embedder)
    Worker(settings, db, refusal, worker_id="w-refusal", clock=clock).run(max_batches=1)
    after = scrape(client)

    assert moved(before, after, "jobsim_tasks_claimed_total", kind="embed") == 2
    assert moved(before, after, "jobsim_tasks_retried_total", kind="embed") == 1
    dead = ("jobsim_tasks_completed_total", {"kind": "embed", "outcome": "dead_lettered"})
    assert moved(before, after, dead[0], **dead[1]) == 1
    assert moved(before, after, "jobsim_embedding_call_duration_seconds_count") == 2
    assert value(after, "jobsim_queue_tasks", kind="embed", state="failed") == 1


def test_a_running_worker_writes_its_counters_at_each_heartbeat_and_shows_its_heartbeat_age(
    client: TestClient, settings: Settings, db: Database
) -> None:
    post_jobs(client, TITLES[0])
    worker = Worker(settings, db, fake(settings), worker_id="w-alive")
    worker_registry.register(db, worker.id, embedder=settings.embedder, memory_mb=1.0)
    worker.run_once()
    before_beat = scrape(client)
    worker.beat()
    after_beat = scrape(client)

    assert moved(before_beat, after_beat, "jobsim_tasks_claimed_total", kind="embed") == 1
    assert value(after_beat, "jobsim_workers_active") == 1
    assert value(after_beat, "jobsim_workers", state="running") == 1
    age = value(after_beat, "jobsim_worker_heartbeat_age_seconds", worker="w-alive")
    assert 0 <= age < settings.heartbeat_seconds * settings.dead_after_heartbeats
    assert ("jobsim_worker_batch_tasks", (("worker", "w-alive"),)) in after_beat


def test_provider_requests_are_counted_by_provider_and_status_and_429s_as_rate_limited(
    client: TestClient, settings: Settings, db: Database, fake_openai: FakeProviderServer
) -> None:
    post_jobs(client, TITLES[0])
    embedder = OpenAIEmbedder("test-embed", base_url=fake_openai.openai_base_url, dims=8, timeout=5)
    fake_openai.script(delay(0))  # the start-up check goes through
    fake_openai.script(rate_limited("0"))  # the batch's first request is turned away
    before = scrape(client)
    Worker(settings, db, embedder, worker_id="w-openai").run(burst=True)
    embedder.close()
    after = scrape(client)

    requests = "jobsim_provider_requests_total"
    assert moved(before, after, requests, provider="openai", status="429") == 1
    assert moved(before, after, requests, provider="openai", status="200") == 2
    assert moved(before, after, "jobsim_provider_rate_limited_total", provider="openai") == 1
    assert moved(before, after, "jobsim_tasks_retried_total", kind="embed") == 1
    assert len(fake_openai.requests) == 3


def test_a_damaged_or_foreign_counter_snapshot_in_a_worker_row_is_skipped(
    client: TestClient, settings: Settings, db: Database
) -> None:
    good = metrics.Accumulator()
    good.inc(metrics.TASKS_CLAIMED, 5, {"kind": "embed"})
    damaged: list[object] = [
        {"version": 99, "counters": {"jobsim_tasks_claimed": [[["embed"], 1000]]}},
        {"version": 1, "counters": {"jobsim_tasks_claimed": [["embed"], [[1], "x"], None]}},
        {"version": 1, "histograms": {"jobsim_task_duration_seconds": {"buckets": [1, 2]}}},
        {"version": 1, "counters": {"jobsim_no_such_metric": [[[], 1]]}},
        "not a snapshot",
        good.snapshot(),
    ]
    before = scrape(client)
    for number, snapshot in enumerate(damaged):
        worker_id = f"w-{number}"
        worker_registry.register(db, worker_id, embedder="fake:64", memory_mb=1.0)
        worker_registry.report(db, worker_id, metrics=snapshot)
    after = scrape(client)

    assert moved(before, after, "jobsim_tasks_claimed_total", kind="embed") == 5


def test_a_scrape_answers_with_database_up_0_when_the_database_is_unreachable() -> None:
    db = Database("postgresql://jobsim:pw-Secret-77@127.0.0.1:1/jobsim")
    settings = Settings(database_url=db.url, embedder="fake:64", vector_views="full:1")
    with TestClient(create_app(settings, Service(settings, db))) as client:
        response = client.get("/metrics")
    db.dispose()

    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["jobsim_database_up"].samples[0].value == 0
    assert "jobsim_queue_tasks" not in families
    assert "pw-Secret-77" not in response.text


# --- several API processes on one host -------------------------------------------------------

COUNT_IN_ANOTHER_PROCESS = """
from jobsim import metrics
metrics.inc(metrics.SIMILAR_REQUESTS, method="semantic")
metrics.observe(metrics.SIMILAR_LATENCY, 0.02, method="semantic")
"""


def test_api_processes_counters_add_up_in_multiprocess_mode(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PATH": "/usr/bin:/bin", metrics.MULTIPROC_ENV: str(shared), "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", COUNT_IN_ANOTHER_PROCESS], env=env, check=True, timeout=60
        )
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))

    values = scrape(client)

    assert value(values, "jobsim_similar_requests_total", method="semantic") == 2
    count = value(values, "jobsim_similar_request_duration_seconds_count", method="semantic")
    assert count == 2
    assert np.isclose(
        value(values, "jobsim_similar_request_duration_seconds_sum", method="semantic"), 0.04
    )
    assert value(values, "jobsim_database_up") == 1
