"""One claimed batch, start to finish: plan what each posting needs, embed in one call per
view, then one transaction that stores vectors, updates lists and completes the tasks."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from jobsim import metrics, queue
from jobsim.clock import Clock, system_clock
from jobsim.embedders.base import validate_vectors
from jobsim.errors import PermanentError, TransientError, sanitize
from jobsim.lists import ListTransaction, SimilarityEngine
from jobsim.logs import trace
from jobsim.postings.listed import is_active
from jobsim.postings.recipe import PostingInputs
from jobsim.retry import RetryDecision, RetryPolicy
from jobsim.similarity import FloatArray
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.vectorizer import PostingVectorizer

log = logging.getLogger("jobsim.worker")


@dataclass
class BatchReport:
    claimed: int = 0
    embedded: int = 0
    lists_refreshed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0

    def add(self, other: BatchReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Plan:
    """What one claimed batch turns into, by posting."""

    tasks_by_posting: dict[str, list[queue.ClaimedTask]] = field(default_factory=dict)
    to_embed: dict[str, PostingInputs] = field(default_factory=dict)
    # The version of each posting to embed as the plan read it: every write bumps it.
    versions: dict[str, int] = field(default_factory=dict)
    lists_only: list[str] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class BatchProcessor:
    def __init__(
        self,
        db: Database,
        vectorizer: PostingVectorizer,
        engine: SimilarityEngine,
        policy: RetryPolicy,
        secrets: Sequence[str] = (),
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.db = db
        self.vectorizer = vectorizer
        self.engine = engine
        self.policy = policy
        self.secrets = tuple(secrets)

    def process(self, tasks: Sequence[queue.ClaimedTask], report: BatchReport) -> None:
        plan = self._plan(tasks)
        if plan.to_embed:
            self.vectorizer.prime_from(self.db)
        vectors, failures = self._embed(plan.to_embed)
        for posting_ids, error in failures:
            failed = [t for pid in posting_ids for t in plan.tasks_by_posting.pop(pid)]
            for pid in posting_ids:
                del plan.to_embed[pid]
            self._settle_failures(failed, error, report)
        try:
            self._write(plan, vectors, report)
        except SQLAlchemyError as error:
            self.engine.invalidate()
            log.exception("batch write failed; tasks go back to the queue")
            remaining = [t for ts in plan.tasks_by_posting.values() for t in ts]
            self._settle_failures(remaining, TransientError(f"database error: {error}"), report)

    def _embed(
        self, wanted: dict[str, PostingInputs]
    ) -> tuple[dict[str, FloatArray], list[tuple[list[str], Exception]]]:
        """Vectors by posting id, and the groups of postings that failed with their error.

        The batch goes in one call. When the provider rejects it for good (or returns a bad
        vector), both halves are tried: if only one fails, the bad input is in it and the
        search goes on there, so one posting the provider cannot take fails alone instead of
        taking its whole batch to the dead letters. If both halves fail, the error is not about
        one input (a bad key, an unknown model) and the batch fails as a whole. A transient
        error also fails its group as a whole (every posting is retried later).
        """
        vectors: dict[str, FloatArray] = {}
        failures: list[tuple[list[str], Exception]] = []
        if wanted:
            ids = list(wanted)
            error = self._embed_group(ids, wanted, vectors)
            if isinstance(error, PermanentError):
                self._isolate(ids, error, wanted, vectors, failures)
            elif error is not None:
                failures.append((ids, error))
        return vectors, failures

    def _isolate(
        self,
        ids: list[str],
        error: Exception,
        wanted: dict[str, PostingInputs],
        vectors: dict[str, FloatArray],
        failures: list[tuple[list[str], Exception]],
    ) -> None:
        if len(ids) == 1:
            failures.append((ids, error))
            return
        halves = (ids[: len(ids) // 2], ids[len(ids) // 2 :])
        errors = [self._embed_group(half, wanted, vectors) for half in halves]
        if all(isinstance(e, PermanentError) for e in errors):
            failures.append((ids, error))
            return
        for half, half_error in zip(halves, errors, strict=True):
            if isinstance(half_error, PermanentError):
                self._isolate(half, half_error, wanted, vectors, failures)
            elif half_error is not None:
                failures.append((half, half_error))

    def _embed_group(
        self, ids: list[str], wanted: dict[str, PostingInputs], vectors: dict[str, FloatArray]
    ) -> Exception | None:
        """Embed one group into `vectors`; the error instead of raising it."""
        try:
            # Checked here too: a provider bug must fail the batch, not crash the worker.
            with metrics.timed(metrics.EMBEDDING_DURATION):
                raw = self.vectorizer.vectors([wanted[pid] for pid in ids])
            matrix = validate_vectors(raw, len(ids), self.vectorizer.dims)
        except Exception as error:
            return error
        vectors.update(zip(ids, matrix, strict=True))
        return None

    def _plan(self, tasks: Sequence[queue.ClaimedTask]) -> _Plan:
        plan = _Plan()
        kinds: dict[str, set[str]] = defaultdict(set)
        for task in tasks:
            kinds[task.posting_id].add(task.kind)
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
            if posting is None:
                plan.gone.append(posting_id)
            elif kinds[posting_id] & {queue.EMBED, queue.REEMBED} and is_active(posting):
                inputs = self.vectorizer.inputs(posting)
                forced = queue.REEMBED in kinds[posting_id]
                if current.get(posting_id) == inputs.content_hash and not forced:
                    plan.lists_only.append(posting_id)
                else:
                    plan.to_embed[posting_id] = inputs
                    plan.versions[posting_id] = posting.version
            elif queue.SIMILAR in kinds[posting_id]:
                plan.similar.append(posting_id)
            else:
                plan.skipped.append(posting_id)
        return plan

    def _write(self, plan: _Plan, vectors: dict[str, FloatArray], report: BatchReport) -> None:
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
            ranked = [*stored, *(p for p in plan.lists_only if p in alive)]
            self.engine.index.prepare(ranked)  # one matrix product for the batch's scores
            self.engine.postings_embedded(tx, ranked)
            self.engine.index.prepare(())  # the batch's scores are not kept past it
            for posting_id in ranked:
                with trace(plan.tasks_by_posting[posting_id][0].trace_id):
                    log.debug("posting embedded, lists updated", extra={"posting": posting_id})
            for posting_id in (p for p in plan.similar if p in alive):
                posting = session.get(Posting, posting_id, populate_existing=True)
                if posting is not None:
                    self.engine.posting_changed(tx, posting)
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
                    clock=self.clock,
                )
            done = queue.complete(
                session, token, held - {t.id for t in failed_gone}, clock=self.clock
            )
            report.failed += len(failed_gone)
            report.succeeded += len(done)
            report.skipped += len(plan.skipped)
            report.lists_refreshed += len(tx.touched_lists)
        self.engine.finish(tx)
        _count_outcomes(all_tasks, done, "succeeded")
        _count_outcomes(failed_gone, {t.id for t in failed_gone}, "dead_lettered")
        metrics.inc(metrics.EMBEDDINGS_STORED, len(stored))
        metrics.inc(metrics.LIST_REFRESHES, len(tx.touched_lists))

    def _store_vectors(
        self, tx: ListTransaction, plan: _Plan, vectors: dict[str, FloatArray], alive: set[str]
    ) -> list[str]:
        wanted = [pid for pid in plan.to_embed if pid in alive]
        postings = {
            p.id: p
            for p in tx.session.scalars(
                select(Posting)
                .where(Posting.id.in_(wanted))
                .execution_options(populate_existing=True)
            )
        }
        stored: list[tuple[Posting, FloatArray, str]] = []
        for posting_id in wanted:
            digest = plan.to_embed[posting_id].content_hash
            posting = postings.get(posting_id)
            if posting is None or posting.is_deleted:
                continue
            if not self._same_text(posting, plan, digest):
                # Its text changed while we embedded; the write queued a task for the new text.
                continue
            # The hash is the worker's (its recipe may differ from the API's, e.g. during a
            # recipe rollout); keeping the posting's in step makes coverage and backfill agree.
            posting.content_hash = digest
            stored.append((posting, vectors[posting_id], digest))
        self.engine.vectors_stored(tx, stored)
        return [posting.id for posting, _, _ in stored]

    def _same_text(self, posting: Posting, plan: _Plan, digest: str) -> bool:
        """Whether `posting` as read now still has the text embedded as `digest`: an
        unchanged version says so without building the texts again."""
        if posting.version == plan.versions.get(posting.id):
            return True
        return self.vectorizer.recipe.content_hash(posting) == digest

    def _settle_failures(
        self, tasks: Sequence[queue.ClaimedTask], error: BaseException, report: BatchReport
    ) -> None:
        if not tasks:
            return
        if not isinstance(error, (PermanentError, TransientError)):
            error = TransientError(f"{type(error).__name__}: {error}")
        message = sanitize(str(error), self.secrets)
        settled: list[tuple[queue.ClaimedTask, str | None]] = []
        with self.db.write() as session:
            for task in tasks:
                decision = self.policy.decide(error, task.attempts)
                state = queue.settle_failure(
                    session, task.token, task.id, decision, message, clock=self.clock
                )
                if state == queue.FAILED:
                    report.failed += 1
                elif state == queue.QUEUED:
                    report.retried += 1
                settled.append((task, state))
        log.warning(
            "embedding failed",
            extra={"tasks": len(tasks), "error": message, "error_type": type(error).__name__},
        )
        for task, state in settled:  # counted and told once committed
            _count_settled(task.kind, state)
            with trace(task.trace_id):
                log.info(
                    "task dead-lettered" if state == queue.FAILED else "task back in the queue",
                    extra={"posting": task.posting_id, "task": task.id, "attempt": task.attempts},
                )


def _count_outcomes(tasks: Sequence[queue.ClaimedTask], ids: set[int], outcome: str) -> None:
    """Count the tasks of `tasks` whose id is in `ids` as finished with `outcome`."""
    for task in tasks:
        if task.id in ids:
            metrics.inc(metrics.TASKS_COMPLETED, kind=task.kind, outcome=outcome)


def _count_settled(kind: str, state: str | None) -> None:
    """Count a failed attempt by where it went: a retry, a dead letter, or (superseded by a
    queued task of its posting) succeeded."""
    if state == queue.QUEUED:
        metrics.inc(metrics.TASKS_RETRIED, kind=kind)
    elif state == queue.FAILED:
        metrics.inc(metrics.TASKS_COMPLETED, kind=kind, outcome="dead_lettered")
    elif state == queue.SUCCEEDED:
        metrics.inc(metrics.TASKS_COMPLETED, kind=kind, outcome="succeeded")
