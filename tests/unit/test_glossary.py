from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from jobsim.errors import ConfigurationError
from jobsim.glossary import DictdDictionary, find_glossary, first_translation
from jobsim.postings.recipe import DEFAULT_RECIPE
from jobsim.settings import Settings
from jobsim.storage.models import Posting
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe, Views, vector_model_name
from jobsim.vectorizer import PostingVectorizer
from tests.support.dictd import write_dictd

# Entries in the two layouts FreeDict uses: WikDict (numbered senses, each followed by a
# definition in the source language) and the older one (markup, several entries per word).
POLISH = {
    "kasjer": "kasjer /ˈkasjɛr/ <n>\ncashier\nosoba przyjmująca wpłaty\n",
    "sprzedawca": (
        "sprzedawca /spʃɛˈdafʦ̑a/ <n>\nsalesman, shop assistant\n"
        "(handel, handlowy) człowiek sprzedający towary\n"
    ),
    "kierowca": "kierowca /cɛˈrɔfʦ̑a/ <n>\ndriver\nosoba kierująca pojazdem\n",
    "mechanik": (
        "mechanik /mɛˈxãɲik/ <n>\n1. car mechanic, grease monkey\n(potocznie) serwisant\n"
        "2. marine engineer\n(żeglarstwo) oficer\n"
    ),
    "operator": "operator /ˌɔpɛˈratɔr/ <n>\noperator 2.\nczłowiek obsługujący maszynę\n 3.\n",
    "sufiks": "sufiks <n>\n…dodawany do tematu\n",
}


@pytest.fixture
def dictionaries(tmp_path: Path) -> Path:
    write_dictd(tmp_path, "freedict-pol-eng", POLISH)
    write_dictd(tmp_path, "freedict-pol-deu", {"kasjer": "kasjer <n>\nKassierer\n"})
    write_dictd(tmp_path, "freedict-xyz-eng", {"foo": "foo <n>\nbar\n"}, compress=False)
    find_glossary.cache_clear()
    return tmp_path


def posting(title: str, language: str) -> Posting:
    now = datetime.now(UTC)
    return Posting(
        id="p",
        title=title,
        description="Twenty characters or more of description.",
        tags=[],
        requirements=[],
        language=language,
        created_at=now,
        updated_at=now,
    )


GERMAN_SELLER = "Verkäufer /fɛɾk/ <masc, n, sg>\n [econ.] sales assistant <n>, clerk <n> [Am.]\n"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (POLISH["sprzedawca"], "salesman"),
        (POLISH["mechanik"], "car mechanic"),
        (POLISH["operator"], "operator"),
        (POLISH["sufiks"], None),
        (GERMAN_SELLER, "sales assistant"),
        ("Fahrer <pl>\ndrivers; chauffeurs\n   Synonym: {Chauffeure}\n", "drivers"),
    ],
)
def test_the_first_translation_is_read_from_both_freedict_layouts(
    entry: str, expected: str | None
) -> None:
    assert first_translation(entry) == expected


def test_only_x_to_english_dictionaries_of_known_languages_are_found(dictionaries: Path) -> None:
    glossary = find_glossary(str(dictionaries))

    assert glossary.languages == ["pl"]
    assert find_glossary("").languages == []
    assert find_glossary(str(dictionaries / "missing")).languages == []


def test_titles_are_glossed_word_by_word_keeping_what_the_dictionary_lacks(
    dictionaries: Path,
) -> None:
    glossary = find_glossary(str(dictionaries))

    assert glossary.gloss("Kasjer-Sprzedawca", "pl") == "cashier-salesman"
    assert glossary.gloss("MECHANIK w Zakładzie 24", "pl") == "car mechanic w Zakładzie 24"
    # An inflected form is found through its lemma (simplemma's Polish data).
    assert glossary.gloss("Praca dla kierowcy", "pl") == "Praca dla driver"
    # Another language, or one without a dictionary, is left alone.
    assert glossary.gloss("Kasjer", "en") == "Kasjer"
    assert glossary.gloss("Kasjer", "unknown") == "Kasjer"


def test_a_dictionary_without_its_data_file_is_a_configuration_error(tmp_path: Path) -> None:
    index = write_dictd(tmp_path, "freedict-pol-eng", POLISH)
    (tmp_path / "freedict-pol-eng.dict.dz").unlink()

    with pytest.raises(ConfigurationError, match=r"freedict-pol-eng\.index"):
        DictdDictionary(index)


def test_the_fingerprint_follows_the_dictionary_contents(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write_dictd(first, "freedict-pol-eng", POLISH)
    write_dictd(second, "freedict-pol-eng", POLISH)
    find_glossary.cache_clear()
    same = find_glossary(str(first)).fingerprint == find_glossary(str(second)).fingerprint

    write_dictd(second, "freedict-pol-eng", {**POLISH, "nowe": "nowe <adj>\nnew\n"})
    find_glossary.cache_clear()

    assert same
    assert find_glossary(str(first)).fingerprint != find_glossary(str(second)).fingerprint


def test_the_semantic_views_embed_the_gloss_and_the_lexical_view_the_original(
    dictionaries: Path,
) -> None:
    glossary = find_glossary(str(dictionaries))
    embedder = FakeEmbedder(32)

    def recipe(views: str) -> VectorRecipe:
        return VectorRecipe(embedder.name, DEFAULT_RECIPE, Views.parse(views), glossary)

    titles = PostingVectorizer(embedder, recipe("title:1"))
    texts = PostingVectorizer(embedder, recipe("full:1"))
    lexical = PostingVectorizer(embedder, recipe("lexical:1"))
    polish, english = posting("Kasjer", "pl"), posting("Cashier", "en")

    glossed = titles.vectors([titles.inputs(polish), titles.inputs(english)])
    full = texts.vectors([texts.inputs(polish), texts.inputs(english)])
    plain = lexical.vectors([lexical.inputs(polish), lexical.inputs(english)])

    assert np.allclose(glossed[0], glossed[1])
    polish_text = texts.inputs(polish).full_text
    assert np.allclose(full[0], embedder.embed([glossary.gloss(polish_text, "pl")])[0])
    assert not np.allclose(full[0], embedder.embed([polish_text])[0])
    assert float(plain[0] @ plain[1]) < 0.5


def test_the_dictionaries_are_part_of_the_vector_model_name(dictionaries: Path) -> None:
    glossary = find_glossary(str(dictionaries))
    mixed = Views.parse("full:0.5,title:0.2,lexical:0.3")

    with_gloss = vector_model_name("local:x", mixed, DEFAULT_RECIPE, glossary)

    assert with_gloss.endswith(f"#gloss:{glossary.fingerprint}")
    assert "#gloss" not in vector_model_name("local:x", mixed, DEFAULT_RECIPE, find_glossary(""))
    # The lexical view reads the original title, so alone it does not depend on them.
    assert "#gloss" not in vector_model_name("local:x", Views.parse("lexical:1"), glossary=glossary)
    assert "#gloss" in vector_model_name("local:x", Views.parse("full:1"), glossary=glossary)
    english = Settings(
        embedder="local:all-MiniLM-L6-v2",
        vector_views="full:0.5,title:0.2,lexical:0.3",
        glossary_dir=str(dictionaries),
    )
    assert VectorRecipe.from_settings(english).model == vector_model_name(
        "local:all-MiniLM-L6-v2", mixed, DEFAULT_RECIPE, glossary, expansion=4
    )


def test_the_content_hash_changes_with_the_language_which_decides_the_gloss() -> None:
    embedder = FakeEmbedder(8)
    vectorizer = PostingVectorizer(
        embedder, VectorRecipe(embedder.name, views=Views.parse("title:1"))
    )

    polish = vectorizer.inputs(posting("Operator", "pl")).content_hash
    english = vectorizer.inputs(posting("Operator", "en")).content_hash

    assert polish != english


INSTALLED = Path("/usr/share/dictd/freedict-pol-eng.index")


@pytest.mark.skipif(not INSTALLED.exists(), reason="Debian's dict-freedict-pol-eng not installed")
def test_the_installed_polish_dictionary_glosses_real_job_titles() -> None:
    glossary = find_glossary(str(INSTALLED.parent))

    assert glossary.gloss("Kasjer-Sprzedawca", "pl") == "cashier-salesman"
    assert glossary.gloss("Kierowca kat. C", "pl").startswith("driver")
