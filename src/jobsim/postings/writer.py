"""Posting writes in a caller's transaction, and the background work each one implies.

Every write enqueues its task in the same transaction (see jobsim.queue), so a posting is never
stored without the task that embeds it, and a rolled-back write leaves no task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobsim import queue
from jobsim.errors import Conflict, NotFound, ValidationFailed
from jobsim.language import detect_language
from jobsim.postings.listed import ACTIVE, is_listed
from jobsim.postings.recipe import DEFAULT_RECIPE, TextRecipe, content_hash
from jobsim.postings.schema import PostingFields, PostingIn, PostingPatch
from jobsim.storage.dialect import is_postgresql
from jobsim.storage.models import Posting
from jobsim.storage.types import utcnow

# Fields the context bonus reads: changing one moves this posting's scores in every list.
_CONTEXT_FIELDS = ("category", "city", "region", "remote", "experience_level")
_COMPARED_FIELDS = (
    *_CONTEXT_FIELDS,
    "company",
    "status",
    "is_deleted",
    "expires_at",
    "title",
    "description",
    "tags",
    "requirements",
    "hybrid",
    "salary_min",
    "salary_max",
    "salary_currency",
    "language",
    "details",
)


@dataclass(frozen=True)
class WriteResult:
    posting: Posting
    action: Literal["created", "updated", "unchanged"]
    reembed: bool


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def get_live(
    session: Session, posting_id: str, *, lock: bool = False, listing_type: str | None = None
) -> Posting:
    """The posting with this id unless deleted (or of another listing type than the one given);
    NotFound otherwise."""
    query = select(Posting).where(Posting.id == posting_id, Posting.is_deleted.is_(False))
    if listing_type is not None:
        query = query.where(Posting.listing_type == listing_type)
    if lock and is_postgresql(session):
        query = query.with_for_update()
    posting = session.scalar(query)
    if posting is None:
        what = "posting" if listing_type in (None, "job") else listing_type
        raise NotFound(f"{what} {posting_id!r} not found")
    return posting


def new_posting(data: PostingIn, recipe: TextRecipe, listing_type: str = "job") -> Posting:
    """A validated posting as a (not yet stored) row, language detected and hash computed."""
    now = utcnow()
    posting = Posting(
        id=data.id or new_id(),
        created_at=now,
        updated_at=now,
        version=1,
        status=ACTIVE,
        is_deleted=False,
        language="unknown",
        tags=[],
        requirements=[],
        listing_type=listing_type,
        remote=False,
        hybrid=False,
    )
    _assign(posting, data)
    _detect_language_unless_given(posting, data)
    posting.content_hash = content_hash(recipe, posting)
    return posting


class PostingWriter:
    """Applies posting writes in a caller's transaction and enqueues what they imply."""

    def __init__(
        self, recipe: TextRecipe = DEFAULT_RECIPE, max_attempts: int = 5, listing_type: str = "job"
    ) -> None:
        self.recipe = recipe
        self.max_attempts = max_attempts
        self.listing_type = listing_type

    def create(self, session: Session, data: PostingIn, *, trace_id: str | None = None) -> Posting:
        if data.id is not None and session.get(Posting, data.id) is not None:
            raise Conflict(f"a listing with id {data.id!r} already exists")
        return self.upsert(session, data, trace_id=trace_id).posting

    def upsert(
        self,
        session: Session,
        data: PostingIn,
        *,
        trace_id: str | None = None,
        priority: int = queue.PRIORITY_NEW,
    ) -> WriteResult:
        """Create the posting, or replace the fields given on the existing one."""
        existing = session.get(Posting, data.id) if data.id is not None else None
        if existing is None:
            return self._insert(session, data, trace_id=trace_id, priority=priority)
        self._check_type(existing)
        return self._change(session, existing, data, trace_id=trace_id, revive=True)

    def upsert_many(
        self,
        session: Session,
        items: Sequence[PostingIn],
        *,
        trace_id: str | None = None,
        priority: int = queue.PRIORITY_NEW,
    ) -> list[WriteResult]:
        """`upsert` of each item in turn, with one read of the rows that exist, one insert of
        the new ones and one enqueue of their embed tasks."""
        ids = [data.id for data in items if data.id is not None]
        known = {p.id: p for p in session.scalars(select(Posting).where(Posting.id.in_(ids)))}
        results: list[WriteResult] = []
        for data in items:
            existing = known.get(data.id) if data.id is not None else None
            if existing is None:
                posting = new_posting(data, self.recipe, self.listing_type)
                session.add(posting)
                known[posting.id] = posting
                results.append(WriteResult(posting, "created", posting.status == ACTIVE))
                continue
            self._check_type(existing)
            session.flush()  # an item repeated in `items` changes the row inserted before
            results.append(self._change(session, existing, data, trace_id=trace_id, revive=True))
        session.flush()
        queue.enqueue_many(
            session,
            queue.EMBED,
            [r.posting.id for r in results if r.action == "created" and r.reembed],
            priority=priority,
            max_attempts=self.max_attempts,
            trace_id=trace_id,
        )
        return results

    def _check_type(self, existing: Posting) -> None:
        if existing.listing_type != self.listing_type:
            raise Conflict(f"id {existing.id!r} belongs to a {existing.listing_type} listing")

    def update(
        self, session: Session, posting_id: str, patch: PostingPatch, *, trace_id: str | None = None
    ) -> WriteResult:
        posting = get_live(session, posting_id, lock=True, listing_type=self.listing_type)
        return self._change(session, posting, patch, trace_id=trace_id, revive=False)

    def close(self, session: Session, posting_id: str, *, trace_id: str | None = None) -> Posting:
        return self.update(
            session, posting_id, PostingPatch(status="closed"), trace_id=trace_id
        ).posting

    def delete(self, session: Session, posting_id: str, *, trace_id: str | None = None) -> Posting:
        posting = get_live(session, posting_id, lock=True, listing_type=self.listing_type)
        posting.is_deleted = True
        posting.version += 1
        posting.updated_at = utcnow()
        queue.cancel_queued(session, queue.EMBED, posting.id)
        self._enqueue(session, queue.SIMILAR, posting.id, queue.PRIORITY_NEW, trace_id)
        return posting

    def _enqueue(
        self, session: Session, kind: str, posting_id: str, priority: int, trace_id: str | None
    ) -> None:
        queue.enqueue(
            session,
            kind,
            posting_id,
            priority=priority,
            max_attempts=self.max_attempts,
            trace_id=trace_id,
        )

    def _insert(
        self, session: Session, data: PostingIn, *, trace_id: str | None, priority: int
    ) -> WriteResult:
        posting = new_posting(data, self.recipe, self.listing_type)
        session.add(posting)
        session.flush()
        if posting.status == ACTIVE:
            self._enqueue(session, queue.EMBED, posting.id, priority, trace_id)
        return WriteResult(posting, "created", posting.status == ACTIVE)

    def _change(
        self,
        session: Session,
        posting: Posting,
        fields: PostingFields,
        *,
        trace_id: str | None,
        revive: bool,
    ) -> WriteResult:
        now = utcnow()
        before = _snapshot(posting)
        was_listed = is_listed(posting, now)
        _assign(posting, fields)
        if posting.title != before["title"] or posting.description != before["description"]:
            _detect_language_unless_given(posting, fields)
        if revive:
            posting.is_deleted = False
        new_hash = content_hash(self.recipe, posting)
        text_changed = new_hash != posting.content_hash
        if _snapshot(posting) == before and not text_changed:
            return WriteResult(posting, "unchanged", False)
        posting.content_hash = new_hash
        posting.version += 1
        posting.updated_at = now
        reembed = text_changed and posting.status == ACTIVE
        became_active = posting.status == ACTIVE and (
            before["is_deleted"] or before["status"] != ACTIVE
        )
        if reembed or became_active:
            # A draft or deleted posting may never have been embedded; the worker skips the model
            # when a vector for this exact text already exists.
            self._enqueue(session, queue.EMBED, posting.id, queue.PRIORITY_NEW, trace_id)
        listing_changed = was_listed != is_listed(posting, now)
        context_changed = any(before[name] != getattr(posting, name) for name in _CONTEXT_FIELDS)
        if not reembed and (listing_changed or (context_changed and was_listed)):
            # It left or came back, or its context part moved; a re-embed refreshes lists itself.
            self._enqueue(session, queue.SIMILAR, posting.id, queue.PRIORITY_REFRESH, trace_id)
        return WriteResult(posting, "updated", reembed)


def _assign(posting: Posting, fields: PostingFields) -> None:
    data = fields.model_dump(exclude_unset=True, exclude={"id"})
    location = data.pop("location", None)
    salary = data.pop("salary", None)
    for name, value in data.items():
        if value is None and name in ("title", "description", "status"):
            raise ValidationFailed(f"{name} cannot be null")
        if name == "details":
            # Merged key by key (a patch sends some); a null value removes its key.
            merged = {**(posting.details or {}), **(value or {})}
            value = {key: v for key, v in merged.items() if v is not None} or None
        if name in ("tags", "requirements") and value is None:
            value = []
        if name == "language" and value is None:
            value = "unknown"
        setattr(posting, name, value)
    if "location" in fields.model_fields_set:
        loc = location or {}
        posting.city, posting.region = loc.get("city"), loc.get("region")
        posting.remote, posting.hybrid = bool(loc.get("remote")), bool(loc.get("hybrid"))
    if "salary" in fields.model_fields_set:
        sal = salary or {}
        posting.salary_min, posting.salary_max = sal.get("min"), sal.get("max")
        posting.salary_currency = sal.get("currency")
    if (
        posting.salary_min is not None
        and posting.salary_max is not None
        and posting.salary_min > posting.salary_max
    ):
        raise ValidationFailed("salary.min must not exceed salary.max")


def _snapshot(posting: Posting) -> dict[str, Any]:
    return {name: getattr(posting, name) for name in _COMPARED_FIELDS}


def _detect_language_unless_given(posting: Posting, fields: PostingFields) -> None:
    if "language" not in fields.model_fields_set or not fields.language:
        posting.language = detect_language(posting.title, posting.description)
