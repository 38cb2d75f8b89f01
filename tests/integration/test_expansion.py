"""Neighbour expansion through the worker and the free-text matcher, on SQLite and PostgreSQL:
a posting embedded after others is stored leaning on its nearest stored vectors (exactly the
formula of jobsim.expansion over the vectors stored before its batch), the first batch of an
empty board is stored as embedded, the lists are the top-N of the stored vectors, and the
vector model's name says the expansion."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from jobsim.expansion import WEIGHT_POWER
from jobsim.matching import MatchRequest, text_inputs
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer
from jobsim.worker import Worker
from tests.integration.test_worker import POSTINGS, create, similar_ids

NEIGHBOURS = 2
FIRST = ["py-berlin", "py-munich", "nurse", "icu-nurse"]


def expanded(settings: Settings) -> Settings:
    return settings.model_copy(update={"vector_expansion": NEIGHBOURS})


def stored(db: Database, model: str) -> dict[str, np.ndarray]:
    with db.read() as session:
        rows = session.execute(
            select(Embedding.posting_id, Embedding.vector).where(Embedding.model == model)
        ).all()
    return {posting_id: np.frombuffer(raw, dtype="<f4") for posting_id, raw in rows}


def raw_vector(
    db: Database, embedder: FakeEmbedder, settings: Settings, posting_id: str
) -> np.ndarray:
    """What the worker embeds for this posting (one full view), before any expansion."""
    with db.read() as session:
        posting = session.get(Posting, posting_id)
        assert posting is not None
        vectorizer = PostingVectorizer(embedder, VectorRecipe.from_settings(settings))
        vector: np.ndarray = vectorizer.vectors([vectorizer.inputs(posting)])[0]
    return vector


def leaned(vector: np.ndarray, others: dict[str, np.ndarray]) -> np.ndarray:
    """jobsim.expansion's formula, written out: the NEIGHBOURS nearest, cosine^5 weights."""
    scored = sorted(((float(v @ vector), pid) for pid, v in others.items()), reverse=True)
    total = vector.astype(np.float64).copy()
    for cos, pid in scored[:NEIGHBOURS]:
        total += max(cos, 0.0) ** WEIGHT_POWER * others[pid]
    result: np.ndarray = total / np.linalg.norm(total)
    return result


def test_a_posting_is_stored_leaning_on_the_vectors_stored_before_it(
    db: Database, settings: Settings
) -> None:
    settings = expanded(settings)
    model = VectorRecipe.from_settings(settings).model
    embedder = FakeEmbedder(64, name=settings.embedder)
    for posting_id in FIRST:
        create(db, posting_id)
    Worker(settings, db, embedder).run(burst=True)
    first = stored(db, model)
    # The first batch of an empty board leans on nothing.
    for posting_id in FIRST:
        np.testing.assert_allclose(
            first[posting_id], raw_vector(db, embedder, settings, posting_id), rtol=1e-5, atol=1e-6
        )

    create(db, "data-eng")
    Worker(settings, db, embedder).run(burst=True)
    after = stored(db, model)

    raw = raw_vector(db, embedder, settings, "data-eng")
    np.testing.assert_allclose(after["data-eng"], leaned(raw, first), rtol=1e-4, atol=1e-5)
    assert float(after["data-eng"] @ raw) < 0.9999  # it moved
    for posting_id in FIRST:  # nobody else's vector changed
        np.testing.assert_array_equal(after[posting_id], first[posting_id])
    assert model.endswith(f"#expand:{NEIGHBOURS}")


def test_the_lists_are_the_top_n_of_the_stored_vectors(db: Database, settings: Settings) -> None:
    settings = expanded(settings)
    model = VectorRecipe.from_settings(settings).model
    worker = Worker(settings, db, FakeEmbedder(64, name=settings.embedder))
    for posting_id in POSTINGS:
        create(db, posting_id)
        worker.run(burst=True)  # one at a time: each leans on the ones before
    vectors = stored(db, model)

    for posting_id, vector in vectors.items():
        scores = {other: float(v @ vector) for other, v in vectors.items() if other != posting_id}
        listed = similar_ids(db, posting_id)
        assert listed, posting_id
        best = sorted(scores, key=lambda other: -scores[other])
        assert set(listed) <= set(best[: len(listed) + 2]), (posting_id, listed, best)


def test_a_free_text_query_leans_on_the_stored_postings_too(
    db: Database, settings: Settings
) -> None:
    settings = expanded(settings)
    model = VectorRecipe.from_settings(settings).model
    for posting_id in POSTINGS:
        create(db, posting_id)
    Worker(settings, db, FakeEmbedder(64, name=settings.embedder)).run(burst=True)
    vectors = stored(db, model)
    text = POSTINGS["py-berlin"]["title"] + " with Django"
    recipe = VectorRecipe.from_settings(settings)
    raw = PostingVectorizer(FakeEmbedder(64, name=settings.embedder), recipe).vectors(
        [text_inputs(recipe, text)]
    )[0]
    query = leaned(raw, vectors)

    answer = Service(settings, db).matching.match(MatchRequest(text=text))

    assert answer.data
    for item in answer.data:
        assert item.semantic is not None
        assert abs(item.semantic - float(query @ vectors[item.id])) <= 1e-4, item.id
    assert any(abs(float(raw @ vectors[i.id]) - (i.semantic or 0)) > 1e-3 for i in answer.data)
