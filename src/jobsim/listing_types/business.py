"""Business listings: the "Yellow Book" directory of seed 003.

A business is stored as a listing of type `business`: its name is the title, its address the
city and region (and the street, with the phone and website, in the listing's details). It has
its own text recipe (name, category, tags, description) and its own context bonus:
nearby first — the same category counts most, then the same city, else the same region.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jobsim.context_bonus import ContextBonus
from jobsim.listing_types.base import ListingType
from jobsim.postings.recipe import TextRecipe
from jobsim.postings.schema import (
    ID_PATTERN,
    ListingIn,
    ListingPatch,
    Location,
    ShortText,
    Status,
    absent_or_set,
    without_nul,
)
from jobsim.storage.models import Posting

BUSINESS = ListingType(
    name="business",
    label="business",
    bonus=ContextBonus(category=0.5, same_city=0.4, same_region=0.2),
    # The seed embeds the address too; here it enters the score through the context bonus only,
    # so a plumber next door never outranks a bakery in the next town for a bakery.
    text=TextRecipe(fields=("title", "category", "tags", "description")),
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Street = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./-]{3,40}$")]
Website = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://\S{1,300}$")]
_DETAILS = ("phone", "website")
# The shorthands a board (or a CSV) may send, declared beside the canonical shapes: the address
# as one line (the street), the tags as one comma-separated string (at most 50 tags of at most
# 100 characters: the pattern is the rule before trimming, so whatever matches is accepted).
_ONE_LINE_ADDRESS = {"type": "string", "maxLength": 200, "description": "the street, one line"}
_TAGS_STRING = {
    "type": "string",
    "pattern": r"^[^,]{0,100}(,[^,]{0,100}){0,49}$",
    "description": "comma-separated tags",
}


def _or_shorthand(shorthand: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def add(schema: dict[str, Any]) -> None:
        schema["anyOf"].insert(1, shorthand)

    return add


class Address(BaseModel):
    model_config = ConfigDict(extra="ignore")

    street: Street | None = None
    city: Place | None = None
    region: Place | None = None


class BusinessFields(BaseModel):
    """Fields shared by create and update; every one optional here. `address` may be one line
    (the seed sends the street as a string); flat `street`, `city` and `region` keys (a CSV's
    columns) are read as the address too. The name and the status may be left out but not sent
    as null (a business always has them); a null description clears it, like the others."""

    model_config = ConfigDict(extra="ignore")

    name: Name = absent_or_set()
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)] | None
    ) = None
    address: Address | None = Field(None, json_schema_extra=_or_shorthand(_ONE_LINE_ADDRESS))
    phone: Phone | None = None
    website: Website | None = None
    tags: list[ShortText] | None = Field(
        None, max_length=50, json_schema_extra=_or_shorthand(_TAGS_STRING)
    )
    status: Status = absent_or_set("active when a business is created without one")
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _address_and_tags_as_sent(cls, data: Any) -> Any:
        """The seed's and a CSV's shapes as the fields', and NUL characters replaced."""
        if not isinstance(data, dict):
            return data
        data = without_nul(data)  # a new dict
        if isinstance(data.get("address"), str):
            data["address"] = {"street": data["address"]}
        flat = {key: data.pop(key) for key in ("street", "city", "region") if key in data}
        if flat and "address" not in data:
            data["address"] = flat
        if isinstance(data.get("tags"), str):
            data["tags"] = [tag for tag in (t.strip() for t in data["tags"].split(",")) if tag]
        return data


class BusinessIn(BusinessFields):
    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    name: Name


class BusinessPatch(BusinessFields):
    """A partial update: only the fields present change."""


def as_listing(business: BusinessFields) -> ListingPatch:
    """The listing fields a business write sets (as a patch: only those sent)."""
    sent = business.model_fields_set
    fields: dict[str, Any] = {}
    renamed = {"name": "title", "category": "category", "tags": "tags", "status": "status"}
    for ours, theirs in renamed.items():
        if ours in sent:
            fields[theirs] = getattr(business, ours)
    if "description" in sent:
        fields["description"] = business.description or ""
    if "language" in sent:
        fields["language"] = business.language
    details = {name: getattr(business, name) for name in _DETAILS if name in sent}
    if "address" in sent:
        address = business.address or Address()
        fields["location"] = Location(city=address.city, region=address.region)
        details["street"] = address.street
    if details:
        fields["details"] = details
    return ListingPatch.model_construct(**fields)


def as_new_listing(business: BusinessIn) -> ListingIn:
    """A new business as a listing (validated already, so built without validating again: a
    business may have a short description or none, where a job posting may not)."""
    patch = as_listing(business)
    fields = {name: getattr(patch, name) for name in patch.model_fields_set}
    fields.setdefault("description", "")
    return ListingIn.model_construct(id=business.id, **fields)


class BusinessOut(BaseModel):
    """The public shape of one business."""

    id: str
    name: str
    category: str | None
    description: str
    address: Address
    phone: str | None
    website: str | None
    tags: list[str]
    status: str
    language: str
    version: int
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, posting: Posting) -> BusinessOut:
        details = posting.details or {}
        return cls(
            id=posting.id,
            name=posting.title,
            category=posting.category,
            description=posting.description,
            address=Address(street=details.get("street"), city=posting.city, region=posting.region),
            phone=details.get("phone"),
            website=details.get("website"),
            tags=list(posting.tags or []),
            status=posting.status,
            language=posting.language,
            version=posting.version,
            created_at=posting.created_at.isoformat(),
            updated_at=posting.updated_at.isoformat(),
        )
