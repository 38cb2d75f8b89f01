"""Posting writes and reads, each in its own transaction: what the API and the CLI call.

Bulk upserts and imports validate item by item, so a bad item is reported with its source and
field errors and never blocks the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement

from jobsim import queue
from jobsim.errors import describe_validation_errors
from jobsim.postings.recipe import TextRecipe
from jobsim.postings.schema import PostingIn, PostingOut, PostingPage, PostingPatch
from jobsim.postings.writer import PostingWriter, get_live
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting

IMPORT_CHUNK = 200

# (where it came from, the raw record or None, why it could not be parsed or None)
RawItem = tuple[str, dict[str, Any] | None, str | None]


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


class PostingStore:
    def __init__(self, db: Database, recipe: TextRecipe, *, max_attempts: int = 5) -> None:
        self.db = db
        self.writer = PostingWriter(recipe, max_attempts=max_attempts)

    # --- writes ----------------------------------------------------------------------------

    def create(self, data: PostingIn, *, trace_id: str | None = None) -> PostingOut:
        with self.db.write() as session:
            return PostingOut.of(self.writer.create(session, data, trace_id=trace_id))

    def upsert(
        self, data: PostingIn, *, trace_id: str | None = None
    ) -> tuple[PostingOut, Literal["created", "updated", "unchanged"]]:
        with self.db.write() as session:
            result = self.writer.upsert(session, data, trace_id=trace_id)
            return PostingOut.of(result.posting), result.action

    def update(
        self, posting_id: str, patch: PostingPatch, *, trace_id: str | None = None
    ) -> PostingOut:
        with self.db.write() as session:
            result = self.writer.update(session, posting_id, patch, trace_id=trace_id)
            return PostingOut.of(result.posting)

    def close(self, posting_id: str, *, trace_id: str | None = None) -> PostingOut:
        with self.db.write() as session:
            return PostingOut.of(self.writer.close(session, posting_id, trace_id=trace_id))

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
            parsed = _validate(index, item, report)
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
            for data in chunk:
                result = self.writer.upsert(session, data, trace_id=trace_id, priority=priority)
                setattr(report, result.action, getattr(report, result.action) + 1)
                report.ids.append(result.posting.id)

    # --- reads -----------------------------------------------------------------------------

    def get(self, posting_id: str) -> PostingOut:
        with self.db.read() as session:
            return PostingOut.of(get_live(session, posting_id))

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
    ) -> PostingPage:
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
            items = [PostingOut.of(p) for p in rows]
        return PostingPage(items=items, total=int(total or 0), limit=limit, offset=offset)


def _validate(index: int, item: RawItem, report: BulkReport) -> PostingIn | None:
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
