"""The boilerplate filter: text shared word for word by many recent descriptions is dropped."""

from __future__ import annotations

import pytest

from jobsim.boilerplate import BoilerplateFilter

AGENCY = (
    "Manpower (Agencja zatrudnienia nr 412) to globalna firma o ponad 70-letnim doświadczeniu, "
    "działająca w 82 krajach."
)
JOBS = [
    "Spawacz MIG/MAG na konstrukcje stalowe, praca w hali.",
    "Magazynier z uprawnieniami UDT, obsługa wózka widłowego.",
    "Kasjer-sprzedawca w sklepie spożywczym, praca zmianowa.",
    "Księgowa z doświadczeniem w pełnej księgowości.",
    "Kierowca kat. C+E w transporcie międzynarodowym.",
    "Elektryk przemysłowy z uprawnieniami SEP do 1 kV.",
]


def agency_ads(seen: BoilerplateFilter) -> None:
    for number, job in enumerate(JOBS):
        seen.observe(f"ad-{number}", f"{AGENCY} {job}")


def test_text_shared_by_threshold_postings_is_dropped_and_the_rest_kept_in_order() -> None:
    seen = BoilerplateFilter(min_threshold=5)
    agency_ads(seen)
    assert seen.distinctive(f"{AGENCY} {JOBS[0]}") == JOBS[0]
    # Numbers are folded: the same template with other figures is still the template.
    other_numbers = AGENCY.replace("412", "77").replace("82", "90")
    assert seen.distinctive(f"{JOBS[3]} {other_numbers}") == JOBS[3]


def test_text_below_the_threshold_is_kept() -> None:
    seen = BoilerplateFilter(min_threshold=5)
    for number, job in enumerate(JOBS[:4]):
        seen.observe(f"ad-{number}", f"{AGENCY} {job}")
    text = f"{AGENCY} {JOBS[0]}"
    assert seen.distinctive(text) == " ".join(text.split())


def test_an_empty_filter_changes_nothing_but_spacing() -> None:
    assert BoilerplateFilter().distinctive("  Spawacz   MIG  ") == "Spawacz MIG"


def test_observing_a_posting_again_replaces_its_old_text() -> None:
    seen = BoilerplateFilter(min_threshold=2)
    seen.observe("a", "one two three four five")
    seen.observe("a", "one two three four five")  # the same posting, embedded again
    assert seen.distinctive("one two three four five") == "one two three four five"
    seen.observe("b", "one two three four five")
    assert seen.distinctive("one two three four five") == ""


def test_only_the_last_capacity_descriptions_count() -> None:
    seen = BoilerplateFilter(capacity=3, min_threshold=3)
    agency_ads(seen)  # six ads, only the last three are remembered
    assert len(seen) == 3
    assert seen.distinctive(AGENCY).strip() == ""
    for number in range(3):
        seen.observe(f"fresh-{number}", JOBS[number])  # the agency ads leave the window
    assert seen.distinctive(AGENCY) == " ".join(AGENCY.split())


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        BoilerplateFilter(capacity=0)
    with pytest.raises(ValueError):
        BoilerplateFilter(min_threshold=1)
    with pytest.raises(ValueError):
        BoilerplateFilter(share=1.5)


def test_in_a_large_window_text_must_be_shared_by_one_percent_of_it() -> None:
    seen = BoilerplateFilter(min_threshold=5)
    for number in range(1_000):
        seen.observe(f"other-{number}", f"Posting number {number} about job {number * 7}.")
    agency_ads(seen)  # six of 1,006 descriptions share the agency text: under 1%
    assert seen.threshold == 11
    text = f"{AGENCY} {JOBS[0]}"
    assert seen.distinctive(text) == " ".join(text.split())
    for number in range(6, 12):
        seen.observe(f"ad-{number}", f"{AGENCY} {JOBS[number % 6]}")
    assert seen.distinctive(text) == JOBS[0]


def test_a_batch_counted_and_shared_at_once_matches_counting_then_sharing() -> None:
    batch = [(f"ad-{number}", f"{AGENCY} {job}") for number, job in enumerate(JOBS)]
    one_by_one = BoilerplateFilter(min_threshold=5)
    one_by_one.observe_all(batch)
    expected = [one_by_one.kept_share(text) for _, text in batch]
    at_once = BoilerplateFilter(min_threshold=5)
    assert at_once.observe_and_share(batch) == expected
    assert 0 < expected[0] < 0.5  # the agency's introduction is most of each ad
    # Seen again, as when a worker primed from the database embeds the same postings:
    assert at_once.observe_and_share(batch) == expected
