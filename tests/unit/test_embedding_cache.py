"""The embedding cache: each distinct text reaches the embedder once, answers keep their order,
and the least recently used text leaves first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from jobsim.embedders.base import FloatMatrix
from jobsim.embedders.fake import FakeEmbedder
from jobsim.embedding_cache import EmbeddingCache
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import new_posting
from jobsim.settings import Settings
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__(dims=8, name="fake:8")
        self.seen: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.seen.append(list(texts))
        return super().embed(texts)


def test_a_repeated_text_is_embedded_once_and_answers_keep_their_order() -> None:
    embedder = CountingEmbedder()
    cache = EmbeddingCache()
    first = cache.embed(["driver", "nurse", "driver"], embedder.embed)
    second = cache.embed(["cook", "nurse"], embedder.embed)
    assert embedder.seen == [["driver", "nurse"], ["cook"]]
    assert np.array_equal(first[0], first[2])
    assert np.array_equal(second[1], first[1])
    assert np.array_equal(second, embedder.embed(["cook", "nurse"]))
    assert (cache.hits, cache.misses) == (2, 3)


def test_the_least_recently_used_text_leaves_first() -> None:
    embedder = CountingEmbedder()
    cache = EmbeddingCache(capacity=2)
    cache.embed(["a", "b"], embedder.embed)
    cache.embed(["a"], embedder.embed)  # "a" is now the most recent
    cache.embed(["c"], embedder.embed)  # "b" leaves
    cache.embed(["a", "b"], embedder.embed)
    assert embedder.seen[-1] == ["b"]
    assert len(cache) == 2


def test_a_cleared_cache_embeds_again() -> None:
    embedder = CountingEmbedder()
    cache = EmbeddingCache()
    cache.embed(["a"], embedder.embed)
    cache.clear()
    cache.embed(["a"], embedder.embed)
    assert embedder.seen == [["a"], ["a"]]
    assert (len(cache), cache.hits, cache.misses) == (1, 0, 1)


def test_no_texts_are_the_embedders_own_empty_answer() -> None:
    embedder = CountingEmbedder()
    assert EmbeddingCache().embed([], embedder.embed).shape == (0, 8)
    assert embedder.seen == [[]]


def test_a_wrong_answer_from_the_embedder_is_refused_and_not_kept() -> None:
    cache = EmbeddingCache()
    with pytest.raises(ValueError):
        cache.embed(["a", "b"], lambda texts: np.zeros((1, 8), dtype=np.float32))
    assert len(cache) == 0


def test_postings_sharing_a_title_cost_one_title_embedding() -> None:
    embedder = CountingEmbedder()
    settings = Settings(embedder="fake:8", glossary_dir="")
    vectorizer = PostingVectorizer(embedder, VectorRecipe.from_settings(settings))
    postings = [
        new_posting(
            PostingIn(
                id=f"p{i}",
                title="Warehouse operative",
                description=f"Night shift {i} in hall {i}, forklift.",
            ),
            vectorizer.recipe.text,
        )
        for i in range(3)
    ]
    vectors = vectorizer.vectors([vectorizer.inputs(p) for p in postings])
    embedded = [text for call in embedder.seen for text in call]
    assert embedded.count("Warehouse operative") == 1
    assert len([t for t in embedded if "shift" in t]) == 3
    assert vectors.shape == (3, vectorizer.dims)
