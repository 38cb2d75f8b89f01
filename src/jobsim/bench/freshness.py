"""Figure 4: from `POST /api/jobs` returning to the new posting appearing in a closely related
posting's similar list, with a worker idle and waiting for work (woken by the enqueue:
jobsim.queue.wakeup; the default poll interval behind it)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from sqlalchemy import func, select

from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.postings import generate_postings
from jobsim.bench.processes import child, jobsim_env, server
from jobsim.bench.run import BenchRun, percentile_ms
from jobsim.bench.table import Figure
from jobsim.postings.store import PostingStore
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import ListState
from jobsim.vector_recipe import VectorRecipe

TIMEOUT = 30.0
P50_S = 1.0
P99_S = 3.0


def request(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = json.loads(response.read() or b"null")
    connection.close()
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {data}")
    return data


def in_list(port: int, owner: str, wanted: str) -> bool:
    answer = request(port, "GET", f"/api/jobs/{owner}/similar?fill=0")
    return any(item["id"] == wanted for item in answer.get("data", []))


def near_copy(record: dict[str, Any], posting_id: str) -> dict[str, Any]:
    """A new ad for the same job (a repost with one more sentence): it belongs in the list."""
    copy = dict(record, id=posting_id)
    copy["description"] = record["description"] + " Start date: as soon as possible."
    return copy


def freshness_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    embedder = config.process_model or Settings().embedder
    board = generate_postings(config.freshness_board, config.seed + 2, "fresh")
    delays: list[float] = []
    with (
        run.step(f"figure 4: freshness, {config.freshness_samples} postings, {embedder}"),
        fresh_database(run, "freshness") as url,
    ):
        settings = Settings(database_url=url, embedder=embedder)
        db = Database(url)
        try:
            PostingStore(db, VectorRecipe.from_settings(settings).text).bulk_upsert(
                ("bench", record, None) for record in board
            )
        finally:
            db.dispose()
        env = jobsim_env(url, embedder)
        with (
            server(env, run.folder / "fresh-serve.log") as port,
            child(["worker"], env, run.folder / "fresh-worker.log"),
        ):
            _wait_until_listed(url, len(board))
            for k in range(config.freshness_samples):
                owner = board[k * 7 % len(board)]
                new_id = f"fresh-new-{k}"
                request(port, "POST", "/api/jobs", near_copy(owner, new_id))
                posted = time.perf_counter()
                while not in_list(port, owner["id"], new_id):
                    if time.perf_counter() - posted > TIMEOUT:
                        break
                    time.sleep(0.01)
                delays.append(time.perf_counter() - posted)
                time.sleep(0.3)  # the worker goes back to waiting, as between real posts
    size = run.size_note(config.freshness_samples, FULL.freshness_samples, "postings")
    what = f"worker idle, {embedder}, {len(board)} postings listed{size}"
    return [
        Figure(
            "4a", f"POST to listed, p50, {what}", percentile_ms(delays, 50) / 1000, "s", "<=", P50_S
        ),
        Figure(
            "4b", f"POST to listed, p99, {what}", percentile_ms(delays, 99) / 1000, "s", "<=", P99_S
        ),
    ]


def _wait_until_listed(url: str, count: int) -> None:
    """Wait for the board to be embedded: every posting's list computed (some lists may stay
    empty under the minimum score, so an answer's entries cannot tell)."""
    deadline = time.monotonic() + TIMEOUT * 10
    db = Database(url)
    try:
        while time.monotonic() < deadline:
            with db.read() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(ListState)
                    .where(ListState.computed_at.is_not(None))
                )
            if (done or 0) >= count:
                return
            time.sleep(0.5)
    finally:
        db.dispose()
    raise RuntimeError("the board was never embedded")
