"""What an operator reads: embedding coverage (overall, by state, model and language), the
queue (counts, age, throughput over the last hour, tasks and their errors) and the workers.
`jobsim status`, the admin API and the dashboard all read these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from jobsim import queue, runtime_settings, worker_registry
from jobsim.errors import NotFound, sanitize
from jobsim.postings.embedded import current_vector, embedded_counts
from jobsim.postings.listed import active_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, ListState, Posting, Task, Worker
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe


def _coverage_by(session: Session, recipe: VectorRecipe, column: Any) -> list[tuple[Any, int, int]]:
    """(value, active postings, of them embedded with the current model) for each value of
    a posting column, the most postings first."""
    rows = session.execute(
        select(column, func.count(), func.count(Embedding.posting_id))
        .outerjoin(Embedding, current_vector(recipe.model))
        .where(active_clause())
        .group_by(column)
        .order_by(func.count().desc(), column)
    ).all()
    return [(value, int(active), int(embedded)) for value, active, embedded in rows]


def _language_rows(session: Session, recipe: VectorRecipe) -> list[dict[str, Any]]:
    glossed = recipe.glossary.languages if recipe.views.semantic else []
    return [
        {
            "language": language,
            "active": active,
            "embedded": embedded,
            "coverage": _ratio(embedded, active),
            "glossed": language in glossed,
        }
        for language, active, embedded in _coverage_by(session, recipe, Posting.language)
    ]


def _listing_type_rows(
    session: Session, recipe: VectorRecipe, statuses: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """Each listing type's listings by status (`statuses`, from _status_counts_by_type) and
    its active ones' coverage (jobs, businesses, ...): the types with active listings first,
    the most first."""
    coverage = {
        kind: (active, embedded)
        for kind, active, embedded in _coverage_by(session, recipe, Posting.listing_type)
    }
    ordered = sorted(statuses, key=lambda kind: (-coverage.get(kind, (0, 0))[0], kind))
    rows = []
    for listing_type in ordered:
        _, embedded = coverage.get(listing_type, (0, 0))
        counts = statuses[listing_type]
        rows.append(
            {
                "listing_type": listing_type,
                **counts,
                "embedded": embedded,
                "coverage": _ratio(embedded, counts["active"]),
            }
        )
    return rows


STATUSES = ("active", "closed", "draft", "deleted")


def _status_counts_by_type(session: Session) -> dict[str, dict[str, int]]:
    """Each listing type's listings by status ('deleted' counts the deleted ones whatever
    their status)."""
    columns = (Posting.listing_type, Posting.status, Posting.is_deleted)
    rows = session.execute(select(*columns, func.count()).group_by(*columns))
    counts: dict[str, dict[str, int]] = {}
    for listing_type, status, is_deleted, count in rows:
        state = "deleted" if is_deleted else status
        counts.setdefault(listing_type, dict.fromkeys(STATUSES, 0))[state] += int(count)
    return counts


def _all_types(statuses: dict[str, dict[str, int]]) -> dict[str, int]:
    """Listings by status, every listing type together."""
    total = dict.fromkeys(STATUSES, 0)
    for counts in statuses.values():
        for state, count in counts.items():
            total[state] += count
    return total


def _workers(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """The workers as `jobsim status` lists them: the admin report's fields it shows."""
    now, silent_for = utcnow(), worker_registry.silence_limit(settings)
    return [
        WorkerOut.of(w, now, silent_for).model_dump(include=_STATUS_WORKER_FIELDS)
        for w in worker_registry.all_workers(session)
    ]


_STATUS_WORKER_FIELDS = {
    "id",
    "state",
    "embedder",
    "heartbeat_age_seconds",
    "processed",
    "failed",
    "memory_mb",
}


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


# --- the admin API's reports ---------------------------------------------------------------------


class ModelVectors(BaseModel):
    """One vector model's vectors and coverage (two models while the model is being changed)."""

    model: str
    vectors: int
    current: bool  # this process's model
    serving: bool  # the model a model switch made serve (none recorded: the current one)
    embedded: int  # active listings with a vector of this model for their current text
    coverage: float


def _model_rows(session: Session, current: str) -> list[ModelVectors]:
    counts = dict(
        session.execute(select(Embedding.model, func.count()).group_by(Embedding.model)).all()
    )
    counts.setdefault(current, 0)
    serving = runtime_settings.read(session, runtime_settings.SERVING_MODEL) or current
    rows = []
    for model, vectors in sorted(counts.items(), key=lambda item: item[0] != current):
        active, embedded = embedded_counts(session, model)
        rows.append(
            ModelVectors(
                model=model,
                vectors=int(vectors),
                current=model == current,
                serving=model == serving,
                embedded=embedded,
                coverage=_ratio(embedded, active),
            )
        )
    return rows


class LanguageCoverage(BaseModel):
    language: str
    active: int
    embedded: int
    coverage: float
    glossed: bool


class ListingTypeCoverage(BaseModel):
    listing_type: str
    active: int
    closed: int
    draft: int
    deleted: int
    embedded: int  # active listings with a vector for their current text
    coverage: float


class EmbeddingReport(BaseModel):
    embedder: str
    vector_model: str
    coverage: float
    postings: dict[str, int]
    states: dict[str, int]
    models: list[ModelVectors]
    languages: list[LanguageCoverage]
    listing_types: list[ListingTypeCoverage] = Field(
        description="active listings and coverage by listing type (job, business, ...)"
    )
    stale_lists: int
    recompute_after_days: float


class MinuteOut(BaseModel):
    minute: str
    succeeded: int
    failed: int


class QueueReport(BaseModel):
    counts: dict[str, dict[str, int]]
    totals: dict[str, int]
    oldest_queued_age_seconds: float | None
    last_hour: list[MinuteOut]
    succeeded_last_hour: int
    failed_last_hour: int


class TaskOut(BaseModel):
    id: int
    kind: str
    posting_id: str
    state: str
    priority: int
    attempts: int
    max_attempts: int
    run_after: str
    lease_owner: str | None
    lease_expires_at: str | None
    last_error: str | None
    trace_id: str | None
    created_at: str
    updated_at: str
    started_at: str | None  # when its latest attempt was claimed
    finished_at: str | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id,
            kind=task.kind,
            posting_id=task.posting_id,
            state=task.state,
            priority=task.priority,
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            run_after=task.run_after.isoformat(),
            lease_owner=task.lease_owner,
            lease_expires_at=_iso(task.lease_expires_at),
            last_error=sanitize(task.last_error) if task.last_error else None,
            trace_id=task.trace_id,
            created_at=task.created_at.isoformat(),
            updated_at=task.updated_at.isoformat(),
            started_at=_iso(task.started_at),
            finished_at=_iso(task.finished_at),
        )


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    state: str
    alive: bool
    heartbeat_age_seconds: float
    processed: int
    failed: int
    memory_mb: float
    current_batch: int
    embedder: str
    started_at: str
    stopped_at: str | None

    @classmethod
    def of(cls, worker: Worker, now: datetime, silent_for: timedelta) -> WorkerOut:
        return cls(
            id=worker.id,
            hostname=worker.hostname,
            pid=worker.pid,
            state=worker.state,
            alive=worker_registry.is_alive(worker, now, silent_for),
            heartbeat_age_seconds=round(max((now - worker.heartbeat_at).total_seconds(), 0.0), 1),
            processed=worker.processed,
            failed=worker.failed,
            memory_mb=round(worker.memory_mb, 1),
            current_batch=worker.current_batch,
            embedder=worker.embedder,
            started_at=worker.started_at.isoformat(),
            stopped_at=_iso(worker.stopped_at),
        )


class WorkersReport(BaseModel):
    items: list[WorkerOut]
    alive: int
    dead: int


class Operations:
    """The reads behind `jobsim status`, the admin API and the dashboard."""

    def __init__(self, settings: Settings, db: Database, recipe: VectorRecipe) -> None:
        self.settings = settings
        self.db = db
        self.recipe = recipe

    def status(self) -> dict[str, Any]:
        with self.db.read() as session:
            statuses = _status_counts_by_type(session)
            postings = _all_types(statuses)
            with_lists = session.scalar(
                select(func.count())
                .select_from(Posting)
                .join(ListState, ListState.posting_id == Posting.id)
                .where(active_clause(), ListState.computed_at.is_not(None))
            )
            languages = _language_rows(session, self.recipe)
            listing_types = _listing_type_rows(session, self.recipe, statuses)
            tasks = queue.counts(session)
            oldest = queue.oldest_queued_age_seconds(session)
            workers = _workers(session, self.settings)
            models = _model_rows(session, self.recipe.model)
        active = postings["active"]
        current = next(row.embedded for row in models if row.current)
        return {
            "embedder": self.recipe.embedder,
            "vector_model": self.recipe.model,
            "postings": postings,
            "embeddings": {
                "current": current,
                "missing": active - current,
                "coverage": _ratio(current, active),
            },
            "models": [row.model_dump() for row in models],
            "similar_lists": {"computed": int(with_lists or 0)},
            "languages": languages,
            "listing_types": listing_types,
            "queue": {"tasks": tasks, "oldest_queued_age_seconds": oldest},
            "workers": workers,
        }

    def embeddings(self) -> EmbeddingReport:
        now = utcnow()
        stale_before = now - timedelta(days=self.settings.recompute_after_days)
        with self.db.read() as session:
            statuses = _status_counts_by_type(session)
            postings = _all_types(statuses)
            states = self._embedding_states(session)
            models = _model_rows(session, self.recipe.model)
            stale = session.scalar(
                select(func.count())
                .select_from(Posting)
                .join(ListState, ListState.posting_id == Posting.id)
                .where(active_clause(), ListState.computed_at < stale_before)
            )
            languages = _language_rows(session, self.recipe)
            listing_types = _listing_type_rows(session, self.recipe, statuses)
        return EmbeddingReport(
            embedder=self.recipe.embedder,
            vector_model=self.recipe.model,
            coverage=_ratio(states["embedded"], postings["active"]),
            postings=postings,
            states=states,
            models=models,
            languages=[LanguageCoverage(**row) for row in languages],
            listing_types=[ListingTypeCoverage(**row) for row in listing_types],
            stale_lists=int(stale or 0),
            recompute_after_days=self.settings.recompute_after_days,
        )

    def _embedding_states(self, session: Session) -> dict[str, int]:
        embedding_kinds = (queue.EMBED, queue.REEMBED)
        state = case(
            (Embedding.posting_id.is_not(None), "embedded"),
            (
                Posting.id.in_(
                    queue.postings_with_tasks(embedding_kinds, (queue.QUEUED, queue.RUNNING))
                ),
                "queued",
            ),
            (Posting.id.in_(queue.postings_with_tasks(embedding_kinds, (queue.FAILED,))), "failed"),
            else_="missing",
        )
        rows = session.execute(
            select(state, func.count())
            .select_from(Posting)
            .outerjoin(Embedding, current_vector(self.recipe.model))
            .where(active_clause())
            .group_by(state)
        )
        found = dict.fromkeys(("embedded", "queued", "failed", "missing"), 0)
        for name, count in rows:
            found[name] = int(count)
        return found

    def queue(self) -> QueueReport:
        with self.db.read() as session:
            counts = queue.counts(session)
            oldest = queue.oldest_queued_age_seconds(session)
            minutes = queue.per_minute(session, minutes=60)
        totals = queue.totals(counts)
        return QueueReport(
            counts=counts,
            totals=totals,
            oldest_queued_age_seconds=oldest,
            last_hour=[
                MinuteOut(minute=m.minute.isoformat(), succeeded=m.succeeded, failed=m.failed)
                for m in minutes
            ],
            succeeded_last_hour=sum(m.succeeded for m in minutes),
            failed_last_hour=sum(m.failed for m in minutes),
        )

    def tasks(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0
    ) -> TaskPage:
        with self.db.read() as session:
            page, total = queue.list_tasks(
                session, state=state, kind=kind, limit=limit, offset=offset
            )
            items = [TaskOut.of(task) for task in page]
        return TaskPage(items=items, total=total, limit=limit, offset=offset)

    def pending_tasks(self, kind: str, posting_ids: Sequence[str]) -> dict[str, int]:
        """The queued or running task of `kind` of each posting, by posting id."""
        with self.db.read() as session:
            return queue.pending_task_ids(session, kind, posting_ids)

    def task(self, task_id: int) -> TaskOut:
        with self.db.read() as session:
            task = queue.get_task(session, task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            return TaskOut.of(task)

    def workers(self) -> WorkersReport:
        now = utcnow()
        silent_for = worker_registry.silence_limit(self.settings)
        with self.db.read() as session:
            rows = worker_registry.all_workers(session)
        items = [WorkerOut.of(w, now, silent_for) for w in rows]
        alive_count = sum(1 for item in items if item.alive)
        dead = sum(
            1
            for item in items
            if item.state == "dead"
            or (item.state in worker_registry.ALIVE_STATES and not item.alive)
        )
        return WorkersReport(items=items, alive=alive_count, dead=dead)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
