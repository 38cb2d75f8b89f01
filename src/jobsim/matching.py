"""Similar to free text: a CV, a profile or a search phrase, in any language, matched against the
live index of listed postings. Nothing is cached or stored: not the text, not its vector.

**How a text becomes a query vector.** Through the posting recipe's own views, with the same
embedder and glossary (a PostingVectorizer over the service's VectorRecipe), so a text and a
posting meet in one vector space and the scores, the minimum score included, mean the same.
The text plays the part of a posting made of that text alone:

- `full` reads a posting's whole recipe text (title, category, skills, requirements,
  description) cut to `text_max_chars`: for a text, the whole text, cut the same way. (Handing
  it over as both title and description would put it in the full text twice.)
- `title` reads a posting's title and skills cut to 300 characters: for a text, its opening
  300 characters. A search phrase is title-like as it stands; a CV or profile leads with the
  name of the job it is about, as a posting's title does.
- `lexical` reads the character n-grams of that same title text, as for a posting.

The text's language is detected on what the views read, so a Polish CV is glossed into English
like a Polish posting. A long CV is read as far as a posting is (`text_max_chars`): what comes
later does not count.

**Keeping the index live without the write lock.** `LiveIndex` is a read-only copy of the
stored vectors of one model (a jobsim.index_copy.IndexCopy, as a worker keeps one). Every
vector and list write bumps the `sync_seq` counter in its own transaction while holding the
similarity lock, so once a counter value N is visible, every write stamped N or less has
committed. Reading the counter first and the changed rows (`seq > last seen`) after, in the same
snapshot or a later one, therefore misses nothing, and needs no lock; a row committed in
between is read twice, which is harmless. Changes without a new vector (closed, deleted, moved)
come from `updated_at`, looked at once every few seconds; the listed rule and the filters are
checked again on the rows read for the answer, so a posting that left never shows.

**Listing types.** The index knows each posting's `listing_type`, and a match names the type it
searches (`job` for `POST /api/jobs/similar`): another type, such as businesses, plugs in as
another route over the same matcher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobsim.clock import Clock, system_clock
from jobsim.embedders.base import Embedder
from jobsim.errors import ConfigurationError
from jobsim.expansion import expand
from jobsim.explain import Explainer, Side
from jobsim.index_copy import IndexCopy
from jobsim.language import detect_language
from jobsim.listing_types import scoring_config
from jobsim.postings.listed import is_listed
from jobsim.postings.recipe import TITLE_MAX_CHARS, PostingInputs
from jobsim.postings.schema import ExperienceLevel
from jobsim.row_facts import PostingMeta
from jobsim.serving import SimilarItem, same_value
from jobsim.settings import Settings
from jobsim.similarity import (
    FloatArray,
    IndexStorage,
    Match,
    ScoringConfig,
    VectorIndex,
)
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.text import clean_text, truncate
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

JOB = "job"
MIN_TEXT_CHARS = 3
MAX_TEXT_CHARS = 20_000
META_SYNC_SECONDS = 2.0
_EXTRA_CANDIDATES = 10  # read past the limit, for postings that left since the last meta sync
NOTHING_EMBEDDED = "No postings are embedded yet."
NOTHING_CLEARS = "No posting clears the minimum score."

City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# --- the request and the answer ----------------------------------------------------------------


class MatchFilters(BaseModel):
    """Context options (they move the context part of the score, as a posting's fields do) and
    filters (they drop postings), as for a posting's similar list."""

    model_config = ConfigDict(extra="forbid")

    city: City | None = Field(None, description="context: same city scores higher")
    region: City | None = Field(
        None, description="context: same region scores higher (business listings)"
    )
    remote: bool = Field(False, strict=True, description="context: remote postings score higher")
    experience_level: ExperienceLevel | None = Field(None, description="context")
    category: Name | None = Field(None, description="context: same category scores higher")
    remote_only: bool = Field(False, strict=True, description="filter: remote postings only")
    same_city: bool = Field(False, strict=True, description="filter: postings in `city` only")
    exclude_company: Name | None = Field(None, description="filter: not this company's postings")
    min_score: float | None = Field(
        None,
        ge=-1,
        le=1,
        strict=True,  # a number (an integer too); not true/false or "0.5"
        description="filter: raise the minimum score (never below the setting)",
    )

    @model_validator(mode="after")
    def _same_city_needs_a_city(self) -> MatchFilters:
        if self.same_city and not self.city:
            raise ValueError("same_city needs a city")
        return self

    def meta(self, listing_type: str = JOB) -> PostingMeta:
        """The text's side of the context bonus, as a listing of this type."""
        return PostingMeta(
            category=self.category,
            city=self.city,
            region=self.region,
            remote=self.remote,
            experience_level=self.experience_level,
            listing_type=listing_type,
        )

    def passes(self, posting: Posting) -> bool:
        if self.remote_only and not posting.remote:
            return False
        if self.same_city and not same_value(self.city, posting.city):
            return False
        return not (self.exclude_company and same_value(self.exclude_company, posting.company))


def _json_integer(value: object) -> object:
    """A JSON Schema integer: a number without a fraction (10.0 too), but not true/false or
    "10", which pydantic's lax mode takes for numbers (true was a limit of 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=MIN_TEXT_CHARS, max_length=MAX_TEXT_CHARS
        ),
    ] = Field(description="a CV, a profile or a search phrase, in any language")
    filters: MatchFilters = Field(default_factory=MatchFilters)
    limit: Annotated[int, Field(ge=1, le=100), BeforeValidator(_json_integer)] = 10


class MatchResponse(BaseModel):
    method: Literal["semantic"] = "semantic"
    listing_type: str
    language: str = Field(description="the text's detected language (it decides the gloss)")
    model: str = Field(description="the vector model the text was embedded with")
    total: int
    data: list[SimilarItem]
    message: str | None


# --- from a text to the views' inputs ---------------------------------------------------------


def text_inputs(recipe: VectorRecipe, text: str) -> PostingInputs:
    """What each view reads of a free text (see the module docstring)."""
    cleaned = clean_text(text)
    full = truncate(cleaned, recipe.text.max_chars)
    title = truncate(cleaned, TITLE_MAX_CHARS)
    return PostingInputs(full, title, detect_language(full) if full else "unknown")


# --- the live, read-only index -----------------------------------------------------------------


def best_matches(
    index: VectorIndex,
    vector: FloatArray,
    meta: PostingMeta,
    config: ScoringConfig,
    now: datetime,
    *,
    filters: MatchFilters,
    limit: int,
) -> list[Match]:
    """The best listed rows of `meta`'s listing type for a query, after the reader's filters
    (the rule of a list, VectorIndex.allowed, then the filters)."""
    if index.size == 0:
        return []
    (score, semantic, context), rows = index.score_reachable(vector, meta, config)
    allowed = index.allowed(score, meta, config, now, rows=rows)
    kept = index.filtered(
        remote_only=filters.remote_only,
        city=(filters.city or "") if filters.same_city else None,
        exclude_company=filters.exclude_company,
    )
    allowed &= kept if rows is None else kept[rows]
    return index.best(score, semantic, context, allowed, limit, rows)


class LiveIndex:
    """The vectors of one model with their postings' metadata, caught up with the database
    before each query without taking the similarity lock (see the module docstring)."""

    def __init__(
        self,
        model: str,
        dims: int,
        *,
        clock: Clock = system_clock,
        storage: IndexStorage = "float32",
    ) -> None:
        self.clock = clock
        self.copy = IndexCopy(model, dims, VectorIndex(dims, storage=storage))
        self.lock = threading.Lock()
        self._meta_checked_at = 0.0  # time.monotonic() of the last metadata sync

    @property
    def index(self) -> VectorIndex:
        return self.copy.index

    def __len__(self) -> int:
        return len(self.index)

    def refresh(self, session: Session) -> None:
        """Catch up with every committed change; call holding `lock`."""
        loaded, now = self.copy.loaded, self.clock()
        self.copy.catch_up(session, now)
        if not loaded:
            self._meta_checked_at = time.monotonic()
        elif time.monotonic() - self._meta_checked_at >= META_SYNC_SECONDS:
            self.copy.sync_meta(session, now)
            session.expunge_all()
            self._meta_checked_at = time.monotonic()


# --- the matcher -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    match: Match
    vector: FloatArray | None  # for an explanation


class TextMatcher:
    """Free text to similar postings. The embedder and the index are built on the first match
    (the API process has neither before), then kept for the process's life."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        recipe: VectorRecipe,
        *,
        embedder: Embedder | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.db = db
        self.recipe = recipe
        self.clock = clock
        self.config = scoring_config(settings)
        self.explainer = Explainer(recipe.views, self.config)
        self._embedder = embedder
        self._vectorizer: PostingVectorizer | None = None
        self._index: LiveIndex | None = None
        self._build_lock = threading.Lock()
        self._embed_lock = threading.Lock()

    def match(
        self, request: MatchRequest, *, listing_type: str = JOB, explain: bool = False
    ) -> MatchResponse:
        vectorizer, index = self.ready()
        inputs = text_inputs(self.recipe, request.text)
        with self._embed_lock:  # one model call at a time: the model uses every core already
            vector = vectorizer.vectors([inputs])[0]
        filters = request.filters
        meta = filters.meta(listing_type)
        floor = self.settings.match_min_score
        if filters.min_score is not None:
            floor = max(floor, filters.min_score)
        config = replace(self.config, min_score=floor)
        now = self.clock()
        with index.lock:
            with self.db.read() as session:
                index.refresh(session)
            # Compared like a posting: leaning on its nearest stored postings (jobsim.expansion).
            vector = expand(index.index, vector[None, :], [listing_type], self.recipe.expansion)[0]
            matches = best_matches(
                index.index,
                vector,
                meta,
                config,
                now,
                filters=filters,
                limit=request.limit + _EXTRA_CANDIDATES,
            )
            found = [
                _Found(m, index.index.vector(m.posting_id).copy() if explain else None)
                for m in matches
            ]
        with self.db.read() as session:
            rows = {
                p.id: p
                for p in session.scalars(
                    select(Posting).where(Posting.id.in_([f.match.posting_id for f in found]))
                )
            }
            # The listed rule and the filters once more, on the rows themselves.
            kept: list[tuple[_Found, Posting]] = []
            for f in found:
                posting = rows.get(f.match.posting_id)
                if (
                    posting is not None
                    and is_listed(posting, now)
                    and posting.listing_type == listing_type
                    and filters.passes(posting)
                ):
                    kept.append((f, posting))
        data = self._items(kept[: request.limit], inputs, vector, meta, explain)
        message = None
        if not data:
            message = NOTHING_EMBEDDED if len(index) == 0 else NOTHING_CLEARS
        return MatchResponse(
            listing_type=listing_type,
            language=inputs.language,
            model=vectorizer.name,
            total=len(data),
            data=data,
            message=message,
        )

    def _items(
        self,
        kept: Sequence[tuple[_Found, Posting]],
        inputs: PostingInputs,
        vector: FloatArray,
        meta: PostingMeta,
        explain: bool,
    ) -> list[SimilarItem]:
        items = []
        anchor = Side(title=inputs.title_text, meta=meta, vector=vector, text=inputs.full_text)
        for found, posting in kept:
            m = found.match
            item = SimilarItem.scored(posting, m.score, m.semantic, m.context)
            if explain:
                item.explanation = self.explainer.explain(
                    anchor, Side.of_posting(posting, found.vector)
                )
            items.append(item)
        return items

    def ready(self) -> tuple[PostingVectorizer, LiveIndex]:
        """The vectorizer and the index, built on first use (a match calls it)."""
        with self._build_lock:
            if self._vectorizer is None:
                from jobsim.embedders.registry import create_embedder

                embedder = self._embedder or create_embedder(self.recipe.embedder, self.settings)
                vectorizer = PostingVectorizer(embedder, self.recipe)
                if vectorizer.name != self.recipe.model:
                    raise ConfigurationError(
                        f"the embedder makes {vectorizer.name!r} vectors, "
                        f"the postings are served from {self.recipe.model!r}"
                    )
                self._vectorizer = vectorizer
            if self._index is None:
                self._index = LiveIndex(
                    self.recipe.model,
                    self._vectorizer.dims,
                    clock=self.clock,
                    storage=self.config.index_storage,
                )
            return self._vectorizer, self._index

    @property
    def loaded(self) -> bool:
        """Has a match built the embedder (and so loaded the model) in this process?"""
        return self._vectorizer is not None

    def close(self) -> None:
        """Release the embedder (a loaded model, connections)."""
        with self._build_lock:
            if self._vectorizer is not None:
                self._vectorizer.embedder.close()
            self._vectorizer = None
            self._index = None
