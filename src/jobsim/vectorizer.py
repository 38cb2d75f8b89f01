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

from jobsim.embedders.base import Embedder, FloatMatrix
from jobsim.lexical import lexical_vector
from jobsim.postings.recipe import PostingInputs
from jobsim.storage.models import Posting
from jobsim.vector_recipe import VectorRecipe


class PostingVectorizer:
    """A VectorRecipe carried out with an embedder; the recipe takes the embedder's name."""

    def __init__(self, embedder: Embedder, recipe: VectorRecipe) -> None:
        self.embedder = embedder
        self.recipe = recipe.with_embedder(embedder.name)
        self.views = self.recipe.views
        self.glossary = self.recipe.glossary

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
