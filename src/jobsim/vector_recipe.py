"""How a posting becomes a vector, as one frozen value built once at start-up.

A `VectorRecipe` names the embedder, the text recipe, the view mix and the dictionaries that
gloss non-English texts. From it follow the texts a posting is embedded from, their content
hash, and the model name stored with every vector: the API, the worker and `jobsim eval` all
take one, so they cannot disagree about any of these.

A view is one way of looking at a posting:
- `full`: the embedder on the recipe text (title, category, skills, requirements, description);
- `title`: the embedder on the title and skills alone, where descriptions are boilerplate;
- `lexical`: hashed character n-grams of the title (jobsim.lexical), language-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from jobsim.errors import ConfigurationError, ValidationFailed
from jobsim.glossary import Glossary, find_glossary
from jobsim.listing_types import with_type_recipes
from jobsim.postings.recipe import (
    DEFAULT_RECIPE,
    PostingInputs,
    TextRecipe,
    content_hash,
    posting_inputs,
    recipe_from,
)
from jobsim.settings import Settings
from jobsim.storage.models import Posting

VIEW_NAMES = ("full", "title", "lexical")


@dataclass(frozen=True)
class Views:
    full: float = 1.0
    title: float = 0.0
    lexical: float = 0.0
    lexical_dims: int = 512

    @classmethod
    def parse(cls, spec: str, lexical_dims: int = 512) -> Views:
        """'full:0.4,title:0.3,lexical:0.3' -> Views; weights are relative."""
        weights = dict.fromkeys(VIEW_NAMES, 0.0)
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            name, _, value = part.partition(":")
            name = name.strip()
            try:
                weight = float(value) if value else 1.0
            except ValueError:
                weight = -1.0
            if name not in weights or weight < 0:
                raise ValidationFailed(
                    f"bad view {part!r}: use name:weight with names {', '.join(VIEW_NAMES)}"
                )
            weights[name] = weight
        if not any(weights.values()):
            raise ValidationFailed("at least one view needs a positive weight")
        return cls(weights["full"], weights["title"], weights["lexical"], lexical_dims)

    def describe(self) -> str:
        parts = [f"{n}:{getattr(self, n):g}" for n in VIEW_NAMES if getattr(self, n) > 0]
        if self.lexical > 0:
            parts.append(f"dims:{self.lexical_dims}")
        return ",".join(parts)

    @property
    def only_full(self) -> bool:
        return self.title == 0 and self.lexical == 0

    @property
    def semantic(self) -> bool:
        """Does any view read the embedder (and so the glosses)?"""
        return self.full > 0 or self.title > 0


def vector_model_name(
    embedder_spec: str,
    views: Views,
    recipe: TextRecipe = DEFAULT_RECIPE,
    glossary: Glossary | None = None,
    expansion: int = 0,
) -> str:
    """The name stored with every vector. Another embedder, view mix, text recipe, set of
    dictionaries or neighbour expansion is another model: changing any of them re-embeds
    everything while the old vectors keep serving."""
    name = embedder_spec if views.only_full else f"{embedder_spec}#{views.describe()}"
    if recipe != DEFAULT_RECIPE:
        name += f"#recipe:{recipe.fingerprint()}"
    if glossary is not None and glossary.languages and views.semantic:
        name += f"#gloss:{glossary.fingerprint}"
    if expansion:
        name += f"#expand:{expansion}"
    return name


@dataclass(frozen=True)
class VectorRecipe:
    """The embedder spec, text recipe, views and dictionaries that make a posting's vector."""

    embedder: str
    text: TextRecipe = DEFAULT_RECIPE
    views: Views = Views()
    glossary: Glossary = field(default_factory=Glossary, compare=False, repr=False)
    expansion: int = 0  # neighbours a new vector leans on (jobsim.expansion)

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: str | None = None) -> VectorRecipe:
        """The recipe the settings describe; ConfigurationError for fields or views that cannot
        work. `embedder` overrides the spec (a worker handed an embedder object uses its name)."""
        try:
            text = with_type_recipes(
                recipe_from(
                    settings.text_fields,
                    settings.title_repeat,
                    settings.text_max_chars,
                    settings.text_weigh_boilerplate,
                )
            )
            views = Views.parse(settings.vector_views, settings.lexical_dims)
        except ValidationFailed as error:
            raise ConfigurationError(str(error)) from None
        glossary = find_glossary(settings.glossary_dir)
        return cls(embedder or settings.embedder, text, views, glossary, settings.vector_expansion)

    def with_embedder(self, embedder: str) -> VectorRecipe:
        return self if embedder == self.embedder else replace(self, embedder=embedder)

    @cached_property
    def model(self) -> str:
        """The vector model name (see vector_model_name)."""
        return vector_model_name(
            self.embedder, self.views, self.text, self.glossary, self.expansion
        )

    def inputs(self, posting: Posting) -> PostingInputs:
        return posting_inputs(self.text, posting)

    def content_hash(self, posting: Posting) -> str:
        return content_hash(self.text, posting)

    def describe(self) -> str:
        text = self.text
        return (
            f"fields={','.join(text.fields)} title_repeat={text.title_repeat} "
            f"max_chars={text.max_chars} views={self.views.describe()} "
            f"expansion={self.expansion}"
        )
