"""Serving similar lists: the cached list filtered to listed postings, the category/location
fallback while a posting is not embedded (or nothing listed is left), and a recompute request
when a list has run thin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jobsim import queue
from jobsim.postings.embedded import is_embedded
from jobsim.postings.listed import is_listed, listed_clause
from jobsim.postings.schema import PostingSummary
from jobsim.postings.writer import get_live
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting, SimilarEntry
from jobsim.storage.types import utcnow

RECOMPUTE_COOLDOWN = timedelta(minutes=5)
IN_PROGRESS = "Semantic matching in progress; showing postings in the same category or location."
NOTHING_SIMILAR = (
    "No semantically similar postings yet; showing postings in the same category or location."
)


@dataclass(frozen=True)
class SimilarFilters:
    limit: int = 10
    min_score: float | None = None
    exclude_same_company: bool = False
    remote_only: bool = False
    same_city: bool = False


class SimilarItem(PostingSummary):
    score: float | None = None
    percentage: int | None = None
    semantic: float | None = None
    context: float | None = None

    @classmethod
    def of_match(cls, other: Posting, entry: SimilarEntry | None) -> SimilarItem:
        item = cls(**dict(PostingSummary.of(other)))
        if entry is not None:
            item.score = round(entry.score, 4)
            item.percentage = round(entry.score * 100)
            item.semantic = round(entry.semantic, 4)
            item.context = round(entry.context, 4)
        return item


class SimilarResponse(BaseModel):
    posting_id: str
    method: Literal["semantic", "fallback"]
    total: int
    data: list[SimilarItem]
    message: str | None
    computed_at: str | None
    recompute_queued: bool


class SimilarReader:
    def __init__(self, settings: Settings, db: Database, model: str) -> None:
        self.settings = settings
        self.db = db
        self.model = model

    def for_posting(
        self, posting_id: str, filters: SimilarFilters = SimilarFilters()
    ) -> SimilarResponse:
        """The cached list, filtered to listed postings, or the category/location fallback."""
        now = utcnow()
        with self.db.read() as session:
            posting = get_live(session, posting_id)
            embedded = is_embedded(session, posting, self.model)
            rows = session.execute(
                select(SimilarEntry, Posting)
                .join(Posting, Posting.id == SimilarEntry.similar_id)
                .where(SimilarEntry.posting_id == posting_id)
                .order_by(SimilarEntry.score.desc(), SimilarEntry.similar_id)
            ).all()
            valid = [(entry, other) for entry, other in rows if is_listed(other, now)]
            recompute = self._needs_recompute(session, posting, embedded, len(valid), now)
            chosen = [(e, o) for e, o in valid if _passes(filters, posting, o, e.score)]
            data = [SimilarItem.of_match(o, e) for e, o in chosen[: filters.limit]]
            # Semantic while any cached entry is still listed (filters may empty the page);
            # when none is (not embedded yet, or all of them left), the fallback.
            semantic = bool(data) or (embedded and bool(valid))
            if not semantic:
                data = self.fallback_for(session, posting, filters, now)
        if recompute:
            with self.db.write() as session:
                queue.enqueue(
                    session,
                    queue.SIMILAR,
                    posting_id,
                    priority=queue.PRIORITY_REFRESH,
                    max_attempts=self.settings.max_attempts,
                )
        computed = posting.similar_computed_at
        message = None
        if not semantic:
            message = IN_PROGRESS if not embedded or computed is None else NOTHING_SIMILAR
        return SimilarResponse(
            posting_id=posting_id,
            method="semantic" if semantic else "fallback",
            total=len(data),
            data=data,
            message=message,
            computed_at=computed.isoformat() if computed else None,
            recompute_queued=recompute,
        )

    def _needs_recompute(
        self, session: Session, posting: Posting, embedded: bool, valid: int, now: datetime
    ) -> bool:
        if not embedded or not is_listed(posting, now) or valid >= self.settings.min_fresh_results:
            return False
        computed = posting.similar_computed_at
        if computed is not None and now - computed < RECOMPUTE_COOLDOWN:
            return False
        return not queue.has_pending(session, queue.SIMILAR, posting.id)

    def fallback_for(
        self,
        session: Session,
        posting: Posting,
        filters: SimilarFilters,
        now: datetime | None = None,
    ) -> list[SimilarItem]:
        """The seed's fallback: same category or same city, listed, newest first."""
        related = []
        if posting.category:
            related.append(func.lower(Posting.category) == posting.category.lower())
        if posting.city:
            related.append(func.lower(Posting.city) == posting.city.lower())
        if not related:
            return []
        limit = min(filters.limit, self.settings.fallback_limit)
        query = (
            select(Posting)
            .where(or_(*related), Posting.id != posting.id, listed_clause(now or utcnow()))
            .order_by(Posting.created_at.desc(), Posting.id)
            .limit(limit * 3)
        )
        unscored = SimilarFilters(
            exclude_same_company=filters.exclude_same_company,
            remote_only=filters.remote_only,
            same_city=filters.same_city,
        )
        items = [o for o in session.scalars(query) if _passes(unscored, posting, o)]
        return [SimilarItem.of_match(o, None) for o in items[:limit]]


def _passes(
    filters: SimilarFilters, posting: Posting, other: Posting, score: float | None = None
) -> bool:
    if filters.min_score is not None and score is not None and score < filters.min_score:
        return False
    if filters.exclude_same_company and _same(posting.company, other.company):
        return False
    if filters.remote_only and not other.remote:
        return False
    return not (filters.same_city and not _same(posting.city, other.city))


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()
