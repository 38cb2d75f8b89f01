"""Neighbour expansion (jobsim.expansion): a new vector leans on its nearest stored vectors of
its listing type, weighted by their cosine to the fifth power, and is normalised again."""

from __future__ import annotations

import numpy as np
import pytest

from jobsim.expansion import expand
from jobsim.row_facts import PostingMeta
from jobsim.settings import Settings
from jobsim.similarity import VectorIndex
from jobsim.vector_recipe import VectorRecipe, vector_model_name


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def index() -> VectorIndex:
    """Two close jobs, one far job, and a business right on top of the query."""
    index = VectorIndex(3)
    index.upsert("near-a", unit(1, 0.2, 0), PostingMeta())
    index.upsert("near-b", unit(1, 0, 0.2), PostingMeta())
    index.upsert("far", unit(0, 0, 1), PostingMeta())
    index.upsert("shop", unit(1, 0.1, 0), PostingMeta(listing_type="business"))
    return index


def test_a_vector_leans_on_its_nearest_stored_vectors_of_its_type(index: VectorIndex) -> None:
    query = unit(1, 0.1, 0.1)

    (leaned,) = expand(index, query[None, :], ["job"], 2)

    cos = {p: float(index.vector(p) @ query) for p in ("near-a", "near-b")}
    expected = query + sum(cos[p] ** 5 * index.vector(p) for p in cos)
    np.testing.assert_allclose(leaned, expected / np.linalg.norm(expected), rtol=1e-5)
    assert np.linalg.norm(leaned) == pytest.approx(1.0, abs=1e-6)
    # The business, nearer than both, is not a job's neighbour; "far" is not among the 2.


def test_a_far_neighbour_adds_next_to_nothing_and_a_negative_one_nothing(
    index: VectorIndex,
) -> None:
    query = unit(0, 1, 0)  # cos 0.2 with near-a, 0 with near-b and far

    (leaned,) = expand(index, query[None, :], ["job"], 3)

    assert float(leaned @ query) > 0.99
    opposite = unit(-1, 0, 0)
    np.testing.assert_allclose(expand(index, opposite[None, :], ["job"], 3)[0], opposite)


def test_nothing_changes_without_neighbours_of_the_type_or_when_off(index: VectorIndex) -> None:
    query = unit(0.3, 0.3, 1)

    np.testing.assert_array_equal(expand(index, query[None, :], ["job"], 0), query[None, :])
    np.testing.assert_array_equal(expand(VectorIndex(3), query[None, :], ["job"], 8), [query])
    np.testing.assert_array_equal(expand(index, query[None, :], ["other"], 8), [query])


def test_a_posting_never_leans_on_its_own_older_vector(index: VectorIndex) -> None:
    new_text = unit(1, 0.2, 0.05)  # near-a's new vector, re-embedded

    (alone,) = expand(index, new_text[None, :], ["job"], 1, exclude=["near-a"])

    expected = new_text + float(index.vector("near-b") @ new_text) ** 5 * index.vector("near-b")
    np.testing.assert_allclose(alone, expected / np.linalg.norm(expected), rtol=1e-5)


def test_the_expansion_is_part_of_the_vector_model_name() -> None:
    assert VectorRecipe.from_settings(Settings()).model.endswith("#expand:4")
    assert "#expand" not in VectorRecipe.from_settings(Settings(vector_expansion=0)).model
    assert vector_model_name("fake:4", VectorRecipe("fake:4").views, expansion=3).endswith(
        "#expand:3"
    )
