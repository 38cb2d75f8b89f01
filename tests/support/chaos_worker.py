"""A worker process for the reliability tests: `python -m tests.support.chaos_worker ID LOG`.

Modes (CHAOS_MODE):
- `worker` (default): the production Worker, its settings and embedder from the JOBSIM_*
  variables as `jobsim worker` builds them, with SIGTERM/SIGINT handled as in production. It
  appends to the execution log LOG: `claim` (each task it claimed: task, posting, attempt) right
  after the claim commits, and `stored` (posting, content hash, version, task) right after the
  batch transaction that stored the vector commits.
- `noop`: a bare claimer for no-op tasks: claim a batch, append `executed` for each task,
  complete them, until nothing is claimable for CHAOS_IDLE_SECONDS.

Faults:
- CHAOS_EMBED_SECONDS: each embedding call sleeps this long first (a slow handler).
- CHAOS_CRASH_POSTING: a batch holding this posting kills the process (exit 70) before it
  embeds: a poison input that crashes its handler every time.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from jobsim import queue
from jobsim.batch import BatchProcessor, BatchReport, _Plan
from jobsim.cli.base import make_embedder
from jobsim.embedders.base import FloatMatrix
from jobsim.lists import ListTransaction
from jobsim.logs import configure_logging
from jobsim.settings import Settings
from jobsim.similarity import FloatArray
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.worker import Worker
from tests.support.chaos import ExecutionLog


class LoggedBatches(BatchProcessor):
    """The production batch processor, telling the execution log what it committed."""

    log: ExecutionLog
    worker_id: str
    crash_posting: str | None = None

    def process(self, tasks: Sequence[queue.ClaimedTask], report: BatchReport) -> None:
        if self.crash_posting and any(t.posting_id == self.crash_posting for t in tasks):
            self.log.append(event="crash", worker=self.worker_id, posting=self.crash_posting)
            os._exit(70)
        super().process(tasks, report)

    def _store_vectors(
        self, tx: ListTransaction, plan: _Plan, vectors: dict[str, FloatArray], alive: set[str]
    ) -> list[str]:
        stored = super()._store_vectors(tx, plan, vectors, alive)
        for posting_id in stored:
            posting = tx.session.get(Posting, posting_id)
            self._pending.append(
                {
                    "posting": posting_id,
                    "hash": plan.to_embed[posting_id].content_hash,
                    "version": posting.version if posting is not None else None,
                    "tasks": [t.id for t in plan.tasks_by_posting[posting_id]],
                    "token": plan.tasks_by_posting[posting_id][0].token,
                }
            )
        return stored

    def _write(self, plan: _Plan, vectors: dict[str, FloatArray], report: BatchReport) -> None:
        self._pending: list[dict[str, Any]] = []
        super()._write(plan, vectors, report)  # the transaction has committed when it returns
        for record in self._pending:
            self.log.append(event="stored", worker=self.worker_id, **record)


def _slow(embedder: Any, seconds: float) -> None:
    original = embedder.embed

    def embed(texts: Sequence[str]) -> FloatMatrix:
        time.sleep(seconds)
        result: FloatMatrix = original(texts)
        return result

    embedder.embed = embed


def run_worker(worker_id: str, log: ExecutionLog) -> int:
    settings = Settings()
    configure_logging(settings.log_level, fmt=settings.log_format)
    db = Database(settings.database_url)
    embedder = make_embedder(settings)
    if float(os.environ.get("CHAOS_EMBED_SECONDS", "0") or 0) > 0:
        _slow(embedder, float(os.environ["CHAOS_EMBED_SECONDS"]))
    worker = Worker(settings, db, embedder, worker_id=worker_id)
    batches = LoggedBatches(
        db, worker.vectorizer, worker.engine, worker.policy, (), clock=worker.clock
    )
    batches.log, batches.worker_id = log, worker_id
    batches.crash_posting = os.environ.get("CHAOS_CRASH_POSTING") or None
    worker.batches = batches

    real_claim = queue.claim

    def logged_claim(*args: Any, **kwargs: Any) -> list[queue.ClaimedTask]:
        tasks = real_claim(*args, **kwargs)
        for task in tasks:
            log.append(
                event="claim",
                worker=worker_id,
                task=task.id,
                posting=task.posting_id,
                attempt=task.attempts,
                token=task.token,
            )
        return tasks

    queue.claim = logged_claim  # type: ignore[assignment]
    log.append(event="start", worker=worker_id)
    try:
        worker.run(install_signal_handlers=True)
    finally:
        embedder.close()
        db.dispose()
    log.append(event="exit", worker=worker_id)
    return 0


def run_noop(worker_id: str, log: ExecutionLog) -> int:
    settings = Settings()
    db = Database(settings.database_url)
    idle_for = float(os.environ.get("CHAOS_IDLE_SECONDS", "1.0"))
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < idle_for:
            tasks = queue.claim(db, worker_id, limit=settings.batch_size, lease_seconds=300)
            if not tasks:
                time.sleep(0.01)
                continue
            idle_since = time.monotonic()
            for task in tasks:
                log.append(event="executed", worker=worker_id, task=task.id)
            with db.write() as session:
                queue.complete(session, tasks[0].token, [t.id for t in tasks])
    finally:
        db.dispose()
    return 0


def main() -> int:
    worker_id, log_path = sys.argv[1], sys.argv[2]
    log = ExecutionLog(__import__("pathlib").Path(log_path))
    if os.environ.get("CHAOS_MODE", "worker") == "noop":
        return run_noop(worker_id, log)
    return run_worker(worker_id, log)


if __name__ == "__main__":
    sys.exit(main())
