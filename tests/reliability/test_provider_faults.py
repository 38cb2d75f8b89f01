"""Scenarios 6 (429 storm, the running part) and 7 (5xx and hangs), against the fake provider
server over real HTTP, with worker processes; plus the backoff property (hypothesis).

Start-up during a storm (the other half of 6) is tests/integration/test_worker.py's
`test_a_worker_started_while_the_provider_is_rate_limiting_or_down_waits_then_works`.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from jobsim import queue
from jobsim.errors import PermanentError, RateLimited, TransientError
from jobsim.retry import RetryPolicy
from jobsim.storage.engine import Database
from jobsim.storage.models import Task
from tests.reliability.conftest import create_postings
from tests.support.chaos import Cluster, backend_of, report, scaled, wait_until
from tests.support.fake_providers import (
    FakeProviderServer,
    Fault,
    RecordedRequest,
    hang,
    http_error,
    rate_limited,
)

MODEL = "openai:jobsim-test-embed"  # not a known model: dims come from the start-up check


@pytest.fixture
def provider() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(dims=32) as server:
        yield server


def provider_settings(server: FakeProviderServer, **extra: str) -> dict[str, str]:
    return {
        "embedder": MODEL,
        "openai_base_url": server.openai_base_url,
        "openai_api_key": "sk-reliability-test",
        "vector_views": "full:1",
        "min_score": "0.05",
        **extra,
    }


def all_tasks(db: Database) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task)))


def done(db: Database) -> bool:
    return all(t.state in (queue.SUCCEEDED, queue.FAILED) for t in all_tasks(db))


def task_summary(db: Database) -> str:
    return str(Counter((t.state, t.attempts, (t.last_error or "")[:80]) for t in all_tasks(db)))


def request_summary(server: FakeProviderServer) -> str:
    start = server.requests[0].at if server.requests else 0.0
    return " ".join(f"{r.at - start:.1f}:{r.status}" for r in server.requests[-40:])


# --- scenario 6: a 429 storm while workers run ---------------------------------------------


def test_a_429_storm_fails_nothing_spends_no_attempt_and_respects_retry_after(
    database_url: str, db: Database, tmp_path: Path, provider: FakeProviderServer
) -> None:
    storm_seconds = scaled(6, 60)
    retry_after = 2.0
    storm_until = [float("inf")]
    lock = threading.Lock()

    def storm(request: RecordedRequest) -> Fault | None:
        with lock:
            return rate_limited(str(int(retry_after))) if request.at < storm_until[0] else None

    provider.responder = storm
    storm_until[0] = 0.0  # calm while the worker starts
    cluster = Cluster.create(
        tmp_path,
        database_url,
        **provider_settings(
            provider,
            batch_size="8",
            poll_seconds="0.1",
            heartbeat_seconds="0.5",
            lease_seconds="10",
            retry_base_seconds="0.5",
            retry_cap_seconds="5",
        ),
    )
    worker = cluster.start()
    try:
        cluster.wait_registered(db)
        wait_until(lambda: len(provider.requests) >= 1, 60, "the start-up check")
        with lock:
            storm_began = time.monotonic()
            storm_until[0] = storm_began + storm_seconds
        create_postings(db, scaled(40, 400))
        wait_until(
            lambda: done(db),
            storm_seconds + 120,
            "every task finished",
            detail=lambda: f"{task_summary(db)}\n{cluster.outputs()}\n{request_summary(provider)}",
        )
        finished = time.monotonic()
        cluster.wait_registered(db)
        codes = cluster.stop_all()
    finally:
        worker.kill() if worker.alive() else None
    assert codes[worker.id] == 0, worker.tail()
    tasks = all_tasks(db)
    assert {t.state for t in tasks} == {queue.SUCCEEDED}  # no task failed
    assert {t.attempts for t in tasks} == {1}  # no attempt was spent on a 429
    requests = sorted(provider.requests, key=lambda r: r.at)
    limited = [r for r in requests if r.status == 429]
    assert limited, "the storm never reached the worker"
    # One worker process, one request at a time: after a 429, nothing before Retry-After.
    early = [
        (later.at - r.at)
        for r in limited
        for later in requests
        if r.at < later.at < r.at + retry_after - 0.01
    ]
    assert early == []
    after_recovery = finished - (storm_began + storm_seconds)
    assert after_recovery <= retry_after + 10
    report(
        "6 429 storm (running)",
        backend_of(database_url),
        storm_s=storm_seconds,
        retry_after_s=retry_after,
        tasks=len(tasks),
        answered_429=len(limited),
        requests=len(requests),
        early_requests=0,
        failed=0,
        attempts_max=1,
        done_after_recovery_s=round(after_recovery, 1),
    )


# --- scenario 7: 5xx and hanging calls -------------------------------------------------------


def test_5xx_and_hanging_calls_time_out_keep_leases_and_everything_completes(
    database_url: str, db: Database, tmp_path: Path, provider: FakeProviderServer
) -> None:
    timeout, lease, cap = 1.0, 3.0, 1.0
    rng = random.Random(7)
    lock = threading.Lock()
    calm = [True]

    def flaky(request: RecordedRequest) -> Fault | None:
        with lock:
            if calm[0]:
                return None
            roll = rng.random()
        if roll < 0.4:
            return http_error(503, "upstream unavailable")
        if roll < 0.5:
            return hang()
        return None

    provider.responder = flaky
    cluster = Cluster.create(
        tmp_path,
        database_url,
        **provider_settings(
            provider,
            batch_size="4",
            poll_seconds="0.1",
            heartbeat_seconds="0.3",
            lease_seconds=str(lease),
            embedder_timeout_seconds=str(timeout),
            retry_base_seconds="0.1",
            retry_cap_seconds=str(cap),
            max_attempts="25",
        ),
    )
    for _ in range(2):
        cluster.start()
    try:
        cluster.wait_registered(db)
        wait_until(lambda: len(provider.requests) >= 2, 60, "the start-up checks")
        with lock:
            calm[0] = False
        create_postings(db, scaled(40, 400))
        wait_until(
            lambda: done(db),
            300,
            "every task finished",
            detail=lambda: f"{task_summary(db)}\n{cluster.outputs()}\n{request_summary(provider)}",
        )
        codes = cluster.stop_all()
    finally:
        for worker in cluster.running():
            worker.kill()
    assert set(codes.values()) == {0}, cluster.outputs()
    tasks = all_tasks(db)
    assert {t.state for t in tasks} == {queue.SUCCEEDED}, Counter(t.last_error for t in tasks)
    outcomes = Counter(
        "hang" if r.fault is not None and r.fault.kind == "hang" else str(r.status)
        for r in provider.requests
    )
    hung = [r for r in provider.requests if r.fault is not None and r.fault.kind == "hang"]
    hangs = [r.hung_for for r in hung]
    assert outcomes["503"] > 0 and outcomes["hang"] > 0
    # No call outlives its timeout: the client closed every hanging call in time.
    assert all(h is not None and h <= timeout + 0.5 for h in hangs), hangs
    # Leases never expired under a live worker: no lost lease, no claim of a task still held.
    assert "lease lost" not in cluster.outputs()
    claims = cluster.log.read("claim")
    by_task: dict[int, list[dict[str, object]]] = {}
    for claim in sorted(claims, key=lambda c: float(c["t"])):
        by_task.setdefault(int(claim["task"]), []).append(claim)
    for task_claims in by_task.values():
        attempts = [int(str(c["attempt"])) for c in task_claims]
        assert attempts == list(range(1, len(attempts) + 1))  # each claim follows a settle
    gaps = [
        float(str(b["t"])) - float(str(a["t"]))
        for task_claims in by_task.values()
        for a, b in itertools.pairwise(task_claims)
    ]
    report(
        "7 5xx and hangs",
        backend_of(database_url),
        tasks=len(tasks),
        requests=sum(outcomes.values()),
        answered_503=outcomes["503"],
        hangs=outcomes["hang"],
        ok=outcomes["200"],
        longest_hang_s=round(max(h or 0 for h in hangs), 2),
        timeout_s=timeout,
        lost_leases=0,
        max_attempts_used=max(t.attempts for t in tasks),
        retries=len(gaps),
    )


# --- scenario 7: backoff with jitter, as a property ------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(min_value=0.001, max_value=100, allow_nan=False),
    cap=st.floats(min_value=0.001, max_value=10_000, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=200),
    max_attempts=st.integers(min_value=1, max_value=50),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_retry_delays_are_exponential_backoff_with_full_jitter(
    base: float, cap: float, attempt: int, max_attempts: int, seed: int
) -> None:
    policy = RetryPolicy(base, cap, max_attempts)
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= ceiling
    decision = policy.decide(TransientError("503"), attempt, random.Random(seed))
    if attempt >= max_attempts:
        assert decision.action == "fail"
    else:
        assert decision.action == "retry"
        assert decision.delay_seconds == delay  # the same draw: decide uses backoff
    assert policy.decide(PermanentError("400"), attempt).action == "fail"
    limited = policy.decide(RateLimited("429", 7.0), attempt)
    assert limited.action == "delay" and limited.delay_seconds == min(7.0, cap)


@settings(max_examples=50, deadline=None)
@given(
    base=st.floats(min_value=0.01, max_value=10, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=8),
)
def test_the_jitter_spreads_delays_over_the_whole_window(base: float, attempt: int) -> None:
    """Full jitter: uniform over [0, ceiling], not a fixed delay (workers retrying together
    would otherwise stampede the provider at the same instant)."""
    policy = RetryPolicy(base, 1e9, 100)
    ceiling = base * 2.0 ** (attempt - 1)
    rng = random.Random(attempt)
    delays = [policy.backoff(attempt, rng) / ceiling for _ in range(400)]
    assert min(delays) < 0.1 and max(delays) > 0.9
    assert 0.4 < sum(delays) / len(delays) < 0.6
