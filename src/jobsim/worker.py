"""A worker process: claims batches until stopped, heartbeats, pauses above its memory limit,
runs maintenance, and shuts down gracefully (the batch in hand finishes, or after the grace
period goes back to the queue). What a batch does is jobsim.batch."""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid

import psutil
from sqlalchemy.exc import SQLAlchemyError

from jobsim import metrics, queue, worker_registry
from jobsim.batch import BatchProcessor, BatchReport
from jobsim.clock import Clock, system_clock
from jobsim.embedders.base import Embedder
from jobsim.errors import ModelRetired, PermanentError, TransientError, sanitize
from jobsim.listing_types import scoring_config
from jobsim.lists import SimilarityEngine
from jobsim.maintenance import run_maintenance
from jobsim.model_switch import ServingModel
from jobsim.retry import RetryPolicy
from jobsim.runtime_settings import LogLevelFollower
from jobsim.settings import Settings
from jobsim.shutdown import ShutdownSignals
from jobsim.storage.engine import Database
from jobsim.storage.statistics import GrowthAnalyzer
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

log = logging.getLogger("jobsim.worker")

__all__ = ["BatchReport", "Worker"]


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        embedder: Embedder,
        *,
        recipe: VectorRecipe | None = None,
        worker_id: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db
        self.embedder = embedder
        self.vectorizer = PostingVectorizer(
            embedder, recipe or VectorRecipe.from_settings(settings)
        )
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.engine = SimilarityEngine(
            db,
            self.vectorizer.name,
            lambda: self.vectorizer.dims,
            scoring_config(settings),
            clock=clock,
            expansion=self.vectorizer.recipe.expansion,
        )
        self._serving = ServingModel(db, self.vectorizer.name)
        self.policy = RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts
        )
        self.batches = BatchProcessor(
            db, self.vectorizer, self.engine, self.policy, _secrets(settings), clock=clock
        )
        # Waits between turns while the database is unreachable (full jitter, at most 30 s).
        self._outage_backoff = RetryPolicy(max(settings.poll_seconds, 0.1), 30.0)
        self.totals = BatchReport()
        self._statistics = GrowthAnalyzer(db)  # planner statistics during a bulk load
        # Between empty claims the worker waits for tasks to be queued, at most poll_seconds.
        self._work_signal = queue.WorkSignal(db)
        # This process's counters for /metrics, written to the worker's row at each heartbeat.
        self.counters = metrics.Accumulator()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._shutdown_once = threading.Lock()
        self._held: tuple[str, list[int]] | None = None
        self._held_lock = threading.Lock()
        self._last_maintenance = 0.0
        self._paused = False
        self._ready = False
        self._process = psutil.Process()
        self._log_level = LogLevelFollower(db, interval=0)

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
        with metrics.recording_into(self.counters):
            # Handlers first: a SIGTERM sent once the row is visible must find them in place.
            signals = ShutdownSignals(self._begin_shutdown) if install_signal_handlers else None
            self._register()
            beat = threading.Thread(
                target=self._heartbeat_loop, name="jobsim-heartbeat", daemon=True
            )
            beat.start()
            try:
                if self._wait_for_embedder():
                    self._work(burst, max_batches)
            finally:
                self._stop.set()
                beat.join(timeout=5)
                self._work_signal.close()
                self._unregister()
                self._finished.set()
                if signals is not None:
                    signals.restore()
        return self.totals

    def _wait_for_embedder(self) -> bool:
        """The start-up check, until it passes: a provider that is rate limiting or down is
        waited for with backoff (the worker shows as "starting"); a bad key or an unknown
        model (PermanentError) ends the worker. False when stopped while waiting."""
        attempt = 0
        while not self._stop.is_set():
            try:
                self.embedder.check()
                _ = self.vectorizer.dims  # an HTTP embedder learns them from the check
            except PermanentError:
                raise
            except Exception as error:
                attempt += 1
                decision = self.policy.decide(_as_transient(error), 1)
                delay = decision.delay_seconds or self.policy.backoff(attempt)
                log.warning(
                    "embedder not ready; the worker waits and tries again",
                    extra={"retry_in_seconds": round(delay, 1), "error": sanitize(str(error))},
                )
                self._stop.wait(delay)
                continue
            self._ready = True
            self._update_row(state="running")
            return True
        return False

    def _work(self, burst: bool, max_batches: int | None) -> None:
        batches = 0
        outage = 0  # turns in a row that failed on the database
        if not burst:
            self._work_signal.start()
        while not self._stop.is_set():
            try:
                serving = self._serving.other()
                if serving is not None:
                    log.error(
                        "another vector model serves now (a model switch); this worker stops: "
                        "restart it with the new model's settings",
                        extra={"serving": serving, "model": self.vectorizer.name},
                    )
                    break
                self._maybe_maintain()
                if self._memory_exceeded():
                    self._stop.wait(self.settings.poll_seconds)
                    continue
                report = self.run_once()
            except SQLAlchemyError as error:
                # The database is unreachable (restart, network, failover): keep the process,
                # back off, carry on when it answers again. A batch in hand goes back to the
                # queue when its lease expires.
                outage += 1
                delay = self._outage_backoff.backoff(outage)
                log.warning(
                    "database unavailable; the worker waits and tries again",
                    extra={"retry_in_seconds": round(delay, 2), "error": sanitize(str(error))},
                )
                self.engine.invalidate()
                self._stop.wait(delay)
                continue
            outage = 0
            batches += 1 if report.claimed else 0
            if max_batches is not None and batches >= max_batches:
                break
            if report.claimed == 0:
                if burst:
                    break
                self._work_signal.wait(self.settings.poll_seconds, self._stop)

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
            released = queue.release(session, token, ids, clock=self.clock)
        self.counters.inc(metrics.TASKS_RELEASED, released, {})
        return released

    # --- one batch -------------------------------------------------------------------------

    def run_once(self) -> BatchReport:
        """Claim one batch and process it completely."""
        with metrics.recording_into(self.counters):
            return self._run_once()

    def _run_once(self) -> BatchReport:
        report = BatchReport()
        self._ready = True  # claiming work: running (run() only gets here after its check)
        tasks = queue.claim(
            self.db,
            self.id,
            limit=self.settings.batch_size,
            lease_seconds=self.settings.lease_seconds,
            clock=self.clock,
        )
        report.claimed = len(tasks)
        if not tasks:
            return report
        for task in tasks:
            metrics.inc(metrics.TASKS_CLAIMED, kind=task.kind)
        started = time.perf_counter()
        with self._held_lock:
            self._held = (tasks[0].token, [t.id for t in tasks])
        try:
            self.batches.process(tasks, report)
            self._statistics.observe(len(self.engine.index))
        except ModelRetired as error:
            # A model switch committed while this batch was in hand: give it back whole (the
            # attempt not counted) for the new model's workers, and stop.
            self.engine.invalidate()
            released = self.release_held()
            log.error(
                "another vector model serves now; batch released, this worker stops",
                extra={"released": released, "error": str(error)},
            )
            self.stop()
        finally:
            with self._held_lock:
                self._held = None
            self.totals.add(report)
            elapsed = time.perf_counter() - started
            for task in tasks:
                metrics.observe(metrics.TASK_DURATION, elapsed, kind=task.kind)
        return report

    # --- heartbeats, memory, maintenance, registration -------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            self.beat()

    def beat(self) -> None:
        with self._held_lock:
            held = self._held
        try:
            if held is not None:
                queue.heartbeat(self.db, held[0], self.settings.lease_seconds, clock=self.clock)
            self._update_row(state=self._state())
            self._log_level.follow()
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
            run_maintenance(self.db, self.settings, clock=self.clock)
        except SQLAlchemyError:
            log.exception("maintenance failed")

    def _state(self) -> str:
        if not self._ready:
            return "starting"
        return "paused" if self._paused else "running"

    def _register(self) -> None:
        worker_registry.register(
            self.db,
            self.id,
            embedder=self.vectorizer.name,
            memory_mb=self._memory_mb(),
            state="starting",
        )
        log.info("worker started", extra={"worker": self.id, "embedder": self.vectorizer.name})

    def _update_row(self, **values: object) -> None:
        with self._held_lock:
            in_hand = len(self._held[1]) if self._held is not None else 0
        worker_registry.report(
            self.db,
            self.id,
            memory_mb=self._memory_mb(),
            processed=self.totals.succeeded,
            failed=self.totals.failed,
            current_batch=in_hand,
            metrics=self.counters.snapshot(),
            **values,
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


def _as_transient(error: BaseException) -> BaseException:
    """A start-up check error as the retry policy reads it (anything unknown is transient)."""
    if isinstance(error, TransientError):
        return error
    return TransientError(f"{type(error).__name__}: {error}")


def _secrets(settings: Settings) -> tuple[str, ...]:
    keys = (settings.openai_api_key, settings.gemini_api_key)
    return tuple(k.get_secret_value() for k in keys if k is not None)
