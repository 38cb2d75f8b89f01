"""What a posting looks like on the wire: the input a board sends (validated) and the output
jobsim answers with (built from the stored row)."""

from __future__ import annotations

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

from jobsim.postings.places import is_remote_place
from jobsim.storage.models import Posting

EXPERIENCE_LEVELS = ("entry", "junior", "mid", "senior", "lead", "executive")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

ExperienceLevel = Literal["entry", "junior", "mid", "senior", "lead", "executive"]
Status = Literal["active", "closed", "draft"]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Requirement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=20, max_length=50_000)
]


# --- input -------------------------------------------------------------------------------------


def without_nul(value: Any) -> Any:
    """`value` with each NUL character of its strings (at any depth) replaced by U+FFFD, the
    replacement character: PostgreSQL cannot store NUL in text (it was a 500 there, stored on
    SQLite), and a listing has no use for one. One character for one, so every length limit
    reads the text as sent."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key: without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent_or_set(description: str | None = None) -> Any:
    """A field that may be left out but not sent as null: its schema is the type alone (not
    nullable, no `"default": null`), and pydantic refuses null with 422. Left out, it reads
    None and is not in `model_fields_set` (writes take only the fields set)."""
    return Field(None, description=description, json_schema_extra=_no_default)


# What pydantic reads as a datetime besides an ISO 8601 string: Unix time, in seconds, or in
# milliseconds beyond +-2e10, from the first day of year 1 up to (not including) year 10000.
UNIX_TIME: dict[str, Any] = {
    "type": "number",
    "minimum": -62_135_596_800_000,
    "exclusiveMaximum": 253_402_300_800_000,
    "description": "Unix time: seconds, or milliseconds beyond +-2e10",
}


def _or_unix_time(schema: dict[str, Any]) -> None:
    schema["anyOf"].insert(1, UNIX_TIME)


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore")

    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    # JSON types as declared: strict, so "yes" or 1 is not a boolean, nor false a number (the
    # importers turn a CSV's words and figures into them first: jobsim.importing.fields).
    remote: bool = Field(False, strict=True)
    hybrid: bool = Field(False, strict=True)

    @model_validator(mode="after")
    def _remote_is_not_a_city(self) -> Location:
        if self.city and is_remote_place(self.city):
            self.city, self.remote = None, True
        return self


class Salary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    min: float | None = Field(None, ge=0, le=1e9, strict=True)
    max: float | None = Field(None, ge=0, le=1e9, strict=True)
    currency: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8)] | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Salary:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("salary.min must not exceed salary.max")
        return self


class PostingFields(BaseModel):
    """Fields shared by create and update; every one optional here. A posting always has a
    title, a description and a status, so those may be left out but never sent as null (the
    client could only mean to clear them, which a posting cannot be); the others take null
    for "none"."""

    model_config = ConfigDict(extra="ignore")

    title: Title = absent_or_set()
    description: Description = absent_or_set()
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    tags: list[ShortText] | None = Field(None, max_length=50)
    requirements: list[Requirement] | None = Field(None, max_length=50)
    location: Location | None = None
    experience_level: ExperienceLevel | None = None
    salary: Salary | None = None
    status: Status = absent_or_set("active when a posting is created without one")
    expires_at: datetime | None = Field(None, json_schema_extra=_or_unix_time)
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return without_nul(data)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class PostingIn(PostingFields):
    """A full posting as a board sends it: title and description are required."""

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    title: Title
    description: Description


class PostingPatch(PostingFields):
    """A partial update: only the fields present change."""


class ListingIn(PostingIn):
    """A listing of another type (jobsim.listing_types) as the writer stores it: the posting
    fields it maps to, plus `details`, the fields only that type has (merged key by key)."""

    details: dict[str, str | None] | None = None


class ListingPatch(PostingPatch):
    details: dict[str, str | None] | None = None


# --- output ------------------------------------------------------------------------------------


class LocationOut(BaseModel):
    city: str | None
    region: str | None
    remote: bool
    hybrid: bool

    @classmethod
    def of(cls, posting: Posting) -> LocationOut:
        return cls(
            city=posting.city, region=posting.region, remote=posting.remote, hybrid=posting.hybrid
        )


class SalaryOut(BaseModel):
    min: float | None
    max: float | None
    currency: str | None

    @classmethod
    def of(cls, posting: Posting) -> SalaryOut:
        return cls(min=posting.salary_min, max=posting.salary_max, currency=posting.salary_currency)


class PostingSummary(BaseModel):
    """The fields a list of postings shows (similar lists, fallback)."""

    id: str
    title: str
    company: str | None
    category: str | None
    location: LocationOut
    experience_level: str | None
    salary: SalaryOut
    created_at: str

    @classmethod
    def of(cls, posting: Posting) -> PostingSummary:
        return PostingSummary(
            id=posting.id,
            title=posting.title,
            company=posting.company,
            category=posting.category,
            location=LocationOut.of(posting),
            experience_level=posting.experience_level,
            salary=SalaryOut.of(posting),
            created_at=posting.created_at.isoformat(),
        )


class PostingOut(PostingSummary):
    """The public shape of one posting."""

    listing_type: str
    description: str
    tags: list[str]
    requirements: list[str]
    status: str
    expires_at: str | None
    language: str
    version: int
    updated_at: str

    @classmethod
    def of(cls, posting: Posting) -> PostingOut:
        return cls(
            **dict(PostingSummary.of(posting)),
            listing_type=posting.listing_type,
            description=posting.description,
            tags=list(posting.tags or []),
            requirements=list(posting.requirements or []),
            status=posting.status,
            expires_at=posting.expires_at.isoformat() if posting.expires_at else None,
            language=posting.language,
            version=posting.version,
            updated_at=posting.updated_at.isoformat(),
        )


class PostingPage(BaseModel):
    items: list[PostingOut]
    total: int
    limit: int
    offset: int
