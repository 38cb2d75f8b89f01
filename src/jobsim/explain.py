"""Why is this a match? An explanation of one similar item, from stored vectors and fields only.

No model call: the parts are read back from what the score was made of.

- **Views.** A stored vector is the concatenation of its views (full text, title, title
  n-grams), each a unit vector scaled by sqrt(weight) (jobsim.vectorizer), so the dot product
  of two vectors is the sum of the dot products of their slices: each slice's product is that
  view's contribution to the semantic part, and the contributions add up to it exactly. Slices
  follow `VectorRecipe.views` in order (full, title, lexical); the lexical slice has
  `views.lexical_dims` dimensions and the semantic views share the rest equally.
- **Context.** The bonus is the sum of an experience, a category and a location part, each
  under the listing type's weights (for job postings at most 0.5 + 0.3 + 0.2 = 1, so its cap
  never cuts). The parts are the index's own (`VectorIndex.context_parts`, their one home).
- **Shared fields.** Skills (tags), requirements and title terms both sides hold, case-folded;
  a free text shares the item's skills and requirements it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobsim.context_bonus import JOB_BONUS, ContextBonus
from jobsim.index_copy import meta_of, vector_from_bytes
from jobsim.lexical import normalise
from jobsim.row_facts import PostingMeta
from jobsim.similarity import (
    FloatArray,
    ScoringConfig,
    VectorIndex,
)
from jobsim.storage.models import Embedding, Posting
from jobsim.vector_recipe import Views

ViewName = Literal["full", "title", "lexical"]
VIEW_ORDER: tuple[ViewName, ...] = ("full", "title", "lexical")  # as jobsim.vectorizer concatenates
_WORD = re.compile(r"\w+", re.UNICODE)


# --- the answer --------------------------------------------------------------------------------


class ViewPart(BaseModel):
    view: ViewName
    weight: float  # the view's share of the mix (its weight over the sum of weights)
    similarity: float  # the cosine of the two postings' views
    contribution: float  # its part of the semantic similarity (the parts add up to it)


class ContextParts(BaseModel):
    # Job postings: same 0.5, one step apart 0.3, two steps 0.1, unknown 0.25; businesses: 0.
    experience_level: float
    category: float  # same category: 0.3 for job postings (jobsim.listing_types)
    # Job postings: same city or both remote 0.2, a remote side or an unknown city 0.1;
    # businesses: same city, else same region.
    location: float


class SameFields(BaseModel):
    category: bool
    city: bool
    region: bool
    experience_level: bool
    remote: bool  # both remote


class SharedFields(BaseModel):
    skills: list[str]
    requirements: list[str]
    title_terms: list[str]


class Explanation(BaseModel):
    """What one similar item's score is made of.

    score = weight_semantic × semantic + weight_context × context (the item's own `semantic`
    and `context` are the values its list was computed with; the ones here are computed now
    from the stored vectors and fields, and equal them unless a posting changed since).
    """

    weight_semantic: float
    weight_context: float
    semantic: float | None  # cosine of the stored vectors: the sum of the views' contributions
    context: float  # the context bonus: the sum of the context parts
    views: list[ViewPart]  # empty when either side has no vector for the current model
    context_parts: ContextParts
    same: SameFields
    shared: SharedFields


# --- what each side brings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side of a match: a posting, or a free text playing the part of one."""

    title: str
    meta: PostingMeta
    vector: FloatArray | None = None
    skills: Sequence[str] = ()
    requirements: Sequence[str] = ()
    text: str | None = None  # a free text: skills and requirements it mentions are shared

    @classmethod
    def of_posting(cls, posting: Posting, vector: FloatArray | None) -> Side:
        return cls(
            title=posting.title,
            meta=meta_of(posting),
            vector=vector,
            skills=tuple(posting.tags or ()),
            requirements=tuple(posting.requirements or ()),
        )


def load_vectors(session: Session, model: str, ids: Iterable[str]) -> dict[str, FloatArray]:
    """The stored vectors of `model` for these postings (those that have one)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Embedding.posting_id, Embedding.vector, Embedding.dims).where(
            Embedding.model == model, Embedding.posting_id.in_(wanted)
        )
    )
    return {posting_id: vector_from_bytes(raw, dims) for posting_id, raw, dims in rows}


# --- the explainer -----------------------------------------------------------------------------


class Explainer:
    """Explains matches under one view mix and one scoring configuration."""

    def __init__(self, views: Views, config: ScoringConfig) -> None:
        self.views = views
        self.config = config

    def explain(self, anchor: Side, item: Side) -> Explanation:
        views = self.view_parts(anchor.vector, item.vector)
        semantic = None
        if views and anchor.vector is not None and item.vector is not None:
            semantic = round(float(np.dot(anchor.vector, item.vector)), 4)
        parts = context_parts(
            anchor.meta, item.meta, self.config.bonus_for(anchor.meta.listing_type)
        )
        return Explanation(
            weight_semantic=self.config.weight_semantic,
            weight_context=self.config.weight_context,
            semantic=semantic,
            context=round(parts.experience_level + parts.category + parts.location, 4),
            views=views,
            context_parts=parts,
            same=same_fields(anchor.meta, item.meta),
            shared=SharedFields(
                skills=_shared(anchor, item.skills, anchor.skills),
                requirements=_shared(anchor, item.requirements, anchor.requirements),
                title_terms=shared_title_terms(anchor.title, item.title),
            ),
        )

    def layout(self, dims: int) -> list[tuple[ViewName, float, slice]]:
        """(view, weight, slice of the stored vector) for a vector of `dims` dimensions; empty
        when `dims` does not fit the mix (a vector of another recipe)."""
        weights: dict[ViewName, float] = {
            "full": self.views.full,
            "title": self.views.title,
            "lexical": self.views.lexical,
        }
        present = [name for name in VIEW_ORDER if weights[name] > 0]
        lexical = self.views.lexical_dims if weights["lexical"] > 0 else 0
        semantic_views = sum(1 for name in present if name != "lexical")
        rest = dims - lexical
        if rest < 0 or (semantic_views and rest % semantic_views) or (not semantic_views and rest):
            return []
        each = rest // semantic_views if semantic_views else 0
        total = sum(weights[name] for name in present)
        layout: list[tuple[ViewName, float, slice]] = []
        start = 0
        for name in present:
            size = lexical if name == "lexical" else each
            layout.append((name, weights[name] / total, slice(start, start + size)))
            start += size
        return layout

    def view_parts(self, a: FloatArray | None, b: FloatArray | None) -> list[ViewPart]:
        if a is None or b is None or a.shape != b.shape:
            return []
        parts = []
        for name, weight, part in self.layout(len(a)):
            x, y = a[part], b[part]
            contribution = float(np.dot(x, y))
            norms = float(np.linalg.norm(x) * np.linalg.norm(y))
            parts.append(
                ViewPart(
                    view=name,
                    weight=round(weight, 4),
                    similarity=round(contribution / norms, 4) if norms > 0 else 0.0,
                    contribution=round(contribution, 4),
                )
            )
        return parts


def context_parts(a: PostingMeta, b: PostingMeta, bonus: ContextBonus = JOB_BONUS) -> ContextParts:
    """The three parts of `a`'s context bonus against `b` (VectorIndex.context_parts)."""
    index = VectorIndex(dims=1, capacity=1)
    index.upsert("b", np.ones(1, dtype=np.float32), b)
    parts = index.context_parts(a, bonus)
    return ContextParts(
        experience_level=_rounded(float(parts["experience_level"][0])),
        category=_rounded(float(parts["category"][0])),
        location=_rounded(float(parts["location"][0])),
    )


def _rounded(value: float) -> float:
    return round(value, 4) + 0.0  # never -0.0


def same_fields(a: PostingMeta, b: PostingMeta) -> SameFields:
    return SameFields(
        category=_same(a.category, b.category),
        city=_same(a.city, b.city),
        region=_same(a.region, b.region),
        experience_level=_same(a.experience_level, b.experience_level),
        remote=a.remote and b.remote,
    )


def title_terms(title: str) -> list[str]:
    """The words of a title, case-folded (Unicode word characters: any script)."""
    return list(dict.fromkeys(_WORD.findall(normalise(title))))


def shared_title_terms(a: str, b: str) -> list[str]:
    """The words two titles share, in the order of the second."""
    mine = set(title_terms(a))
    return [term for term in title_terms(b) if term in mine]


def _shared(anchor: Side, theirs: Sequence[str], mine: Sequence[str]) -> list[str]:
    """`theirs` that the anchor holds too (or, for a free text, mentions), in their order."""
    if anchor.text is not None:
        text = normalise(anchor.text)
        return [
            value
            for value in _unique(theirs)
            if re.search(rf"(?<!\w){re.escape(_key(value))}(?!\w)", text)
        ]
    keys = {_key(value) for value in mine}
    return [value for value in _unique(theirs) if _key(value) in keys]


def _unique(values: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        if _key(value):
            seen.setdefault(_key(value), value)
    return list(seen.values())


def _key(value: str) -> str:
    return " ".join(normalise(value).split())


def _same(a: str | None, b: str | None) -> bool:
    # As the index compares them (jobsim.similarity): stripped and case-folded.
    return bool(a and b) and (a or "").strip().casefold() == (b or "").strip().casefold()
