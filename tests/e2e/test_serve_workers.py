"""`jobsim serve --workers N` as an operator runs it: real processes on one SQLite file. The
API processes answer alike (nothing is cached in any of them), SIGTERM stops them all with
exit status 0, and `--with-worker`, which needs a single process, is refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobsim.service import Service
from jobsim.settings import Settings
from tests.support.live_server import START_TIMEOUT, Deployment, free_port

SETTINGS = {"embedder": "fake:64", "vector_views": "full:1", "min_score": "0.05"}
POSTINGS = [
    ("backend", "Senior Python Backend Developer", "Berlin"),
    ("twin", "Senior Python Backend Engineer", "Munich"),
    ("django", "Python Django Developer", "Berlin"),
    ("api", "Backend Developer Python APIs", "Hamburg"),
    ("nurse", "Registered Nurse", "Berlin"),
]


def posting(posting_id: str, title: str, city: str) -> dict[str, Any]:
    return {
        "id": posting_id,
        "title": title,
        "description": f"{title}: build and run services for our payments platform in {city}.",
        "category": "Engineering",
        "location": {"city": city},
    }


def serve(deployment: Deployment, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = deployment.start(f"serve-{port}", "serve", "--port", str(port), *args)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.popen.poll() is None, process.output()
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return process.popen, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"jobsim serve --workers did not answer:\n{process.output()}")


def test_two_api_processes_answer_like_the_reader_and_stop_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    deployment = Deployment.on_sqlite(tmp_path, **SETTINGS)
    popen, base_url = serve(deployment, "--workers", "2")
    try:
        for posting_id, title, city in POSTINGS:
            created = httpx.post(f"{base_url}/api/jobs", json=posting(posting_id, title, city))
            assert created.status_code == 201, created.text
        deployment.run("worker", "--burst")

        # A new connection each time, so both processes answer some of them.
        answers = [httpx.get(f"{base_url}/api/jobs/backend/similar").json() for _ in range(12)]
        httpx.post(f"{base_url}/api/jobs/twin/close")
        after_close = [httpx.get(f"{base_url}/api/jobs/backend/similar").json() for _ in range(6)]
    finally:
        popen.send_signal(signal.SIGTERM)
        status = popen.wait(timeout=30)

    settings = Settings(**{**deployment.settings, **SETTINGS})
    reader = Service(settings)
    try:
        assert answers[0]["method"] == "semantic"
        assert "twin" in [item["id"] for item in answers[0]["data"]]
        assert all(answer == answers[0] for answer in answers)
        assert all(answer == reader.similar.answer("backend") for answer in after_close)
        assert "twin" not in [i["id"] for i in after_close[0]["data"]]
    finally:
        reader.db.dispose()
    assert status == 0


def test_with_worker_needs_a_single_api_process(tmp_path: Path) -> None:
    deployment = Deployment.on_sqlite(tmp_path, **SETTINGS)
    done = subprocess.run(
        [sys.executable, "-m", "jobsim.cli", "serve", "--workers", "2", "--with-worker"],
        env=deployment.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "--with-worker runs a worker inside a single API process" in done.stderr


def test_the_demo_then_serves_what_it_printed_with_a_worker_until_sigterm(tmp_path: Path) -> None:
    deployment = Deployment.on_sqlite(tmp_path, **SETTINGS)
    port = free_port()
    process = deployment.start("demo", "demo", "--show", "1", "--serve", "--port", str(port))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.popen.poll() is None, process.output()
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"jobsim demo --serve did not answer:\n{process.output()}")
        printed = process.output().splitlines()
        job = next(line.split()[0] for line in printed if line.startswith("esco-"))
        business = next(line.split()[0] for line in printed if line.startswith("biz-"))
        jobs = httpx.get(f"{base_url}/api/jobs/{job}/similar").json()
        businesses = httpx.get(f"{base_url}/api/businesses/{business}/similar").json()
        # The worker runs inside the API process: a new posting is embedded without a command.
        created = httpx.post(
            f"{base_url}/api/jobs",
            json=posting("fresh", "Senior Python Backend Developer", "Berlin"),
        )
        assert created.status_code == 201, created.text
        embedded = False
        while not embedded and time.monotonic() < deadline + 60:
            fresh = httpx.get(f"{base_url}/api/jobs/fresh/similar").json()
            embedded = fresh["method"] == "semantic"
            time.sleep(0.2)
    finally:
        process.popen.send_signal(signal.SIGTERM)
        status = process.popen.wait(timeout=30)

    assert jobs["method"] == "semantic" and len(jobs["data"]) > 0
    assert businesses["method"] == "semantic" and businesses["business_id"] == business
    assert all(item["id"].startswith("biz-") and item["name"] for item in businesses["data"])
    assert embedded, process.output()
    # One API process ends as uvicorn does, by re-raising SIGTERM once it has shut down (a
    # clean stop to systemd; docs/operations.md).
    assert status == -signal.SIGTERM, process.output()
