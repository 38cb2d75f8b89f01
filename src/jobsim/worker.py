"""The background worker: claim a batch, embed it in one call, write vectors and lists in one
transaction, and keep the queue healthy (heartbeats, maintenance, graceful shutdown)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

import psutil
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from jobsim import queue
from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors
from jobsim.errors import PermanentError, TransientError, sanitize
from jobsim.jobs import PostingInputs, TextRecipe, is_listed
from jobsim.lists import ListTransaction, SimilarityEngine
from jobsim.logs import trace
from jobsim.maintenance import run_maintenance
from jobsim.retry import RetryDecision, RetryPolicy
from jobsim.settings import Settings, settings_glossary, settings_recipe, settings_views
from jobsim.similarity import ScoringConfig
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow
from jobsim.vectorizer import PostingVectorizer

log = logging.getLogger("jobsim.worker")


def scoring_config(settings: Settings) -> ScoringConfig:
    return ScoringConfig(
        settings.weight_semantic, settings.weight_context, settings.top_n, settings.min_score
    )


@dataclass
class BatchReport:
    claimed: int = 0
    embedded: int = 0
    lists_refreshed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0


@dataclass
class _Plan:
    """What one claimed batch turns into, by posting."""

    tasks_by_posting: dict[str, list[queue.ClaimedTask]] = field(default_factory=dict)
    to_embed: dict[str, PostingInputs] = field(default_factory=dict)
    lists_only: list[str] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        embedder: Embedder,
        *,
        recipe: TextRecipe | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.embedder = embedder
        self.recipe = recipe or settings_recipe(settings)
        self.vectorizer = PostingVectorizer(
            embedder, self.recipe, settings_views(settings), settings_glossary(settings)
        )
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.engine = SimilarityEngine(
            db, self.vectorizer.name, self.vectorizer.dims, scoring_config(settings)
        )
        self.policy = RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts
        )
        self.totals = BatchReport()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._shutdown_once = threading.Lock()
        self._held: tuple[str, list[int]] | None = None
        self._held_lock = threading.Lock()
        self._last_maintenance = 0.0
        self._paused = False
        self._process = psutil.Process()

    # --- lifecycle -------------------------------------------------------------------------

    def run(
        self,
        *,
        burst: bool = False,
        max_batches: int | None = None,
        install_signal_handlers: bool = False,
    ) -> BatchReport:
        """Work until stopped (or, with burst, until nothing is runnable)."""
        self._stop.clear()
        self._finished.clear()
        self.embedder.check()
        self._register()
        signals = _ShutdownSignals(self._begin_shutdown) if install_signal_handlers else None
        beat = threading.Thread(target=self._heartbeat_loop, name="jobsim-heartbeat", daemon=True)
        beat.start()
        batches = 0
        try:
            while not self._stop.is_set():
                self._maybe_maintain()
                if self._memory_exceeded():
                    self._stop.wait(self.settings.poll_seconds)
                    continue
                report = self.run_once()
                batches += 1 if report.claimed else 0
                if max_batches is not None and batches >= max_batches:
                    break
                if report.claimed == 0:
                    if burst:
                        break
                    self._stop.wait(self.settings.poll_seconds)
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self._unregister()
            self._finished.set()
            if signals is not None:
                signals.restore()
        return self.totals

    def stop(self) -> None:
        """Stop claiming; the batch in hand finishes (or is released after the grace period)."""
        if not self._stop.is_set():
            log.info("worker stopping", extra={"worker": self.id})
        self._stop.set()

    def _begin_shutdown(self) -> None:
        """SIGTERM/SIGINT: stop claiming now; after the grace period, release and exit."""
        self.stop()
        if self._shutdown_once.acquire(blocking=False):
            threading.Thread(target=self._enforce_grace, name="jobsim-grace", daemon=True).start()

    def _enforce_grace(self) -> None:
        if self._finished.wait(self.settings.shutdown_grace_seconds):
            return  # run() ended within the grace period: nothing to force
        try:
            released = self.release_held()
            log.warning("grace period over, batch released", extra={"released": released})
            self._unregister()
        except Exception:
            log.exception("could not release the batch; its lease will expire instead")
        finally:
            os._exit(0)

    def release_held(self) -> int:
        with self._held_lock:
            held = self._held
            self._held = None
        if held is None:
            return 0
        token, ids = held
        with self.db.write() as session:
            return queue.release(session, token, ids)

    # --- one batch -------------------------------------------------------------------------

    def run_once(self) -> BatchReport:
        """Claim one batch and process it completely."""
        report = BatchReport()
        tasks = queue.claim(
            self.db,
            self.id,
            limit=self.settings.batch_size,
            lease_seconds=self.settings.lease_seconds,
        )
        report.claimed = len(tasks)
        if not tasks:
            return report
        with self._held_lock:
            self._held = (tasks[0].token, [t.id for t in tasks])
        try:
            self._process_batch(tasks, report)
        finally:
            with self._held_lock:
                self._held = None
            self._accumulate(report)
        return report

    def _process_batch(self, tasks: Sequence[queue.ClaimedTask], report: BatchReport) -> None:
        plan = self._plan(tasks)
        vectors: FloatMatrix | None = None
        if plan.to_embed:
            inputs = list(plan.to_embed.values())
            try:
                # Checked here too: a provider bug must fail the batch, not crash the worker.
                vectors = validate_vectors(
                    self.vectorizer.vectors(inputs), len(inputs), self.vectorizer.dims
                )
            except Exception as error:
                embed_tasks = [t for pid in plan.to_embed for t in plan.tasks_by_posting[pid]]
                self._settle_failures(embed_tasks, error, report)
                for pid in list(plan.to_embed):
                    plan.tasks_by_posting.pop(pid, None)
                plan.to_embed.clear()
        try:
            self._write(plan, vectors, report)
        except SQLAlchemyError as error:
            self.engine.invalidate()
            log.exception("batch write failed; tasks go back to the queue")
            remaining = [t for ts in plan.tasks_by_posting.values() for t in ts]
            self._settle_failures(remaining, TransientError(f"database error: {error}"), report)

    def _plan(self, tasks: Sequence[queue.ClaimedTask]) -> _Plan:
        plan = _Plan()
        by_kind: dict[tuple[str, str], list[queue.ClaimedTask]] = defaultdict(list)
        for task in tasks:
            by_kind[(task.kind, task.posting_id)].append(task)
            plan.tasks_by_posting.setdefault(task.posting_id, []).append(task)
        ids = list(plan.tasks_by_posting)
        with self.db.read() as session:
            postings = {
                p.id: p for p in session.scalars(select(Posting).where(Posting.id.in_(ids)))
            }
            rows = session.execute(
                select(Embedding.posting_id, Embedding.content_hash).where(
                    Embedding.posting_id.in_(ids), Embedding.model == self.vectorizer.name
                )
            )
            current = {posting_id: digest for posting_id, digest in rows}
        for posting_id in ids:
            posting = postings.get(posting_id)
            kinds = {kind for kind, pid in by_kind if pid == posting_id}
            if posting is None:
                plan.gone.append(posting_id)
            elif queue.EMBED in kinds and posting.status == "active" and not posting.is_deleted:
                inputs = self.vectorizer.inputs(posting)
                digest = inputs.content_hash
                if current.get(posting_id) == digest:
                    plan.lists_only.append(posting_id)
                else:
                    plan.to_embed[posting_id] = inputs
            elif queue.SIMILAR in kinds:
                plan.similar.append(posting_id)
            else:
                plan.skipped.append(posting_id)
        return plan

    def _write(self, plan: _Plan, vectors: FloatMatrix | None, report: BatchReport) -> None:
        if not plan.tasks_by_posting:
            return
        all_tasks = [t for ts in plan.tasks_by_posting.values() for t in ts]
        token = all_tasks[0].token
        with self.db.write() as session:
            tx = self.engine.begin(session)
            held = queue.still_held(session, token, [t.id for t in all_tasks])
            lost = [t for t in all_tasks if t.id not in held]
            if lost:
                log.warning("lease lost; skipping tasks", extra={"tasks": [t.id for t in lost]})
            alive = {
                pid for pid, ts in plan.tasks_by_posting.items() if any(t.id in held for t in ts)
            }
            stored = self._store_vectors(tx, plan, vectors, alive)
            report.embedded += len(stored)
            for posting_id in [*stored, *(p for p in plan.lists_only if p in alive)]:
                with trace(plan.tasks_by_posting[posting_id][0].trace_id):
                    self.engine.refresh_list(tx, posting_id)
                    self.engine.insert_into_others(tx, posting_id)
            for posting_id in (p for p in plan.similar if p in alive):
                self._refresh_similar(tx, posting_id)
            failed_gone = [
                t for pid in plan.gone if pid in alive for t in plan.tasks_by_posting[pid]
            ]
            for task in failed_gone:
                queue.settle_failure(
                    session,
                    token,
                    task.id,
                    RetryDecision("fail"),
                    f"posting {task.posting_id!r} no longer exists",
                )
            done = queue.complete(session, token, held - {t.id for t in failed_gone})
            report.failed += len(failed_gone)
            report.succeeded += len(done)
            report.skipped += len(plan.skipped)
            report.lists_refreshed += len(tx.touched_lists)
        self.engine.finish(tx)

    def _store_vectors(
        self, tx: ListTransaction, plan: _Plan, vectors: FloatMatrix | None, alive: set[str]
    ) -> list[str]:
        if vectors is None:
            return []
        stored: list[str] = []
        for row, (posting_id, inputs) in enumerate(plan.to_embed.items()):
            digest = inputs.content_hash
            if posting_id not in alive:
                continue
            posting = tx.session.get(Posting, posting_id, populate_existing=True)
            if posting is None or posting.is_deleted:
                continue
            if self.vectorizer.inputs(posting).content_hash != digest:
                # Its text changed while we embedded; the write queued a task for the new text.
                continue
            # The hash is the worker's (its recipe may differ from the API's, e.g. during a
            # recipe rollout); keeping the posting's in step makes coverage and backfill agree.
            posting.content_hash = digest
            replaced = self.engine.store_vector(tx, posting, vectors[row], digest)
            if replaced:
                self.engine.refill_lists_holding(tx, posting_id)
            stored.append(posting_id)
        return stored

    def _refresh_similar(self, tx: ListTransaction, posting_id: str) -> None:
        posting = tx.session.get(Posting, posting_id, populate_existing=True)
        if posting is None:
            return
        self.engine.update_meta(posting)
        self.engine.refill_lists_holding(tx, posting_id)
        if posting.is_deleted:
            self.engine.clear_list(tx, posting_id)
        if is_listed(posting, tx.now) and posting_id in self.engine.index:
            self.engine.refresh_list(tx, posting_id)
            self.engine.insert_into_others(tx, posting_id)

    def _settle_failures(
        self, tasks: Sequence[queue.ClaimedTask], error: BaseException, report: BatchReport
    ) -> None:
        if not tasks:
            return
        if not isinstance(error, (PermanentError, TransientError)):
            error = TransientError(f"{type(error).__name__}: {error}")
        message = sanitize(str(error), self._secrets())
        with self.db.write() as session:
            for task in tasks:
                decision = self.policy.decide(error, task.attempts)
                state = queue.settle_failure(session, task.token, task.id, decision, message)
                if state == queue.FAILED:
                    report.failed += 1
                elif state == queue.QUEUED:
                    report.retried += 1
        log.warning(
            "embedding failed",
            extra={"tasks": len(tasks), "error": message, "error_type": type(error).__name__},
        )

    def _secrets(self) -> tuple[str, ...]:
        keys = (self.settings.openai_api_key, self.settings.gemini_api_key)
        return tuple(k.get_secret_value() for k in keys if k is not None)

    # --- heartbeats, memory, maintenance, registration -------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            self.beat()

    def beat(self) -> None:
        with self._held_lock:
            held = self._held
        try:
            if held is not None:
                queue.heartbeat(self.db, held[0], self.settings.lease_seconds)
            self._update_row(state="paused" if self._paused else "running")
        except SQLAlchemyError:
            log.exception("heartbeat failed")

    def _memory_mb(self) -> float:
        return float(self._process.memory_info().rss) / (1024 * 1024)

    def _memory_exceeded(self) -> bool:
        limit = self.settings.worker_memory_limit_mb
        exceeded = bool(limit) and self._memory_mb() > limit
        if exceeded and not self._paused:
            gc.collect()
            exceeded = self._memory_mb() > limit
        if exceeded != self._paused:
            self._paused = exceeded
            log.warning(
                "memory guard " + ("pausing" if exceeded else "resuming"),
                extra={"memory_mb": round(self._memory_mb()), "limit_mb": limit},
            )
            self._update_row(state="paused" if exceeded else "running")
        return exceeded

    def _maybe_maintain(self) -> None:
        if time.monotonic() - self._last_maintenance < self.settings.maintenance_seconds:
            return
        self._last_maintenance = time.monotonic()
        try:
            run_maintenance(self.db, self.settings)
        except SQLAlchemyError:
            log.exception("maintenance failed")

    def _register(self) -> None:
        now = utcnow()
        with self.db.write() as session:
            session.merge(
                WorkerRow(
                    id=self.id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    state="running",
                    embedder=self.vectorizer.name,
                    started_at=now,
                    heartbeat_at=now,
                    processed=0,
                    failed=0,
                    memory_mb=self._memory_mb(),
                )
            )
        log.info("worker started", extra={"worker": self.id, "embedder": self.vectorizer.name})

    def _update_row(self, **values: object) -> None:
        with self.db.write() as session:
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == self.id)
                .values(
                    heartbeat_at=utcnow(),
                    memory_mb=self._memory_mb(),
                    processed=self.totals.succeeded,
                    failed=self.totals.failed,
                    **values,
                )
            )

    def _unregister(self) -> None:
        try:
            self._update_row(state="stopped", stopped_at=utcnow())
        except SQLAlchemyError:
            log.exception("could not mark worker stopped")
        log.info(
            "worker stopped",
            extra={
                "worker": self.id,
                "succeeded": self.totals.succeeded,
                "failed": self.totals.failed,
            },
        )

    def _accumulate(self, report: BatchReport) -> None:
        for name in report.__dataclass_fields__:
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))


class _ShutdownSignals:
    """SIGTERM/SIGINT handling that works even while the main thread is stuck in C code.

    A Python signal handler only runs when the main thread returns to the interpreter, which a
    call blocked inside the database driver or the model may not do for a long time. The C-level
    handler also writes the signal number to a wakeup pipe at once; a watcher thread reading it
    starts the shutdown either way. Must be created from the main thread.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self._on_signal = on_signal
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        threading.Thread(
            target=self._watch, args=(read_fd,), name="jobsim-signals", daemon=True
        ).start()

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self._on_signal()

    def _watch(self, read_fd: int) -> None:
        try:
            while data := os.read(read_fd, 64):
                if any(number in self.SIGNALS for number in data):
                    self._on_signal()
        except OSError:
            pass
        finally:
            os.close(read_fd)

    def restore(self) -> None:
        """Put back the previous handlers and wakeup fd; the watcher sees EOF and ends."""
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._write_fd)
