"""Scenario 10 (SQLite under load, SQLite only): the API taking writes and reads while 4 worker
processes embed: no "database is locked" reaches a client or a log, every answer is a success
or a documented 404, `PRAGMA integrity_check` is ok, and the lists end exact."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe
from tests.reliability.conftest import posting_fields
from tests.support.chaos import assert_lists_match_oracle, report, scaled
from tests.support.live_server import Deployment


def as_api_body(fields: dict[str, Any], posting_id: str) -> dict[str, Any]:
    return {"id": posting_id, **fields}


def test_sqlite_takes_api_writes_reads_and_four_workers_without_a_locked_error(
    tmp_path: Path,
) -> None:
    seconds = scaled(6, 300)
    deployment = Deployment.on_sqlite(
        tmp_path,
        embedder="fake:64",
        poll_seconds="0.1",
        heartbeat_seconds="0.5",
        lease_seconds="10",
        batch_size="8",
        min_score="0.05",
        log_level="INFO",
    )
    statuses: Counter[str] = Counter()
    bodies_with_locked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    created: list[str] = []
    try:
        base_url = deployment.serve()
        for n in range(4):
            deployment.start(f"worker-{n}", "worker")

        def record(what: str, response: httpx.Response) -> None:
            with lock:
                statuses[f"{what} {response.status_code}"] += 1
                if "locked" in response.text.lower():
                    bodies_with_locked.append(response.text[:300])

        def writer(n: int) -> None:
            rng = random.Random(n)
            with httpx.Client(base_url=base_url, timeout=30) as client:
                count = 0
                while not stop.is_set():
                    roll = rng.random()
                    with lock:
                        known = list(created)
                    if roll < 0.6 or not known:
                        posting_id = f"w{n}-{count}"
                        count += 1
                        response = client.post(
                            "/api/jobs", json=as_api_body(posting_fields(rng, count), posting_id)
                        )
                        record("create", response)
                        if response.status_code == 201:
                            with lock:
                                created.append(posting_id)
                    elif roll < 0.9:
                        target = rng.choice(known)
                        response = client.patch(
                            f"/api/jobs/{target}",
                            json={"description": f"Updated at {time.time()}: python and sql"},
                        )
                        record("update", response)
                    else:
                        target = rng.choice(known)
                        record("delete", client.delete(f"/api/jobs/{target}"))

        def reader(n: int) -> None:
            rng = random.Random(100 + n)
            with httpx.Client(base_url=base_url, timeout=30) as client:
                while not stop.is_set():
                    with lock:
                        known = list(created)
                    if not known:
                        time.sleep(0.05)
                        continue
                    target = rng.choice(known)
                    record("get", client.get(f"/api/jobs/{target}"))
                    record("similar", client.get(f"/api/jobs/{target}/similar"))
                    record("list", client.get("/api/jobs", params={"limit": 20}))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        threads += [threading.Thread(target=reader, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        deployment.run("worker", "--burst", timeout=300)  # drain what the load left queued
    finally:
        deployment.stop()
    logs = "\n".join(p.log.read_text(errors="replace") for p in deployment.processes)
    assert "database is locked" not in logs.lower()
    assert bodies_with_locked == []
    bad = {k: v for k, v in statuses.items() if not k.endswith((" 200", " 201", " 204", " 404"))}
    assert bad == {}, bad
    connection = sqlite3.connect(tmp_path / "jobsim.db")
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    assert integrity == "ok"
    settings = Settings(
        database_url=deployment.settings["database_url"],
        embedder="fake:64",
        glossary_dir="",
        min_score=0.05,
    )
    db = Database(settings.database_url)
    try:
        lists = assert_lists_match_oracle(db, settings, VectorRecipe.from_settings(settings).model)
    finally:
        db.dispose()
    report(
        "10 SQLite under load",
        "sqlite",
        seconds=seconds,
        workers=4,
        requests=sum(statuses.values()),
        by_kind=dict(sorted(statuses.items())),
        locked_errors=0,
        integrity=integrity,
        lists_checked=len(lists),
    )
