"""Postings: validation rules, the embedding text recipe, content hash and lifecycle writes.

Every write enqueues its background work in the same transaction (see jobsim.queue), so a
posting is never stored without the task that embeds it, and a rolled-back write leaves no task.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobsim import queue
from jobsim.errors import NotFound, ValidationFailed
from jobsim.language import detect_language
from jobsim.storage.models import Posting
from jobsim.storage.types import utcnow
from jobsim.text import clean_text, truncate

EXPERIENCE_LEVELS = ("entry", "junior", "mid", "senior", "lead", "executive")
STATUSES = ("active", "closed", "draft")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

ExperienceLevel = Literal["entry", "junior", "mid", "senior", "lead", "executive"]
Status = Literal["active", "closed", "draft"]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Requirement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


_REMOTE_PLACES = frozenset(
    {
        "remote",
        "fullyremote",
        "remoteonly",
        "anywhere",
        "homeoffice",
        "workfromhome",
        "zdalnie",
        "pracazdalna",
    }
)


def is_remote_place(text: str) -> bool:
    """Does a city or location string mean "no place", i.e. a remote job ("Remote", "zdalnie")?"""
    return re.sub(r"[\W_]+", "", text).casefold() in _REMOTE_PLACES


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore")

    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    remote: bool = False
    hybrid: bool = False

    @model_validator(mode="after")
    def _remote_is_not_a_city(self) -> Location:
        if self.city and is_remote_place(self.city):
            self.city, self.remote = None, True
        return self


class Salary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    min: float | None = Field(None, ge=0, le=1e9)
    max: float | None = Field(None, ge=0, le=1e9)
    currency: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)] | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Salary:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("salary.min must not exceed salary.max")
        return self


class PostingFields(BaseModel):
    """Fields shared by create and update; every one optional here."""

    model_config = ConfigDict(extra="ignore")

    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
        | None
    ) = None
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=50_000)]
        | None
    ) = None
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    tags: list[ShortText] | None = Field(None, max_length=50)
    requirements: list[Requirement] | None = Field(None, max_length=50)
    location: Location | None = None
    experience_level: ExperienceLevel | None = None
    salary: Salary | None = None
    status: Status | None = None
    expires_at: datetime | None = None
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None
    listing_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class PostingIn(PostingFields):
    """A full posting as a board sends it: title and description are required."""

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=20, max_length=50_000)
    ]


class PostingPatch(PostingFields):
    """A partial update: only the fields present change."""


# --- the embedding text ----------------------------------------------------------------------


@dataclass(frozen=True)
class TextRecipe:
    """Which fields enter the embedded text, in what order, and how long it may get."""

    fields: tuple[str, ...] = ("title", "category", "tags", "requirements", "description")
    title_repeat: int = 1
    max_chars: int = 700

    def fingerprint(self) -> str:
        """Short stable id of this recipe, part of the vector model name when not the default."""
        spec = f"{','.join(self.fields)}|{self.title_repeat}|{self.max_chars}"
        return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:8]

    def build(self, posting: Posting) -> str:
        parts: list[str] = []
        for field in self.fields:
            parts.extend(self._part(field, posting))
        return truncate("\n".join(part for part in parts if part), self.max_chars)

    def _part(self, field: str, posting: Posting) -> list[str]:
        if field == "title":
            return [clean_text(posting.title)] * max(self.title_repeat, 1)
        if field == "category" and posting.category:
            return [f"Category: {clean_text(posting.category)}"]
        if field == "tags" and posting.tags:
            return ["Skills: " + ", ".join(clean_text(tag) for tag in posting.tags)]
        if field == "requirements" and posting.requirements:
            return ["Requirements: " + ". ".join(clean_text(r) for r in posting.requirements)]
        if field == "description":
            return [clean_text(posting.description)]
        if field == "company" and posting.company:
            return [f"Company: {clean_text(posting.company)}"]
        return []


DEFAULT_RECIPE = TextRecipe()
RECIPE_FIELDS = ("title", "category", "tags", "requirements", "description", "company")


def recipe_from(fields: str, title_repeat: int = 1, max_chars: int = 700) -> TextRecipe:
    """Build a recipe from a comma-separated field list, rejecting unknown field names."""
    names = tuple(name.strip() for name in fields.split(",") if name.strip())
    unknown = [name for name in names if name not in RECIPE_FIELDS]
    if unknown or not names:
        raise ValidationFailed(
            f"text fields must be a comma-separated subset of {', '.join(RECIPE_FIELDS)}"
        )
    return TextRecipe(names, title_repeat, max_chars)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


TITLE_MAX_CHARS = 300


@dataclass(frozen=True)
class PostingInputs:
    full_text: str
    title_text: str
    language: str = "unknown"

    @property
    def content_hash(self) -> str:
        # The language is hashed too: it decides how the texts are glossed (jobsim.glossary).
        digest = hashlib.sha256(self.full_text.encode("utf-8"))
        for part in (self.title_text, self.language):
            digest.update(b"\x1f")
            digest.update(part.encode("utf-8"))
        return digest.hexdigest()


def posting_inputs(recipe: TextRecipe, posting: Posting) -> PostingInputs:
    """The texts every view reads; their hash decides whether a posting must be re-embedded."""
    title = clean_text(posting.title)
    if posting.tags:
        title += "\nSkills: " + ", ".join(clean_text(tag) for tag in posting.tags)
    return PostingInputs(
        recipe.build(posting), truncate(title, TITLE_MAX_CHARS), posting.language or "unknown"
    )


# --- lifecycle -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    posting: Posting
    action: Literal["created", "updated", "unchanged"]
    reembed: bool


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def is_listed(posting: Posting, now: datetime | None = None) -> bool:
    """May this posting appear in similar lists right now?"""
    now = now or utcnow()
    return (
        posting.status == "active"
        and not posting.is_deleted
        and (posting.expires_at is None or posting.expires_at > now)
    )


def _assign(posting: Posting, fields: PostingFields) -> None:
    data = fields.model_dump(exclude_unset=True, exclude={"id"})
    location = data.pop("location", None)
    salary = data.pop("salary", None)
    for name, value in data.items():
        if value is None and name in ("title", "description", "status", "listing_type"):
            raise ValidationFailed(f"{name} cannot be null")
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


# Fields the context bonus reads: changing one moves this posting's scores in every list.
_CONTEXT_FIELDS = ("category", "city", "remote", "experience_level")


def _snapshot(posting: Posting) -> dict[str, Any]:
    return {
        name: getattr(posting, name)
        for name in (
            *_CONTEXT_FIELDS,
            "company",
            "status",
            "is_deleted",
            "expires_at",
            "title",
            "description",
            "tags",
            "requirements",
            "region",
            "hybrid",
            "salary_min",
            "salary_max",
            "salary_currency",
            "language",
            "listing_type",
        )
    }


def new_posting(data: PostingIn, recipe: TextRecipe) -> Posting:
    """A validated posting as a (not yet stored) row, language detected and hash computed."""
    now = utcnow()
    posting = Posting(
        id=data.id or new_id(),
        created_at=now,
        updated_at=now,
        version=1,
        status="active",
        is_deleted=False,
        language="unknown",
        tags=[],
        requirements=[],
        extra={},
        listing_type="job",
        remote=False,
        hybrid=False,
    )
    _assign(posting, data)
    _detect_language_unless_given(posting, data)
    posting.content_hash = posting_inputs(recipe, posting).content_hash
    return posting


class PostingWriter:
    """Applies posting writes in a caller's transaction and enqueues what they imply."""

    def __init__(self, recipe: TextRecipe = DEFAULT_RECIPE, max_attempts: int = 5) -> None:
        self.recipe = recipe
        self.max_attempts = max_attempts

    def create(self, session: Session, data: PostingIn, *, trace_id: str | None = None) -> Posting:
        if data.id is not None and session.get(Posting, data.id) is not None:
            raise ValidationFailed(f"a posting with id {data.id!r} already exists")
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
        return self._change(session, existing, data, trace_id=trace_id, revive=True)

    def update(
        self, session: Session, posting_id: str, patch: PostingPatch, *, trace_id: str | None = None
    ) -> WriteResult:
        posting = self.get_live(session, posting_id, lock=True)
        return self._change(session, posting, patch, trace_id=trace_id, revive=False)

    def close(self, session: Session, posting_id: str, *, trace_id: str | None = None) -> Posting:
        return self.update(
            session, posting_id, PostingPatch(status="closed"), trace_id=trace_id
        ).posting

    def delete(self, session: Session, posting_id: str, *, trace_id: str | None = None) -> Posting:
        posting = self.get_live(session, posting_id, lock=True)
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

    @staticmethod
    def get_live(session: Session, posting_id: str, *, lock: bool = False) -> Posting:
        query = select(Posting).where(Posting.id == posting_id, Posting.is_deleted.is_(False))
        if lock and session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        posting = session.scalar(query)
        if posting is None:
            raise NotFound(f"posting {posting_id!r} not found")
        return posting

    def _insert(
        self, session: Session, data: PostingIn, *, trace_id: str | None, priority: int
    ) -> WriteResult:
        posting = new_posting(data, self.recipe)
        session.add(posting)
        session.flush()
        if posting.status == "active":
            self._enqueue(session, queue.EMBED, posting.id, priority, trace_id)
        return WriteResult(posting, "created", posting.status == "active")

    def _change(
        self,
        session: Session,
        posting: Posting,
        fields: PostingFields,
        *,
        trace_id: str | None,
        revive: bool,
    ) -> WriteResult:
        before = _snapshot(posting)
        was_deleted = posting.is_deleted
        was_listed = is_listed(posting)
        _assign(posting, fields)
        if posting.title != before["title"] or posting.description != before["description"]:
            _detect_language_unless_given(posting, fields)
        if revive:
            posting.is_deleted = False
        new_hash = posting_inputs(self.recipe, posting).content_hash
        text_changed = new_hash != posting.content_hash
        if _snapshot(posting) == before and not text_changed and was_deleted == posting.is_deleted:
            return WriteResult(posting, "unchanged", False)
        posting.content_hash = new_hash
        posting.version += 1
        posting.updated_at = utcnow()
        reembed = text_changed and posting.status == "active"
        became_active = posting.status == "active" and (was_deleted or before["status"] != "active")
        if reembed or became_active:
            # A draft or deleted posting may never have been embedded; the worker skips the model
            # when a vector for this exact text already exists.
            self._enqueue(session, queue.EMBED, posting.id, queue.PRIORITY_NEW, trace_id)
        listing_changed = was_listed != is_listed(posting)
        context_changed = any(before[name] != getattr(posting, name) for name in _CONTEXT_FIELDS)
        if not reembed and (listing_changed or (context_changed and was_listed)):
            # It left or came back, or its context part moved; a re-embed refreshes lists itself.
            self._enqueue(session, queue.SIMILAR, posting.id, queue.PRIORITY_REFRESH, trace_id)
        return WriteResult(posting, "updated", reembed)


def _detect_language_unless_given(posting: Posting, fields: PostingFields) -> None:
    if "language" not in fields.model_fields_set or not fields.language:
        posting.language = detect_language(posting.title, posting.description)


def posting_to_dict(posting: Posting) -> dict[str, Any]:
    """The public JSON shape of a posting."""
    return {
        "id": posting.id,
        "listing_type": posting.listing_type,
        "title": posting.title,
        "description": posting.description,
        "company": posting.company,
        "category": posting.category,
        "tags": list(posting.tags or []),
        "requirements": list(posting.requirements or []),
        "location": {
            "city": posting.city,
            "region": posting.region,
            "remote": posting.remote,
            "hybrid": posting.hybrid,
        },
        "experience_level": posting.experience_level,
        "salary": {
            "min": posting.salary_min,
            "max": posting.salary_max,
            "currency": posting.salary_currency,
        },
        "status": posting.status,
        "expires_at": posting.expires_at.isoformat() if posting.expires_at else None,
        "language": posting.language,
        "version": posting.version,
        "created_at": posting.created_at.isoformat(),
        "updated_at": posting.updated_at.isoformat(),
    }


_FIELD_LOC = re.compile(r"[^A-Za-z0-9_.\[\]]")


def describe_validation_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}], never echoing the rejected input."""
    described = []
    for error in errors:
        field = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        described.append(
            {
                "field": _FIELD_LOC.sub("", field) or "body",
                "message": str(error.get("msg", "invalid value")),
            }
        )
    return described
