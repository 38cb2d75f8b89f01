"""Scenario 3 (zombie fencing): a worker frozen with SIGSTOP in the middle of a batch, past its
lease, and resumed after another worker completed the same tasks, writes nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jobsim import queue
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, ListState, SimilarEntry, Task
from tests.reliability.conftest import create_postings
from tests.support.chaos import Cluster, backend_of, report, wait_until

LEASE = 2.0
SETTINGS = {
    "lease_seconds": str(LEASE),
    "heartbeat_seconds": "0.3",
    "poll_seconds": "0.1",
    "min_score": "0.05",
    "shutdown_grace_seconds": "5",
}


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a write could change: vectors, lists, list state, tasks."""
    with db.read() as session:
        return {
            "embeddings": sorted(
                (e.posting_id, e.model, e.content_hash, e.seq, e.vector)
                for e in session.scalars(select(Embedding))
            ),
            "lists": sorted(
                (s.posting_id, s.similar_id, s.score, s.computed_at)
                for s in session.scalars(select(SimilarEntry))
            ),
            "list states": sorted(
                (s.posting_id, s.count, s.floor, s.seq, s.computed_at)
                for s in session.scalars(select(ListState))
            ),
            "tasks": sorted(
                (t.id, t.state, t.attempts, t.lease_token, t.lease_owner, t.updated_at)
                for t in session.scalars(select(Task))
            ),
        }


def test_a_zombie_resumed_after_its_tasks_were_completed_elsewhere_writes_nothing(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    ids = create_postings(db, 6)
    cluster = Cluster.create(tmp_path, database_url, **SETTINGS)
    zombie = cluster.start(CHAOS_EMBED_SECONDS="3")
    try:
        wait_until(lambda: cluster.log.read("claim"), 60, "the first worker claims")
        zombie.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        zombie_claims = cluster.log.read("claim")
        assert {c["posting"] for c in zombie_claims} == set(ids)
        time.sleep(LEASE + 0.5)  # its lease runs out while it is frozen
        rescuer = cluster.start()
        wait_until(
            lambda: (
                len([r for r in cluster.log.read("stored") if r["worker"] == rescuer.id])
                == len(ids)
            ),
            60,
            "the second worker completes the tasks",
        )
        wait_until(lambda: not _pending(db), 30, "no task pending")
        # The rescuer goes away too, so nothing but the zombie can write from here on.
        rescuer.signal(signal.SIGTERM)
        assert rescuer.popen.wait(timeout=30) == 0
        before = snapshot(db)
        zombie.signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        # The zombie wakes inside its embedding call, finishes it, and reaches the write.
        wait_until(lambda: "lease lost" in zombie.tail(), 30, "the zombie sees its lease lost")
        time.sleep(1.0)  # heartbeats with the old token, the next claim loop
        after = snapshot(db)
        zombie.signal(signal.SIGTERM)
        assert zombie.popen.wait(timeout=30) == 0, zombie.tail()
    finally:
        for worker in cluster.running():
            worker.kill()
    assert after == before
    zombie_stored = [r for r in cluster.log.read("stored") if r["worker"] == zombie.id]
    assert zombie_stored == []
    with db.read() as session:
        tasks = list(session.scalars(select(Task)))
    assert {(t.state, t.lease_owner) for t in tasks} == {(queue.SUCCEEDED, rescuer.id)}
    report(
        "3 zombie fencing",
        backend_of(database_url),
        tasks=len(tasks),
        frozen_s=round(resumed_at - frozen_at, 1),
        lease_s=LEASE,
        zombie_writes=len(zombie_stored),
        rows_changed_by_zombie=0 if after == before else 1,
    )


def _pending(db: Database) -> bool:
    with db.read() as session:
        return (
            session.scalar(select(Task.id).where(Task.state.in_(["queued", "running"])).limit(1))
            is not None
        )
