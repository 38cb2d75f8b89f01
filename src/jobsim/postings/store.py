"""Listing writes and reads, each in its own transaction: what the API and the CLI call.

One store serves one listing type (job postings by default; jobsim.listing_types): it only
sees, changes and lists listings of its type, parses bulk items with the type's schema and
answers in the type's output shape. Bulk upserts and imports validate item by item, so a bad
item is reported with its source and field errors and never blocks the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement

from jobsim import queue
from jobsim.errors import describe_validation_errors
from jobsim.postings.recipe import TextRecipe
from jobsim.postings.schema import PostingIn, PostingOut, PostingPage, PostingPatch
from jobsim.postings.writer import PostingWriter, get_live
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.text import clean_text

IMPORT_CHUNK = 200

# (where it came from, the raw record or None, why it could not be parsed or None)
RawItem = tuple[str, dict[str, Any] | None, str | None]
Out = TypeVar("Out", bound=BaseModel)


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


class ListingStore(Generic[Out]):
    def __init__(
        self,
        db: Database,
        recipe: TextRecipe,
        *,
        listing_type: str,
        present: Callable[[Posting], Out],
        parse: Callable[[dict[str, Any]], PostingIn],
        max_attempts: int = 5,
    ) -> None:
        self.db = db
        self.listing_type = listing_type
        self.present = present
        self.parse = parse
        self.writer = PostingWriter(recipe, max_attempts=max_attempts, listing_type=listing_type)

    # --- writes ----------------------------------------------------------------------------

    def create(self, data: PostingIn, *, trace_id: str | None = None) -> Out:
        with self.db.write() as session:
            return self.present(self.writer.create(session, data, trace_id=trace_id))

    def upsert(
        self, data: PostingIn, *, trace_id: str | None = None
    ) -> tuple[Out, Literal["created", "updated", "unchanged"]]:
        with self.db.write() as session:
            result = self.writer.upsert(session, data, trace_id=trace_id)
            return self.present(result.posting), result.action

    def update(self, posting_id: str, patch: PostingPatch, *, trace_id: str | None = None) -> Out:
        with self.db.write() as session:
            result = self.writer.update(session, posting_id, patch, trace_id=trace_id)
            return self.present(result.posting)

    def close(self, posting_id: str, *, trace_id: str | None = None) -> Out:
        with self.db.write() as session:
            return self.present(self.writer.close(session, posting_id, trace_id=trace_id))

    def delete(self, posting_id: str, *, trace_id: str | None = None) -> None:
        with self.db.write() as session:
            self.writer.delete(session, posting_id, trace_id=trace_id)

    def bulk_upsert(
        self,
        items: Iterable[RawItem],
        *,
        trace_id: str | None = None,
        priority: int = queue.PRIORITY_NEW,
    ) -> BulkReport:
        """Validate and upsert items in chunked transactions."""
        report = BulkReport()
        chunk: list[PostingIn] = []
        for index, item in enumerate(items):
            parsed = _validate(index, item, report, self.parse)
            if parsed is not None:
                chunk.append(parsed)
            if len(chunk) >= IMPORT_CHUNK:
                self._write_chunk(chunk, report, trace_id, priority)
                chunk = []
        if chunk:
            self._write_chunk(chunk, report, trace_id, priority)
        return report

    def _write_chunk(
        self, chunk: list[PostingIn], report: BulkReport, trace_id: str | None, priority: int
    ) -> None:
        with self.db.write() as session:
            for result in self.writer.upsert_many(
                session, chunk, trace_id=trace_id, priority=priority
            ):
                setattr(report, result.action, getattr(report, result.action) + 1)
                report.ids.append(result.posting.id)

    # --- reads -----------------------------------------------------------------------------

    def get(self, posting_id: str) -> Out:
        with self.db.read() as session:
            return self.present(get_live(session, posting_id, listing_type=self.listing_type))

    def get_many(self, posting_ids: Iterable[str]) -> dict[str, Out]:
        """The listings of this type with these ids (deleted ones too), by id."""
        wanted = list(dict.fromkeys(posting_ids))
        if not wanted:
            return {}
        with self.db.read() as session:
            rows = session.scalars(
                select(Posting).where(
                    Posting.id.in_(wanted), Posting.listing_type == self.listing_type
                )
            )
            return {row.id: self.present(row) for row in rows}

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
    ) -> tuple[list[Out], int]:
        """One page of this type's listings, newest first, and how many match in all."""
        conditions: list[ColumnElement[bool]] = [
            Posting.is_deleted.is_(False),
            Posting.listing_type == self.listing_type,
        ]
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
            items = [self.present(p) for p in rows]
        return items, int(total or 0)


class PostingStore(ListingStore[PostingOut]):
    """The store of job postings."""

    def __init__(self, db: Database, recipe: TextRecipe, *, max_attempts: int = 5) -> None:
        super().__init__(
            db,
            recipe,
            listing_type="job",
            present=PostingOut.of,
            parse=PostingIn.model_validate,
            max_attempts=max_attempts,
        )

    def page(self, **query: Any) -> PostingPage:
        items, total = self.list_postings(**query)
        return PostingPage(
            items=items, total=total, limit=query.get("limit", 20), offset=query.get("offset", 0)
        )


def _validate(
    index: int, item: RawItem, report: BulkReport, parse: Callable[[dict[str, Any]], PostingIn]
) -> PostingIn | None:
    source, raw, parse_error = item
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
        return parse(raw)
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


def recent_descriptions(db: Database, limit: int) -> list[tuple[str, str]]:
    """The newest `limit` postings' (id, cleaned description), oldest first: what a
    boilerplate filter (jobsim.boilerplate) is primed with."""
    with db.read() as session:
        rows = session.execute(
            select(Posting.id, Posting.description)
            .order_by(Posting.created_at.desc(), Posting.id.desc())
            .limit(limit)
        ).all()
    return [(posting_id, clean_text(description)) for posting_id, description in reversed(rows)]
