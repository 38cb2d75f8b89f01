"""Text cleaning, the embedding text recipe, the content hash and posting validation."""

from __future__ import annotations

import hashlib
import html
import random
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from jobsim import text as cleaning
from jobsim.bench.postings import generate_postings
from jobsim.postings.recipe import DEFAULT_RECIPE, TextRecipe, content_hash, posting_inputs
from jobsim.postings.schema import PostingIn, PostingPatch
from jobsim.storage.models import Posting
from jobsim.text import clean_text, truncate

# --- clean_text ----------------------------------------------------------------------------


def test_html_tags_are_removed_and_block_tags_become_line_breaks() -> None:
    html = "<div><p>Build <b>fast</b> APIs.</p><p>Ship<br/>daily</p><ul><li>Python</li></ul></div>"
    assert clean_text(html) == "Build fast APIs.\nShip\ndaily\n\nPython"


def test_html_entities_are_decoded() -> None:
    assert clean_text("R&amp;D &ndash; Fish &amp; Chips&nbsp;&nbsp;Ltd &#8364;5") == (
        "R&D – Fish & Chips Ltd €5"
    )


def test_escaped_markup_survives_as_text_instead_of_being_stripped() -> None:
    assert clean_text("Use &lt;div&gt; tags") == "Use <div> tags"


def test_script_and_style_blocks_are_removed_with_their_content() -> None:
    text = (
        "Hello<script type='text/javascript'>alert('pwned')</script> there"
        "<STYLE>.x { color: red }</STYLE>!"
    )
    assert clean_text(text) == "Hello there !"


def test_emoji_flags_and_joiners_are_removed() -> None:
    assert clean_text("Great team 🚀🎉 in 🇩🇪 ✨ with 👩‍💻 devs") == "Great team in with devs"


def test_control_and_format_characters_are_removed_but_newlines_kept() -> None:
    text = "Sen\x00ior\x07 dev\u200bops\r\nremote\x1b[0m\tfirst"
    assert clean_text(text) == "Senior devops\nremote[0m first"


def test_every_line_break_style_becomes_a_newline() -> None:
    assert clean_text("one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"


def test_markdown_emphasis_headings_and_bullets_are_stripped() -> None:
    text = "# About us\n\n**We** build `tools`.\n- Python\n* Go\n__fast__"
    assert clean_text(text) == "About us\n\nWe build tools.\nPython\nGo\nfast"


def test_runs_of_blank_lines_and_spaces_collapse() -> None:
    assert clean_text("  a   b \n\n\n\n\n c\u00a0\u00a0d  ") == "a b\n\nc d"


def test_text_is_normalised_to_nfc() -> None:
    decomposed = "Cafe\u0301"
    assert clean_text(decomposed) == "Caf\u00e9"


def test_clean_text_of_plain_text_is_unchanged() -> None:
    assert clean_text("Senior Python developer, Berlin.") == "Senior Python developer, Berlin."


def test_truncate_cuts_at_a_nearby_word_boundary() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("alpha beta gamma delta", 19) == "alpha beta gamma"
    # No space in the last fifth of the budget: a hard cut.
    assert truncate("alpha betagammadelta", 15) == "alpha betagamma"


# --- TextRecipe ----------------------------------------------------------------------------


def make_posting(**overrides: Any) -> Posting:
    values: dict[str, Any] = {
        "id": "p1",
        "title": "Senior <b>Python</b> Engineer",
        "description": "<p>Build data pipelines &amp; APIs.</p>",
        "company": "Acme",
        "category": "Engineering",
        "tags": ["python", "sql"],
        "requirements": ["5 years Python", "SQL"],
    }
    values.update(overrides)
    return Posting(**values)


def test_the_default_recipe_puts_title_category_description_requirements_then_skills() -> None:
    # The skills are in the title view; in the full view they come last, after the text
    # that describes the job (300 characters leave little room after it).
    assert DEFAULT_RECIPE.build(make_posting()) == (
        "Senior Python Engineer\n"
        "Category: Engineering\n"
        "Build data pipelines & APIs.\n"
        "Requirements: 5 years Python. SQL\n"
        "Skills: python, sql"
    )


def test_the_default_recipe_leaves_out_the_company_and_missing_fields() -> None:
    text = DEFAULT_RECIPE.build(make_posting(category=None, tags=[], requirements=[]))
    assert text == "Senior Python Engineer\nBuild data pipelines & APIs."
    assert "Acme" not in text


def test_a_recipe_can_repeat_the_title_and_choose_fields_and_order() -> None:
    recipe = TextRecipe(fields=("company", "title", "description"), title_repeat=2)
    assert recipe.build(make_posting()) == (
        "Company: Acme\nSenior Python Engineer\nSenior Python Engineer\n"
        "Build data pipelines & APIs."
    )


def test_a_title_repeat_below_one_still_includes_the_title_once() -> None:
    recipe = TextRecipe(fields=("title",), title_repeat=0)
    assert recipe.build(make_posting()) == "Senior Python Engineer"


def test_the_recipe_truncates_long_texts_to_its_budget() -> None:
    description = " ".join(f"word{i}" for i in range(1000))
    text = TextRecipe(max_chars=200).build(make_posting(description=description))
    assert 160 < len(text) <= 200
    assert text.startswith("Senior Python Engineer\nCategory: Engineering")
    assert not text.endswith(" ")
    assert DEFAULT_RECIPE.build(make_posting(description=description)).__len__() <= 1500


def test_the_content_hash_is_the_sha256_of_full_text_title_text_and_language() -> None:
    posting = make_posting()
    keeping = TextRecipe(weigh_boilerplate=False)
    inputs = posting_inputs(keeping, posting)
    joined = f"{inputs.full_text}\x1f{inputs.title_text}\x1f{inputs.language}"
    assert content_hash(keeping, posting) == hashlib.sha256(joined.encode()).hexdigest()


def test_weighing_boilerplate_hashes_the_whole_description_too() -> None:
    # The whole description sets the view weights, text past the cut included.
    long = "Build data pipelines & APIs. " * 30
    base = content_hash(DEFAULT_RECIPE, make_posting(description=long))
    assert content_hash(DEFAULT_RECIPE, make_posting(description=long + "Kafka.")) != base
    keeping = TextRecipe(weigh_boilerplate=False)
    assert content_hash(keeping, make_posting(description=long)) == content_hash(
        keeping, make_posting(description=long + "Kafka.")
    )


def test_the_content_hash_is_stable_across_builds_and_ignores_markup_only_changes() -> None:
    first = content_hash(DEFAULT_RECIPE, make_posting())
    again = content_hash(DEFAULT_RECIPE, make_posting())
    markup = content_hash(DEFAULT_RECIPE, make_posting(title="Senior Python Engineer"))
    assert first == again == markup
    assert len(first) == 64


def test_the_content_hash_changes_with_the_embedded_text_only() -> None:
    base = content_hash(DEFAULT_RECIPE, make_posting())
    assert content_hash(DEFAULT_RECIPE, make_posting(tags=["python"])) != base
    assert content_hash(DEFAULT_RECIPE, make_posting(language="de")) != base
    assert content_hash(DEFAULT_RECIPE, make_posting(company="Other Co")) == base
    assert content_hash(DEFAULT_RECIPE, make_posting(salary_min=1.0)) == base


# --- PostingIn validation ------------------------------------------------------------------

VALID: dict[str, Any] = {
    "title": "Data Engineer",
    "description": "Build and operate our data platform.",
}


def errors_of(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        PostingIn(**{**VALID, **fields})
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_a_minimal_posting_is_valid_and_strips_whitespace() -> None:
    posting = PostingIn(title="  Data Engineer  ", description=VALID["description"])
    assert posting.title == "Data Engineer"
    assert posting.id is None


@pytest.mark.parametrize("title", ["ab", "  ab  ", "x" * 201])
def test_a_title_must_be_three_to_two_hundred_characters(title: str) -> None:
    assert errors_of(title=title) == ["title"]


@pytest.mark.parametrize("title", ["abc", "x" * 200])
def test_titles_at_the_limits_are_accepted(title: str) -> None:
    assert PostingIn(**{**VALID, "title": title}).title == title


def test_a_description_needs_at_least_twenty_characters() -> None:
    assert errors_of(description="too short to embed") == ["description"]
    assert PostingIn(**{**VALID, "description": "x" * 20}).description == "x" * 20


def test_title_and_description_are_required() -> None:
    with pytest.raises(ValidationError) as caught:
        PostingIn()  # type: ignore[call-arg]
    assert sorted(".".join(map(str, e["loc"])) for e in caught.value.errors()) == [
        "description",
        "title",
    ]


def test_experience_level_must_be_one_of_the_known_levels() -> None:
    assert errors_of(experience_level="wizard") == ["experience_level"]
    assert PostingIn(**{**VALID, "experience_level": "lead"}).experience_level == "lead"


def test_status_must_be_active_closed_or_draft() -> None:
    assert errors_of(status="archived") == ["status"]
    for status in ("active", "closed", "draft"):
        assert PostingIn(**{**VALID, "status": status}).status == status


def test_a_salary_minimum_above_its_maximum_is_rejected() -> None:
    assert errors_of(salary={"min": 90_000, "max": 60_000}) == ["salary"]
    ok = PostingIn(**{**VALID, "salary": {"min": 60_000, "max": 60_000, "currency": "EUR"}})
    assert ok.salary is not None and ok.salary.min == ok.salary.max == 60_000


def test_a_negative_salary_is_rejected() -> None:
    assert errors_of(salary={"min": -1}) == ["salary.min"]


@pytest.mark.parametrize("bad_id", ["", "-starts-with-dash", "has space", "a/b", "x" * 65, "é1"])
def test_an_id_outside_the_allowed_pattern_is_rejected(bad_id: str) -> None:
    assert errors_of(id=bad_id) == ["id"]


@pytest.mark.parametrize("good_id", ["1", "job-123_x.y:z", "A" * 64])
def test_ids_matching_the_pattern_are_accepted(good_id: str) -> None:
    assert PostingIn(**{**VALID, "id": good_id}).id == good_id


def test_too_many_tags_are_rejected() -> None:
    assert errors_of(tags=[f"t{i}" for i in range(51)]) == ["tags"]


def test_a_naive_expiry_is_taken_as_utc() -> None:
    posting = PostingIn(**{**VALID, "expires_at": datetime(2030, 1, 1, 9, 0)})
    assert posting.expires_at == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def test_unknown_fields_are_ignored() -> None:
    posting = PostingIn(**{**VALID, "salary_secret": "x"})
    assert "salary_secret" not in posting.model_dump()


def test_a_patch_may_be_empty_and_records_only_the_fields_sent() -> None:
    assert PostingPatch().model_fields_set == set()
    patch = PostingPatch(salary={"min": 1, "max": 2})
    assert patch.model_fields_set == {"salary"}
    with pytest.raises(ValidationError):
        PostingPatch(title="ab")


@pytest.mark.parametrize("city", ["Remote", "remote", "Fully remote", "Home-Office", "zdalnie"])
def test_a_city_that_means_remote_becomes_the_remote_flag(city: str) -> None:
    posting = PostingIn(
        title="Data Engineer",
        description="Build data pipelines in Python.",
        location={"city": city},
    )

    assert posting.location is not None
    assert posting.location.city is None and posting.location.remote is True


def test_a_real_city_stays_a_city() -> None:
    posting = PostingIn(
        title="Data Engineer",
        description="Build data pipelines in Python.",
        location={"city": "Remscheid"},
    )

    assert posting.location is not None
    assert (posting.location.city, posting.location.remote) == ("Remscheid", False)


def _clean_text_as_first_written(value: str) -> str:
    """clean_text before its shortcuts (each regex on every text, spacing per line): the
    oracle the shortcuts must match character for character."""
    spaces = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = cleaning._SCRIPT_STYLE.sub(" ", value)
    value = cleaning._BLOCK_TAG.sub("\n", value)
    value = cleaning._TAG.sub(" ", value)
    value = html.unescape(value)
    value = cleaning._MARKDOWN.sub("", value)
    value = cleaning._EMOJI.sub(" ", value)
    value = "".join(
        ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    value = unicodedata.normalize("NFC", value)
    lines = [spaces.sub(" ", line).strip() for line in value.split("\n")]
    return cleaning._NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def test_the_cleaning_shortcuts_change_no_text() -> None:
    pieces = [
        "Spawacz",
        "łódź",
        "naïve",
        " ",
        "  ",
        "\t",
        "\u00a0",
        "\u2003",
        "\u200b",
        "\u3000",
        "\n",
        "\n\n\n",
        "\r\n",
        "**",
        "__",
        "`",
        "```",
        "# ",
        "## ",
        "- ",
        "* ",
        "+ ",
        "-",
        "*",
        "+",
        "#",
        "1.",
        "<b>",
        "<br>",
        "</p>",
        "&amp;",
        "\U0001f600",
        "\u2764\ufe0f",
        "\u200d",
        "\U0001f1f5\U0001f1f1",
        "\x1c",
        "\u00ad",
        "e\u0301",
        "x",
        "ok.",
    ]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(4000)]
    texts += [posting["description"] for posting in generate_postings(60, 5, "clean")]
    for text in texts:
        assert clean_text.__wrapped__(text) == _clean_text_as_first_written(text), repr(text)
