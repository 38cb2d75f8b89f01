"""From a posting to the one vector the index stores: weighted views, concatenated.

A view is one way of looking at a posting:
- `full`: the embedder on the recipe text (title, category, skills, requirements, description);
- `title`: the embedder on the title and skills alone, where descriptions are boilerplate;
- `lexical`: hashed character n-grams of the title (jobsim.lexical), language-agnostic.
Texts in a language with an installed dictionary are glossed word by word into English before
the embedder reads them (jobsim.glossary); the lexical view reads the original title.
Each view is a unit vector; scaling view i by sqrt(w_i) and concatenating gives a vector whose
cosine with another is exactly sum(w_i * cos_i) / sum(w_i). So the index, the list code and
every query stay a plain dot product, whatever the mix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jobsim.embedders.base import Embedder, FloatMatrix
from jobsim.errors import ValidationFailed
from jobsim.glossary import Glossary
from jobsim.jobs import DEFAULT_RECIPE, PostingInputs, TextRecipe, posting_inputs
from jobsim.lexical import lexical_vector
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


def vector_model_name(
    embedder_spec: str,
    views: Views,
    recipe: TextRecipe = DEFAULT_RECIPE,
    glossary: Glossary | None = None,
) -> str:
    """The name stored with every vector. Another embedder, view mix, text recipe or set of
    dictionaries is another model: changing any of them re-embeds everything while the old
    vectors keep serving."""
    name = embedder_spec if views.only_full else f"{embedder_spec}#{views.describe()}"
    if recipe != DEFAULT_RECIPE:
        name += f"#recipe:{recipe.fingerprint()}"
    if glossary is not None and glossary.languages and (views.full > 0 or views.title > 0):
        name += f"#gloss:{glossary.fingerprint}"
    return name


class PostingVectorizer:
    def __init__(
        self,
        embedder: Embedder,
        recipe: TextRecipe,
        views: Views,
        glossary: Glossary | None = None,
    ) -> None:
        self.embedder = embedder
        self.recipe = recipe
        self.views = views
        self.glossary = glossary or Glossary()
        self.name = vector_model_name(embedder.name, views, recipe, self.glossary)

    @property
    def dims(self) -> int:
        semantic = self.embedder.dims
        return (
            (semantic if self.views.full > 0 else 0)
            + (semantic if self.views.title > 0 else 0)
            + (self.views.lexical_dims if self.views.lexical > 0 else 0)
        )

    def inputs(self, posting: Posting) -> PostingInputs:
        return posting_inputs(self.recipe, posting)

    def vectors(self, inputs: Sequence[PostingInputs]) -> FloatMatrix:
        """One embedder call per semantic view, then the weighted concatenation.

        Full texts and titles go in separate calls: mixed in one batch, every title would be
        padded to the longest full text and cost as much to encode (half the throughput).
        """
        views = self.views
        n = len(inputs)
        parts: list[FloatMatrix] = []
        if views.full > 0:
            full = self._embed_glossed([(i.full_text, i.language) for i in inputs])
            parts.append(np.float32(np.sqrt(views.full)) * full)
        if views.title > 0:
            title = self._embed_glossed([(i.title_text, i.language) for i in inputs])
            parts.append(np.float32(np.sqrt(views.title)) * title)
        if views.lexical > 0:
            lexical = np.array(
                [lexical_vector(i.title_text, views.lexical_dims) for i in inputs], dtype=np.float32
            ).reshape(n, views.lexical_dims)
            parts.append(np.float32(np.sqrt(views.lexical)) * lexical)
        combined = np.hstack(parts).astype(np.float32)
        norms = np.linalg.norm(combined, axis=1, keepdims=True)
        result: FloatMatrix = (combined / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return result

    def _embed_glossed(self, texts: Sequence[tuple[str, str]]) -> FloatMatrix:
        """One embedder call on (text, language) pairs, each glossed and cut to the input limit."""
        limit = self.embedder.max_input_chars
        return self.embedder.embed(
            [self.glossary.gloss(text, language)[:limit] for text, language in texts]
        )
