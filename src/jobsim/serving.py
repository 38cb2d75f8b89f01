"""Serving similar lists: the cached list filtered to listed postings, topped up with fallback
postings when it is short, the category/location fallback while a posting is not embedded (or
nothing listed is left), a recompute request when a list has run thin, the explanation of each
item on request. The seed's response shape for boards that read it is jobsim.seed_format.

The HTTP route reads `SimilarReader.answer`: JSON-ready data, answered for the common case (an
embedded posting whose cached list fills the page, without `explain`) from one query of plain
columns, and otherwise by `for_posting`, the full path, whose pydantic answer it equals
(tests/integration/test_serving_fast_path.py compares the two). Nothing is cached in the
process: every answer reads the database, so an edit, a close, a delete, an expiry or a list
change shows at once in every API process.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from jobsim import queue
from jobsim.explain import Explainer, Explanation, Side, load_vectors
from jobsim.listing_types import scoring_config
from jobsim.postings.embedded import current_vector, is_embedded
from jobsim.postings.listed import is_listed, listed_clause
from jobsim.postings.schema import PostingSummary
from jobsim.postings.writer import get_live
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, ListState, Posting, SimilarEntry
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe

if TYPE_CHECKING:
    from jobsim.storage.async_reads import AsyncReads

RECOMPUTE_COOLDOWN = timedelta(minutes=5)
IN_PROGRESS = "Semantic matching in progress; showing postings in the same category or location."
NOTHING_SIMILAR = (
    "No semantically similar postings yet; showing postings in the same category or location."
)
FILL_POOL = 200  # the newest fallback postings that topping up a short list ranks
Source = Literal["semantic", "fallback"]


@dataclass(frozen=True)
class SimilarFilters:
    limit: int = 10
    min_score: float | None = None
    exclude_same_company: bool = False
    remote_only: bool = False
    same_city: bool = False
    # A semantic list shorter than this is topped up with fallback postings (same category or
    # city); None = settings.fill_short_lists, 0 = never.
    fill: int | None = None
    explain: bool = False


class SimilarItem(PostingSummary):
    score: float | None = None
    percentage: int | None = None
    semantic: float | None = None
    context: float | None = None
    source: Source = Field(
        "semantic", description="semantic: a scored match; fallback: same category or city"
    )
    explanation: Explanation | None = Field(None, description="with ?explain=true")

    @classmethod
    def of_match(cls, other: Posting, entry: SimilarEntry | None) -> SimilarItem:
        """A cached list's entry, or (entry None) a fallback posting, which has no score."""
        if entry is None:
            return cls(**dict(PostingSummary.of(other)), source="fallback")
        return cls.scored(other, entry.score, entry.semantic, entry.context)

    @classmethod
    def scored(cls, other: Posting, score: float, semantic: float, context: float) -> SimilarItem:
        return cls(**dict(PostingSummary.of(other)), **score_parts(score, semantic, context))


def score_parts(score: float, semantic: float, context: float) -> dict[str, Any]:
    """A scored item's score fields, as every answer shows them."""
    return {
        "score": round(score, 4),
        "percentage": round(score * 100),
        "semantic": round(semantic, 4),
        "context": round(context, 4),
        "source": "semantic",
    }


class SimilarResponse(BaseModel):
    posting_id: str
    method: Literal["semantic", "fallback"]
    total: int
    data: list[SimilarItem]
    message: str | None
    computed_at: str | None
    recompute_queued: bool


class SimilarReader:
    def __init__(self, settings: Settings, db: Database, recipe: VectorRecipe) -> None:
        self.settings = settings
        self.db = db
        self.model = recipe.model
        self.explainer = Explainer(recipe.views, scoring_config(settings))
        self._list_query = list_query(self.model)

    def answer(
        self,
        posting_id: str,
        filters: SimilarFilters = SimilarFilters(),
        *,
        listing_type: str = "job",
    ) -> dict[str, Any]:
        """`for_posting`'s answer as JSON-ready data (what `SimilarResponse` dumps to): the
        common case from one query without building models (`cached_page`), every other case
        through `for_posting` (`computed_answer`)."""
        found = self.cached_page(posting_id, filters, listing_type)
        if found is not None:
            return found
        return self.computed_answer(posting_id, filters, listing_type)

    def computed_answer(
        self, posting_id: str, filters: SimilarFilters, listing_type: str
    ) -> dict[str, Any]:
        """`for_posting`'s answer as JSON-ready data, whatever it takes (a top-up, a fallback,
        a recompute): the path `cached_page` leaves."""
        response = self.for_posting(posting_id, filters, listing_type=listing_type)
        return response.model_dump(mode="json", by_alias=True)

    def cached_page(
        self, posting_id: str, filters: SimilarFilters, listing_type: str
    ) -> dict[str, Any] | None:
        """The answer when it is the cached list alone: the posting is embedded, at least
        `min_fresh_results` entries are listed (so no recompute is due), the entries passing
        the filters fill the page at least to the fill size (so no top-up), and nothing is
        explained. None otherwise, and for an unknown posting (the full path answers those).

        One query reads the posting, whether it is embedded, and its listed entries with the
        columns an item shows; for_posting's rules decide the rest (same order, filters,
        rounding; the listed rule as its SQL clause)."""
        if filters.explain:
            return None
        rows = self.db.read_rows(self._list_query, _list_params(posting_id, listing_type))
        return self._page(posting_id, filters, rows)

    async def cached_page_on_loop(
        self, reads: AsyncReads, posting_id: str, filters: SimilarFilters, listing_type: str
    ) -> dict[str, Any] | None:
        """`cached_page`, its query run on the event loop (PostgreSQL: AsyncReads); raises
        ReadUnavailable when it cannot run there."""
        if filters.explain:
            return None
        rows = await reads.rows(self._list_query, _list_params(posting_id, listing_type))
        return self._page(posting_id, filters, rows)

    def _page(
        self, posting_id: str, filters: SimilarFilters, rows: Sequence[Any]
    ) -> dict[str, Any] | None:
        """cached_page's answer from list_query's rows, or None (see cached_page)."""
        if not rows or rows[0].embedding is None:
            return None
        anchor = rows[0]
        listed = [row for row in rows if row.id is not None]
        if len(listed) < self.settings.min_fresh_results:
            return None
        data: list[dict[str, Any]] = []
        for row in listed:
            if len(data) == filters.limit:
                break
            if not passes(filters, anchor.anchor_company, anchor.anchor_city, row, score=row.score):
                continue
            item = summary(row)
            item.update(score_parts(row.score, row.semantic, row.context), explanation=None)
            data.append(item)
        fill = self.settings.fill_short_lists if filters.fill is None else filters.fill
        if not listed or len(data) < min(fill, filters.limit):
            return None
        computed = anchor.similar_computed_at
        return {
            "posting_id": posting_id,
            "method": "semantic",
            "total": len(data),
            "data": data,
            "message": None,
            "computed_at": computed.isoformat() if computed else None,
            "recompute_queued": False,
        }

    def for_posting(
        self,
        posting_id: str,
        filters: SimilarFilters = SimilarFilters(),
        *,
        listing_type: str = "job",
    ) -> SimilarResponse:
        """The cached list, filtered to listed postings and topped up when short, or the
        category/location fallback."""
        now = utcnow()
        with self.db.read() as session:
            posting = get_live(session, posting_id, listing_type=listing_type)
            embedded = is_embedded(session, posting, self.model)
            rows = session.execute(
                select(SimilarEntry, Posting)
                .join(Posting, Posting.id == SimilarEntry.similar_id)
                .where(SimilarEntry.posting_id == posting_id)
                .order_by(SimilarEntry.score.desc(), SimilarEntry.similar_id)
            ).all()
            valid = [(entry, other) for entry, other in rows if is_listed(other, now)]
            computed = session.scalar(
                select(ListState.computed_at).where(ListState.posting_id == posting_id)
            )
            recompute = self._needs_recompute(session, posting, embedded, len(valid), now, computed)
            passing = [(e, o) for e, o in valid if _passes(filters, posting, o, e.score)]
            chosen: list[tuple[Posting, SimilarEntry | None]] = [
                (o, e) for e, o in passing[: filters.limit]
            ]
            # Semantic while any cached entry is still listed (filters may empty the page);
            # when none is (not embedded yet, or all of them left), the fallback.
            semantic = bool(chosen) or (embedded and bool(valid))
            if not semantic:
                chosen = [(o, None) for o in self._fallback(session, posting, filters, now)]
            else:
                chosen += self._top_up(session, posting, filters, now, chosen)
            data = self._items(session, posting, chosen, filters.explain)
        if recompute:
            with self.db.write() as session:
                queue.enqueue(
                    session,
                    queue.SIMILAR,
                    posting_id,
                    priority=queue.PRIORITY_REFRESH,
                    max_attempts=self.settings.max_attempts,
                )
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

    def _top_up(
        self,
        session: Session,
        posting: Posting,
        filters: SimilarFilters,
        now: datetime,
        chosen: Sequence[tuple[Posting, SimilarEntry | None]],
    ) -> list[tuple[Posting, SimilarEntry | None]]:
        """The seed never leaves a page short: fewer semantic matches than the fill size are
        topped up to it with fallback postings (same category or city), marked as such
        (`source: fallback`). Those nearest to the posting come first: every one of them scored
        under the minimum, but not all equally far under it."""
        fill = self.settings.fill_short_lists if filters.fill is None else filters.fill
        missing = min(fill, filters.limit) - len(chosen)
        if missing <= 0:
            return []
        shown = [other.id for other, _ in chosen]
        extra = self._fallback(
            session, posting, replace(filters, limit=missing), now, shown, nearest_first=True
        )
        return [(other, None) for other in extra]

    def _items(
        self,
        session: Session,
        posting: Posting,
        chosen: Sequence[tuple[Posting, SimilarEntry | None]],
        explain: bool,
    ) -> list[SimilarItem]:
        items = [SimilarItem.of_match(other, entry) for other, entry in chosen]
        if explain and items:
            vectors = load_vectors(
                session, self.model, [posting.id, *(other.id for other, _ in chosen)]
            )
            anchor = Side.of_posting(posting, vectors.get(posting.id))
            for item, (other, _) in zip(items, chosen, strict=True):
                item.explanation = self.explainer.explain(
                    anchor, Side.of_posting(other, vectors.get(other.id))
                )
        return items

    def _needs_recompute(
        self,
        session: Session,
        posting: Posting,
        embedded: bool,
        valid: int,
        now: datetime,
        computed: datetime | None,
    ) -> bool:
        if not embedded or not is_listed(posting, now) or valid >= self.settings.min_fresh_results:
            return False
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
        return [
            SimilarItem.of_match(other, None)
            for other in self._fallback(session, posting, filters, now or utcnow())
        ]

    def _fallback(
        self,
        session: Session,
        posting: Posting,
        filters: SimilarFilters,
        now: datetime,
        exclude: Collection[str] = (),
        *,
        nearest_first: bool = False,
    ) -> list[Posting]:
        """Same category or city, listed, passing the filters: newest first, or (when both
        have a vector) the nearest of the newest FILL_POOL first."""
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
            .where(
                or_(*related),
                Posting.listing_type == posting.listing_type,
                Posting.id.not_in([posting.id, *exclude]),
                listed_clause(now),
            )
            .order_by(Posting.created_at.desc(), Posting.id)
            .limit(FILL_POOL if nearest_first else limit * 3)
        )
        unscored = SimilarFilters(
            exclude_same_company=filters.exclude_same_company,
            remote_only=filters.remote_only,
            same_city=filters.same_city,
        )
        found = [o for o in session.scalars(query) if _passes(unscored, posting, o)]
        if nearest_first and found:
            vectors = load_vectors(session, self.model, [posting.id, *(o.id for o in found)])
            mine = vectors.get(posting.id)
            if mine is not None:
                # Stable: those without a vector stay last, newest first.
                found.sort(key=lambda o: -float(mine @ vectors[o.id]) if o.id in vectors else 2.0)
        return found[:limit]


def _passes(
    filters: SimilarFilters, posting: Posting, other: Posting, score: float | None = None
) -> bool:
    return passes(filters, posting.company, posting.city, other, score=score)


class Candidate(Protocol):
    """What the read filters look at in a listed posting (a row of `Posting` or of columns)."""

    @property
    def company(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def remote(self) -> bool: ...


def passes(
    filters: SimilarFilters,
    company: str | None,
    city: str | None,
    other: Candidate,
    *,
    score: float | None = None,
) -> bool:
    """The read filters: may `other` (scored `score`, None unscored) appear in the list of a
    posting of this company and city?"""
    if filters.min_score is not None and score is not None and score < filters.min_score:
        return False
    if filters.exclude_same_company and same_value(company, other.company):
        return False
    if filters.remote_only and not other.remote:
        return False
    return not (filters.same_city and not same_value(city, other.city))


# The columns an item shows, in PostingSummary's order (summary() builds the item from them).
SUMMARY_COLUMNS = (
    Posting.id,
    Posting.title,
    Posting.company,
    Posting.category,
    Posting.city,
    Posting.region,
    Posting.remote,
    Posting.hybrid,
    Posting.experience_level,
    Posting.salary_min,
    Posting.salary_max,
    Posting.salary_currency,
    Posting.created_at,
)


def summary(row: Any) -> dict[str, Any]:
    """PostingSummary.of(posting) as JSON-ready data, from a row of SUMMARY_COLUMNS."""
    return {
        "id": row.id,
        "title": row.title,
        "company": row.company,
        "category": row.category,
        "location": {
            "city": row.city,
            "region": row.region,
            "remote": row.remote,
            "hybrid": row.hybrid,
        },
        "experience_level": row.experience_level,
        "salary": {"min": row.salary_min, "max": row.salary_max, "currency": row.salary_currency},
        "created_at": row.created_at.isoformat(),
    }


def list_query(model: str) -> Select[Any]:
    """A posting (`:posting_id` of `:listing_type`, not deleted) with its cached list, in one
    statement: one row per entry whose posting is listed at `:now` (SUMMARY_COLUMNS and the
    entry's score parts; None for an entry that is not listed), in the list's order, or one
    row of None when the list is empty. Every row also carries the posting's company, city
    and computed time, and `embedding`, which is None unless it is embedded for `model`."""
    anchor = Posting.__table__.alias("anchor")
    now: Any = bindparam("now")
    return (
        select(
            anchor.c.company.label("anchor_company"),
            anchor.c.city.label("anchor_city"),
            ListState.computed_at.label("similar_computed_at"),
            Embedding.posting_id.label("embedding"),
            SimilarEntry.score,
            SimilarEntry.semantic,
            SimilarEntry.context,
            *SUMMARY_COLUMNS,
        )
        .select_from(anchor)
        .outerjoin(Embedding, ClauseAdapter(anchor).traverse(current_vector(model)))
        .outerjoin(ListState, ListState.posting_id == anchor.c.id)
        .outerjoin(SimilarEntry, SimilarEntry.posting_id == anchor.c.id)
        .outerjoin(Posting, and_(Posting.id == SimilarEntry.similar_id, listed_clause(now)))
        .where(
            anchor.c.id == bindparam("posting_id"),
            anchor.c.listing_type == bindparam("listing_type"),
            anchor.c.is_deleted.is_(False),
        )
        .order_by(SimilarEntry.score.desc(), SimilarEntry.similar_id)
    )


def _list_params(posting_id: str, listing_type: str) -> dict[str, Any]:
    return {"posting_id": posting_id, "listing_type": listing_type, "now": utcnow()}


def same_value(a: str | None, b: str | None) -> bool:
    """Two optional names are the same: both given, equal stripped and case-folded."""
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()
