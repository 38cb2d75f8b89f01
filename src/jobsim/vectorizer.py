"""From a posting to the one vector the index stores: weighted views, concatenated.

The views and their weights come from a VectorRecipe (jobsim.vector_recipe). Texts in a
language with an installed dictionary are glossed word by word into English before the
embedder reads them (jobsim.glossary); the lexical view reads the original title. Each view is
a unit vector; scaling view i by sqrt(w_i) and concatenating gives a vector whose cosine with
another is exactly sum(w_i * cos_i) / sum(w_i). So the index, the list code and every query
stay a plain dot product, whatever the mix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from jobsim.boilerplate import BoilerplateFilter
from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors
from jobsim.embedding_cache import EmbeddingCache
from jobsim.lexical import lexical_vector
from jobsim.postings.recipe import PostingInputs
from jobsim.postings.store import recent_descriptions
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.vector_recipe import VectorRecipe, Views

FloatArray = npt.NDArray[np.float32]


def view_weights(views: Views, shares: FloatArray) -> FloatArray:
    """Each posting's (full, title, lexical) weights, each row summing to 1.

    `shares` is the part of each description that is not boilerplate. A description that is
    mostly boilerplate says little about the job, so its full view lends that part of its
    weight to the title views, in proportion to theirs. The cosine of two vectors is then
    sum(sqrt(w_a * w_b) * cos) over the views: symmetric, and still one dot product.
    """
    base = np.array([views.full, views.title, views.lexical], dtype=np.float64)
    base /= base.sum()
    rest = base[1] + base[2]
    lent = base[0] * (1.0 - shares.astype(np.float64)) if rest > 0 else np.zeros(len(shares))
    rows = np.column_stack(
        [
            base[0] - lent,
            base[1] + lent * base[1] / (rest or 1),
            base[2] + lent * base[2] / (rest or 1),
        ]
    )
    return rows.astype(np.float32)


class PostingVectorizer:
    """A VectorRecipe carried out with an embedder; the recipe takes the embedder's name."""

    def __init__(self, embedder: Embedder, recipe: VectorRecipe) -> None:
        self.embedder = embedder
        self.recipe = recipe.with_embedder(embedder.name)
        self.views = self.recipe.views
        self.glossary = self.recipe.glossary
        # Counts of recent descriptions' shingles, when the recipe weighs boilerplate; the
        # worker primes it from the database (jobsim.boilerplate).
        self.boilerplate = BoilerplateFilter() if self.recipe.text.weigh_boilerplate else None
        self.primed = False
        # Titles repeat across a board's postings: each distinct text is embedded once.
        self.cache = EmbeddingCache()

    @property
    def name(self) -> str:
        return self.recipe.model

    @property
    def dims(self) -> int:
        semantic = self.embedder.dims
        return (
            (semantic if self.views.full > 0 else 0)
            + (semantic if self.views.title > 0 else 0)
            + (self.views.lexical_dims if self.views.lexical > 0 else 0)
        )

    def inputs(self, posting: Posting) -> PostingInputs:
        return self.recipe.inputs(posting)

    def vectors(self, inputs: Sequence[PostingInputs]) -> FloatMatrix:
        """One embedder call per semantic view, then the weighted concatenation.

        Full texts and titles go in separate calls: mixed in one batch, every title would be
        padded to the longest full text and cost as much to encode (half the throughput).
        """
        views = self.views
        n = len(inputs)
        weights = np.sqrt(view_weights(views, self._shares(inputs)))
        parts: list[FloatMatrix] = []
        if views.full > 0:
            full = self._embed_glossed([(i.full_text, i.language) for i in inputs])
            parts.append(weights[:, 0:1] * full)
        if views.title > 0:
            title = self._embed_glossed([(i.title_text, i.language) for i in inputs])
            parts.append(weights[:, 1:2] * title)
        if views.lexical > 0:
            lexical = np.array(
                [lexical_vector(i.title_text, views.lexical_dims) for i in inputs], dtype=np.float32
            ).reshape(n, views.lexical_dims)
            parts.append(weights[:, 2:3] * lexical)
        combined = np.hstack(parts).astype(np.float32)
        norms = np.linalg.norm(combined, axis=1, keepdims=True)
        result: FloatMatrix = (combined / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return result

    def prime_from(self, db: Database) -> None:
        """Count the newest postings' descriptions in the boilerplate filter, once, before the
        first batch is embedded (nothing to do when the recipe keeps boilerplate)."""
        if self.boilerplate is None or self.primed:
            return
        self.boilerplate.observe_all(recent_descriptions(db, self.boilerplate.capacity))
        self.primed = True

    def _shares(self, inputs: Sequence[PostingInputs]) -> FloatArray:
        """The share of each posting's description that is not boilerplate (1 where the recipe
        does not weigh boilerplate, the full view is off, or there is no description)."""
        shares = np.ones(len(inputs), dtype=np.float32)
        if self.boilerplate is None or self.views.full <= 0:
            return shares
        described = [row for row, item in enumerate(inputs) if item.description is not None]
        shares[described] = self.boilerplate.observe_and_share(
            [(inputs[row].key, inputs[row].description or "") for row in described]
        )
        return shares

    def _embed_glossed(self, texts: Sequence[tuple[str, str]]) -> FloatMatrix:
        """One embedder call on the (text, language) pairs not in the cache, each glossed and cut
        to the input limit; its output checked here, before per-posting weights could broadcast a
        wrong shape."""
        limit = self.embedder.max_input_chars
        return self.cache.embed(
            [self.glossary.gloss(text, language)[:limit] for text, language in texts],
            self._embed_checked,
        )

    def _embed_checked(self, texts: list[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, self.embedder.dims), dtype=np.float32)
        return validate_vectors(self.embedder.embed(texts), len(texts), self.embedder.dims)
