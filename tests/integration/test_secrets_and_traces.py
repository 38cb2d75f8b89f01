"""Secrets never leak, and one trace id follows a posting.

Canary secrets (a provider key that looks like no known key format, the admin token, the write
API key, the SMTP password) are set; errors are driven through every path (a provider that
rejects the key and echoes it back, provider error bodies quoting it, malformed requests, admin
and write auth failures); then no log line, response body or header, or stored error may hold
any canary. And a board's X-Request-ID follows its posting into the task and every worker log
line about it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from jobsim.api.app import create_app
from jobsim.clock import ManualClock
from jobsim.embedders.registry import create_embedder
from jobsim.logs import configure_logging
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Task
from jobsim.storage.models import Worker as WorkerRow
from jobsim.worker import Worker
from tests.support.fake_providers import (
    FakeProviderServer,
    echo_key_error,
    fake_openai_fixture,  # noqa: F401
    http_error,
)

PROVIDER_KEY = "CANARYprov7d9f2b41e6"
ADMIN_TOKEN = "CANARYadmin0c1d2e3f"
API_KEY = "CANARYwrite9a8b7c6d"
SMTP_PASSWORD = "CANARYsmtp5e4f3a2b"
CANARIES = (PROVIDER_KEY, ADMIN_TOKEN, API_KEY, SMTP_PASSWORD)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    configure_logging("INFO")


def secret_settings(settings: Settings, server: FakeProviderServer) -> Settings:
    # Validated like any configuration (model_copy would skip the validators).
    return Settings.model_validate(
        settings.model_dump()
        | {
            "embedder": "openai:text-embedding-3-small",
            "openai_api_key": SecretStr(PROVIDER_KEY),
            "openai_base_url": server.openai_base_url,
            "admin_token": SecretStr(ADMIN_TOKEN),
            "api_key": SecretStr(API_KEY),
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "max_attempts": 2,
            "batch_size": 1,
        }
    )


def posting(posting_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": posting_id,
        "title": "Warehouse Operative",
        "description": "Pick and pack orders in our warehouse, early and late shifts.",
        **overrides,
    }


def drain(worker: Worker) -> None:
    """Run batches (not run(): its start-up check would take the scripted faults) until
    nothing is due even after the retry delays have passed."""
    assert isinstance(worker.clock, ManualClock)
    idle = 0
    while idle < 2:
        idle = 0 if worker.run_once().claimed else idle + 1
        worker.clock.advance(60)


def stored_errors(db: Database) -> list[str]:
    with db.read() as session:
        return [e for e in session.scalars(select(Task.last_error)) if e]


def test_no_canary_secret_appears_in_any_log_line_response_or_stored_error(
    settings: Settings, db: Database, fake_openai: FakeProviderServer, logs: io.StringIO
) -> None:
    secret = secret_settings(settings, fake_openai)
    written = {"X-API-Key": API_KEY}
    seen: list[str] = []
    with TestClient(create_app(secret, Service(secret, db))) as client:

        def keep(response: Any) -> Any:
            seen.append(response.text)
            seen.append(json.dumps(dict(response.headers)))
            return response

        # Write auth failures and malformed requests that carry the secrets as input.
        keep(client.post("/api/jobs", json=posting("a"), headers={"X-API-Key": API_KEY + "x"}))
        keep(
            client.post(
                "/api/jobs", json={"title": API_KEY, "api_key": PROVIDER_KEY}, headers=written
            )
        )
        keep(client.post("/api/jobs", content=b'{"title": "' + API_KEY.encode(), headers=written))
        keep(client.get("/api/jobs", params={"q": ADMIN_TOKEN * 30}))
        # Admin auth failures, a token in the query string, a near miss.
        keep(client.get("/api/admin/queue", headers={"Authorization": f"Bearer {ADMIN_TOKEN}0"}))
        keep(client.get("/api/admin/queue", params={"token": ADMIN_TOKEN}))
        keep(client.get("/api/admin/queue", headers={"Authorization": f"Basic {ADMIN_TOKEN}"}))
        # Postings the provider will refuse, echoing the key in its error bodies.
        for name in ("rejected", "quoted", "server"):
            keep(client.post("/api/jobs", json=posting(name), headers=written))
        fake_openai.script(echo_key_error(401))
        fake_openai.script(
            http_error(400, f"invalid input for key {PROVIDER_KEY} (quota {SMTP_PASSWORD})")
        )
        fake_openai.script(
            http_error(503, f"overloaded; retry with api_key={PROVIDER_KEY}"), times=2
        )
        drain(Worker(secret, db, create_embedder(secret.embedder, secret), clock=ManualClock()))
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        keep(client.get("/api/admin/tasks", headers=admin, params={"state": "failed"}))
        for task_id in range(1, 6):
            keep(client.get(f"/api/admin/tasks/{task_id}", headers=admin))
        keep(client.get("/api/admin/workers", headers=admin))
        keep(client.get("/api/health/ready"))

    errors = stored_errors(db)
    assert len(errors) >= 3  # every refusal left its (sanitized) reason
    with db.read() as session:
        worker_rows = [json.dumps(w.metrics or {}) for w in session.scalars(select(WorkerRow))]
    haystacks = {"logs": logs.getvalue(), "responses": "\n".join(seen)}
    haystacks["stored errors"] = "\n".join(errors)
    haystacks["worker rows"] = "\n".join(worker_rows)
    assert "embedding failed" in haystacks["logs"]
    for where, text in haystacks.items():
        for canary in CANARIES:
            assert canary not in text, f"{canary[:10]}... leaked into {where}"


def test_a_request_id_follows_the_posting_into_its_task_and_the_worker_log_lines_about_it(
    settings: Settings, db: Database, logs: io.StringIO
) -> None:
    from jobsim.testing import FakeEmbedder

    with TestClient(create_app(settings, Service(settings, db))) as client:
        response = client.post(
            "/api/jobs", json=posting("traced"), headers={"X-Request-ID": "board-req-8f2e-41aa"}
        )
        assert response.headers["X-Request-ID"] == "board-req-8f2e-41aa"
        client.post("/api/jobs", json=posting("other"))
    Worker(settings, db, FakeEmbedder(64, name=settings.embedder)).run(burst=True)

    with db.read() as session:
        task = session.scalars(select(Task).where(Task.posting_id == "traced")).one()
    assert task.trace_id == "board-req-8f2e-41aa"
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    about_it = [
        line
        for line in lines
        if "traced" in json.dumps(line.get("postings", line.get("posting", "")))
    ]
    assert about_it, "no worker log line names the posting"
    assert all(line.get("trace_id") == "board-req-8f2e-41aa" for line in about_it)
