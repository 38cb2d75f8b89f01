"""The texts a posting is embedded from, and the hash that says when they changed.

`TextRecipe` builds the full text (title, category, skills, requirements, description, cut to a
budget); `posting_inputs` adds the title text and the language. Their `content_hash` is the one
definition of "the embedded text changed": the API stores it on every write, and the worker
stores a vector only when the posting's hash still matches the text it embedded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from jobsim.errors import ValidationFailed
from jobsim.storage.models import Posting
from jobsim.text import clean_text, truncate

RECIPE_FIELDS = ("title", "category", "tags", "requirements", "description", "company", "address")
TITLE_MAX_CHARS = 300


@dataclass(frozen=True)
class TextRecipe:
    """Which fields enter the embedded text, in what order, and how long it may get.

    `by_type` holds the recipes of other listing types (jobsim.listing_types), which have their
    own fields; a posting of a type not named there is read with this recipe.
    """

    fields: tuple[str, ...] = ("title", "category", "description", "requirements", "tags")
    title_repeat: int = 1
    max_chars: int = 300
    # Weigh the full view by the share of the description that is not boilerplate
    # (jobsim.boilerplate, jobsim.vectorizer.view_weights).
    weigh_boilerplate: bool = True
    by_type: tuple[tuple[str, TextRecipe], ...] = field(default=(), compare=False)

    def for_type(self, listing_type: str) -> TextRecipe:
        return next((recipe for name, recipe in self.by_type if name == listing_type), self)

    def fingerprint(self) -> str:
        """Short stable id of this recipe, part of the vector model name when not the default."""
        spec = f"{','.join(self.fields)}|{self.title_repeat}|{self.max_chars}"
        if self.weigh_boilerplate:
            spec += "|boilerplate"
        return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:8]

    def build(self, posting: Posting) -> str:
        parts: list[str] = []
        for name in self.fields:
            parts.extend(self._part(name, posting))
        return truncate("\n".join(part for part in parts if part), self.max_chars)

    def _part(self, name: str, posting: Posting) -> list[str]:
        if name == "title":
            return [clean_text(posting.title)] * max(self.title_repeat, 1)
        if name == "category" and posting.category:
            return [f"Category: {clean_text(posting.category)}"]
        if name == "tags" and posting.tags:
            return ["Skills: " + ", ".join(clean_text(tag) for tag in posting.tags)]
        if name == "requirements" and posting.requirements:
            return ["Requirements: " + ". ".join(clean_text(r) for r in posting.requirements)]
        if name == "description":
            return [clean_text(posting.description)]
        if name == "company" and posting.company:
            return [f"Company: {clean_text(posting.company)}"]
        if name == "address":
            street = (posting.details or {}).get("street")
            place = [clean_text(p) for p in (street, posting.city, posting.region) if p]
            return [f"Address: {', '.join(place)}"] if place else []
        return []


DEFAULT_RECIPE = TextRecipe()


def recipe_from(
    fields: str, title_repeat: int = 1, max_chars: int = 300, weigh_boilerplate: bool = True
) -> TextRecipe:
    """Build a recipe from a comma-separated field list, rejecting unknown field names."""
    names = tuple(name.strip() for name in fields.split(",") if name.strip())
    unknown = [name for name in names if name not in RECIPE_FIELDS]
    if unknown or not names:
        raise ValidationFailed(
            f"text fields must be a comma-separated subset of {', '.join(RECIPE_FIELDS)}"
        )
    return TextRecipe(names, title_repeat, max_chars, weigh_boilerplate)


@dataclass(frozen=True)
class PostingInputs:
    """Everything the views of a posting's vector read.

    `description` (the cleaned description) is set only under a recipe that weighs
    boilerplate, and `key` (the posting id) tells the boilerplate filter whose it is.
    """

    full_text: str
    title_text: str
    language: str = "unknown"
    description: str | None = None
    key: str = ""

    @property
    def content_hash(self) -> str:
        # The language is hashed too: it decides how the texts are glossed (jobsim.glossary).
        # So is the whole description where it sets the view weights: text past the cut counts.
        digest = hashlib.sha256(self.full_text.encode("utf-8"))
        parts: tuple[str, ...] = (self.title_text, self.language)
        if self.description is not None:
            parts += (self.description,)
        for part in parts:
            digest.update(b"\x1f")
            digest.update(part.encode("utf-8"))
        return digest.hexdigest()


def posting_inputs(recipe: TextRecipe, posting: Posting) -> PostingInputs:
    """The texts every view reads; their hash decides whether a posting must be re-embedded."""
    title = clean_text(posting.title)
    if posting.tags:
        title += "\nSkills: " + ", ".join(clean_text(tag) for tag in posting.tags)
    own = recipe.for_type(posting.listing_type)
    return PostingInputs(
        own.build(posting),
        truncate(title, TITLE_MAX_CHARS),
        posting.language or "unknown",
        clean_text(posting.description) if own.weigh_boilerplate else None,
        posting.id,
    )


def content_hash(recipe: TextRecipe, posting: Posting) -> str:
    """The hash of everything a posting is embedded from, under `recipe`."""
    return posting_inputs(recipe, posting).content_hash
