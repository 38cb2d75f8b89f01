"""What the HTTP API and the CLI both call: posting writes and reads, similar lists with their
fallback, backfill, import and status. No HTTP and no argv here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from jobsim import queue
from jobsim.jobs import (
    PostingIn,
    PostingPatch,
    PostingWriter,
    TextRecipe,
    describe_validation_errors,
    is_listed,
    posting_to_dict,
)
from jobsim.settings import Settings, settings_glossary, settings_recipe, vector_model
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, SimilarEntry, Task, Worker
from jobsim.storage.types import utcnow

RECOMPUTE_COOLDOWN = timedelta(minutes=5)
IMPORT_CHUNK = 200


@dataclass(frozen=True)
class SimilarFilters:
    limit: int = 10
    min_score: float | None = None
    exclude_same_company: bool = False
    remote_only: bool = False
    same_city: bool = False


@dataclass
class ItemError:
    index: int
    source: str
    id: str | None
    errors: list[dict[str, str]]


@dataclass
class BulkReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[ItemError] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": len(self.errors),
            "errors": [vars(e) for e in self.errors],
            "ids": self.ids,
        }


class Service:
    def __init__(
        self, settings: Settings, db: Database | None = None, recipe: TextRecipe | None = None
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.writer = PostingWriter(
            recipe or settings_recipe(settings), max_attempts=settings.max_attempts
        )

    @property
    def model(self) -> str:
        return vector_model(self.settings)

    # --- writes ----------------------------------------------------------------------------

    def create(self, data: PostingIn, *, trace_id: str | None = None) -> dict[str, Any]:
        with self.db.write() as session:
            return posting_to_dict(self.writer.create(session, data, trace_id=trace_id))

    def upsert(
        self, data: PostingIn, *, trace_id: str | None = None
    ) -> tuple[dict[str, Any], Literal["created", "updated", "unchanged"]]:
        with self.db.write() as session:
            result = self.writer.upsert(session, data, trace_id=trace_id)
            return posting_to_dict(result.posting), result.action

    def update(
        self, posting_id: str, patch: PostingPatch, *, trace_id: str | None = None
    ) -> dict[str, Any]:
        with self.db.write() as session:
            result = self.writer.update(session, posting_id, patch, trace_id=trace_id)
            return posting_to_dict(result.posting)

    def close(self, posting_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        with self.db.write() as session:
            return posting_to_dict(self.writer.close(session, posting_id, trace_id=trace_id))

    def delete(self, posting_id: str, *, trace_id: str | None = None) -> None:
        with self.db.write() as session:
            self.writer.delete(session, posting_id, trace_id=trace_id)

    def bulk_upsert(
        self,
        items: Iterable[tuple[str, dict[str, Any] | None, str | None]],
        *,
        trace_id: str | None = None,
        priority: int = queue.PRIORITY_NEW,
    ) -> BulkReport:
        """Validate and upsert (source, raw record, parse error) items in chunked transactions.

        A bad item is reported with its source and field errors and never blocks the others.
        """
        report = BulkReport()
        chunk: list[tuple[int, PostingIn]] = []
        for index, (source, raw, parse_error) in enumerate(items):
            parsed = self._validate(index, source, raw, parse_error, report)
            if parsed is not None:
                chunk.append((index, parsed))
            if len(chunk) >= IMPORT_CHUNK:
                self._write_chunk(chunk, report, trace_id, priority)
                chunk = []
        if chunk:
            self._write_chunk(chunk, report, trace_id, priority)
        return report

    @staticmethod
    def _validate(
        index: int,
        source: str,
        raw: dict[str, Any] | None,
        parse_error: str | None,
        report: BulkReport,
    ) -> PostingIn | None:
        if parse_error is not None or raw is None:
            message = parse_error or "empty record"
            report.errors.append(
                ItemError(index, source, None, [{"field": "record", "message": message}])
            )
            return None
        if raw.get("is_deleted") is True:
            report.skipped += 1
            return None
        try:
            return PostingIn.model_validate(raw)
        except ValidationError as error:
            raw_id = raw.get("id")
            report.errors.append(
                ItemError(
                    index,
                    source,
                    raw_id if isinstance(raw_id, str) else None,
                    describe_validation_errors(error.errors()),
                )
            )
            return None

    def _write_chunk(
        self,
        chunk: list[tuple[int, PostingIn]],
        report: BulkReport,
        trace_id: str | None,
        priority: int,
    ) -> None:
        with self.db.write() as session:
            for _, data in chunk:
                result = self.writer.upsert(session, data, trace_id=trace_id, priority=priority)
                setattr(report, result.action, getattr(report, result.action) + 1)
                report.ids.append(result.posting.id)

    def import_file(self, path: Path, fmt: str | None = None) -> BulkReport:
        from jobsim.importing import read_records

        records = ((r.source, r.data, r.error) for r in read_records(path, fmt))
        return self.bulk_upsert(records, priority=queue.PRIORITY_BACKFILL)

    # --- reads -----------------------------------------------------------------------------

    def get(self, posting_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            return posting_to_dict(self.writer.get_live(session, posting_id))

    def list_postings(
        self,
        *,
        status: str | None = None,
        category: str | None = None,
        city: str | None = None,
        company: str | None = None,
        q: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict[str, Any]:
        conditions: list[ColumnElement[bool]] = [Posting.is_deleted.is_(False)]
        if status:
            conditions.append(Posting.status == status)
        if category:
            conditions.append(func.lower(Posting.category) == category.lower())
        if city:
            conditions.append(func.lower(Posting.city) == city.lower())
        if company:
            conditions.append(func.lower(Posting.company) == company.lower())
        if q:
            conditions.append(func.lower(Posting.title).contains(q.lower(), autoescape=True))
        with self.db.read() as session:
            total = session.scalar(select(func.count()).select_from(Posting).where(*conditions))
            rows = session.scalars(
                select(Posting)
                .where(*conditions)
                .order_by(Posting.created_at.desc(), Posting.id)
                .limit(limit)
                .offset(offset)
            )
            items = [posting_to_dict(p) for p in rows]
        return {"items": items, "total": int(total or 0), "limit": limit, "offset": offset}

    def similar(
        self, posting_id: str, filters: SimilarFilters = SimilarFilters()
    ) -> dict[str, Any]:
        """The cached list, filtered to listed postings, or the category/location fallback."""
        now = utcnow()
        with self.db.read() as session:
            posting = self.writer.get_live(session, posting_id)
            embedded = self._has_current_embedding(session, posting)
            rows = session.execute(
                select(SimilarEntry, Posting)
                .join(Posting, Posting.id == SimilarEntry.similar_id)
                .where(SimilarEntry.posting_id == posting_id)
                .order_by(SimilarEntry.score.desc(), SimilarEntry.similar_id)
            ).all()
            valid = [(entry, other) for entry, other in rows if is_listed(other, now)]
            recompute = self._needs_recompute(session, posting, embedded, len(valid), now)
            chosen = [(e, o) for e, o in valid if self._passes(filters, posting, e.score, o)]
            data = [_similar_item(o, e) for e, o in chosen[: filters.limit]]
            # Semantic while any cached entry is still listed (filters may empty the page);
            # when none is (not embedded yet, or all of them left), the fallback.
            semantic = bool(data) or (embedded and bool(valid))
            fallback: list[dict[str, Any]] = []
            if not semantic:
                fallback = self.fallback_for(session, posting, filters, now)
        if recompute:
            with self.db.write() as session:
                queue.enqueue(
                    session,
                    queue.SIMILAR,
                    posting_id,
                    priority=queue.PRIORITY_REFRESH,
                    max_attempts=self.settings.max_attempts,
                )
        computed_at = (
            posting.similar_computed_at.isoformat() if posting.similar_computed_at else None
        )
        if semantic:
            return {
                "posting_id": posting_id,
                "method": "semantic",
                "total": len(data),
                "data": data,
                "message": None,
                "computed_at": computed_at,
                "recompute_queued": recompute,
            }
        message = (
            "Semantic matching in progress; showing postings in the same category or location."
            if not embedded or posting.similar_computed_at is None
            else "No semantically similar postings yet; showing postings in the same category "
            "or location."
        )
        return {
            "posting_id": posting_id,
            "method": "fallback",
            "total": len(fallback),
            "data": fallback,
            "message": message,
            "computed_at": computed_at,
            "recompute_queued": recompute,
        }

    def _passes(
        self, filters: SimilarFilters, posting: Posting, score: float, other: Posting
    ) -> bool:
        if filters.min_score is not None and score < filters.min_score:
            return False
        if filters.exclude_same_company and _same(posting.company, other.company):
            return False
        if filters.remote_only and not other.remote:
            return False
        return not (filters.same_city and not _same(posting.city, other.city))

    def _has_current_embedding(self, session: Session, posting: Posting) -> bool:
        found = session.scalar(
            select(Embedding.content_hash).where(
                Embedding.posting_id == posting.id, Embedding.model == self.model
            )
        )
        return found is not None

    def _needs_recompute(
        self, session: Session, posting: Posting, embedded: bool, valid: int, now: datetime
    ) -> bool:
        if not embedded or not is_listed(posting, now) or valid >= self.settings.min_fresh_results:
            return False
        computed = posting.similar_computed_at
        if computed is not None and now - computed < RECOMPUTE_COOLDOWN:
            return False
        queued = session.scalar(
            select(Task.id).where(
                Task.kind == queue.SIMILAR,
                Task.posting_id == posting.id,
                Task.state.in_((queue.QUEUED, queue.RUNNING)),
            )
        )
        return queued is None

    def fallback_for(
        self,
        session: Session,
        posting: Posting,
        filters: SimilarFilters,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The seed's fallback: same category or same city, listed, newest first."""
        now = now or utcnow()
        related = []
        if posting.category:
            related.append(func.lower(Posting.category) == posting.category.lower())
        if posting.city:
            related.append(func.lower(Posting.city) == posting.city.lower())
        if not related:
            return []
        query = (
            select(Posting)
            .where(
                or_(*related),
                Posting.id != posting.id,
                Posting.status == "active",
                Posting.is_deleted.is_(False),
                or_(Posting.expires_at.is_(None), Posting.expires_at > now),
            )
            .order_by(Posting.created_at.desc(), Posting.id)
            .limit(min(filters.limit, self.settings.fallback_limit) * 3)
        )
        items = [
            o
            for o in session.scalars(query)
            if self._passes(
                SimilarFilters(
                    exclude_same_company=filters.exclude_same_company,
                    remote_only=filters.remote_only,
                    same_city=filters.same_city,
                ),
                posting,
                0.0,
                o,
            )
        ]
        return [
            _similar_item(o, None)
            for o in items[: min(filters.limit, self.settings.fallback_limit)]
        ]

    # --- operations ------------------------------------------------------------------------

    def backfill(self, *, dry_run: bool = False, chunk: int = 1000) -> Iterator[int]:
        """Queue every listed posting without a current vector; yields running counts."""
        with self.db.read() as session:
            missing = list(session.scalars(self._missing_embeddings_query()))
        done = 0
        for start in range(0, len(missing), chunk):
            part = missing[start : start + chunk]
            if not dry_run:
                with self.db.write() as session:
                    queue.enqueue_many(
                        session,
                        queue.EMBED,
                        part,
                        priority=queue.PRIORITY_BACKFILL,
                        max_attempts=self.settings.max_attempts,
                    )
            done += len(part)
            yield done
        if not missing:
            yield 0

    def count_missing_embeddings(self) -> int:
        with self.db.read() as session:
            query = self._missing_embeddings_query().subquery()
            return int(session.scalar(select(func.count()).select_from(query)) or 0)

    def _missing_embeddings_query(self) -> Any:
        current = and_(
            Embedding.posting_id == Posting.id,
            Embedding.model == self.model,
            Embedding.content_hash == Posting.content_hash,
        )
        return (
            select(Posting.id)
            .outerjoin(Embedding, current)
            .where(
                Posting.status == "active",
                Posting.is_deleted.is_(False),
                Embedding.posting_id.is_(None),
            )
            .order_by(Posting.created_at)
        )

    def status(self) -> dict[str, Any]:
        now = utcnow()
        with self.db.read() as session:
            by_status: dict[str, int] = {
                status: count
                for status, count in session.execute(
                    select(Posting.status, func.count())
                    .where(Posting.is_deleted.is_(False))
                    .group_by(Posting.status)
                )
            }
            deleted = session.scalar(select(func.count()).where(Posting.is_deleted.is_(True)))
            embedded = session.scalar(
                select(func.count())
                .select_from(Posting)
                .join(
                    Embedding,
                    and_(
                        Embedding.posting_id == Posting.id,
                        Embedding.model == self.model,
                        Embedding.content_hash == Posting.content_hash,
                    ),
                )
                .where(Posting.status == "active", Posting.is_deleted.is_(False))
            )
            with_lists = session.scalar(
                select(func.count()).where(
                    Posting.status == "active",
                    Posting.is_deleted.is_(False),
                    Posting.similar_computed_at.is_not(None),
                )
            )
            languages = _language_rows(self, session)
            tasks = queue.counts(session)
            oldest = queue.oldest_queued_age_seconds(session)
            workers = [
                {
                    "id": w.id,
                    "state": w.state,
                    "embedder": w.embedder,
                    "heartbeat_age_seconds": round((now - w.heartbeat_at).total_seconds(), 1),
                    "processed": w.processed,
                    "failed": w.failed,
                    "memory_mb": round(w.memory_mb),
                }
                for w in session.scalars(select(Worker).order_by(Worker.started_at.desc()))
            ]
        active = int(by_status.get("active", 0))
        return {
            "embedder": self.settings.embedder,
            "vector_model": self.model,
            "postings": {
                "active": active,
                "closed": int(by_status.get("closed", 0)),
                "draft": int(by_status.get("draft", 0)),
                "deleted": int(deleted or 0),
            },
            "embeddings": {
                "current": int(embedded or 0),
                "missing": active - int(embedded or 0),
                "coverage": round(int(embedded or 0) / active, 4) if active else 1.0,
            },
            "similar_lists": {"computed": int(with_lists or 0)},
            "languages": languages,
            "queue": {"tasks": tasks, "oldest_queued_age_seconds": oldest},
            "workers": workers,
        }


def _language_rows(service: Service, session: Session) -> list[dict[str, Any]]:
    listed = and_(Posting.status == "active", Posting.is_deleted.is_(False))
    current = and_(
        Embedding.posting_id == Posting.id,
        Embedding.model == service.model,
        Embedding.content_hash == Posting.content_hash,
    )
    rows = session.execute(
        select(Posting.language, func.count(), func.count(Embedding.posting_id))
        .outerjoin(Embedding, current)
        .where(listed)
        .group_by(Posting.language)
        .order_by(func.count().desc())
    ).all()
    glossed = settings_glossary(service.settings).languages
    return [
        {
            "language": language,
            "active": int(active),
            "embedded": int(embedded),
            "coverage": round(int(embedded) / int(active), 4) if active else 1.0,
            "glossed": language in glossed,
        }
        for language, active, embedded in rows
    ]


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()


def _similar_item(other: Posting, entry: SimilarEntry | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": other.id,
        "title": other.title,
        "company": other.company,
        "category": other.category,
        "location": {
            "city": other.city,
            "region": other.region,
            "remote": other.remote,
            "hybrid": other.hybrid,
        },
        "experience_level": other.experience_level,
        "salary": {
            "min": other.salary_min,
            "max": other.salary_max,
            "currency": other.salary_currency,
        },
        "created_at": other.created_at.isoformat(),
        "score": None,
        "percentage": None,
        "semantic": None,
        "context": None,
    }
    if entry is not None:
        item.update(
            score=round(entry.score, 4),
            percentage=round(entry.score * 100),
            semantic=round(entry.semantic, 4),
            context=round(entry.context, 4),
        )
    return item
