"""VectorIndex: the context bonus, top-N selection and the reverse-insertion check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import numpy as np
import pytest

from jobsim.context_bonus import JOB_BONUS, ContextBonus
from jobsim.postings.schema import EXPERIENCE_LEVELS
from jobsim.row_facts import PostingMeta, RowFacts
from jobsim.similarity import ScoringConfig, VectorIndex, kth_largest_bound

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def with_cosine(cos: float) -> np.ndarray:
    """A unit vector in 2-D whose cosine with (1, 0) is `cos`."""
    return np.array([cos, np.sqrt(max(1.0 - cos * cos, 0.0))], dtype=np.float32)


def context_of(seed: PostingMeta, other: PostingMeta) -> float:
    index = VectorIndex(dims=2)
    index.upsert("other", unit(1, 0), other)
    return float(index.context_scores(seed)[0])


# --- the context bonus ---------------------------------------------------------------------
# Location unknown on both sides adds 0.1 and no category adds 0, so the level part is
# context - 0.1 in the tests below.


@pytest.mark.parametrize(
    ("seed_level", "other_level", "expected"),
    [
        ("mid", "mid", 0.5),
        ("mid", "senior", 0.3),
        ("mid", "junior", 0.3),
        ("mid", "lead", 0.1),
        ("mid", "entry", 0.1),
        ("mid", "executive", 0.0),
        ("entry", "executive", 0.0),
        (None, "senior", 0.25),
        ("senior", None, 0.25),
        (None, None, 0.25),
        ("intern", "mid", 0.25),  # a level outside the scale counts as unknown
    ],
)
def test_the_experience_part_depends_on_the_distance_between_levels(
    seed_level: str | None, other_level: str | None, expected: float
) -> None:
    score = context_of(
        PostingMeta(experience_level=seed_level), PostingMeta(experience_level=other_level)
    )
    assert score == pytest.approx(expected + 0.1, abs=1e-6)


def test_the_same_category_adds_point_three_ignoring_case_and_spaces() -> None:
    same = context_of(PostingMeta(category="Engineering"), PostingMeta(category=" engineering "))
    other = context_of(PostingMeta(category="Engineering"), PostingMeta(category="Sales"))
    unknown = context_of(PostingMeta(category=None), PostingMeta(category=None))
    assert same == pytest.approx(0.25 + 0.3 + 0.1, abs=1e-6)
    assert other == pytest.approx(0.25 + 0.1, abs=1e-6)
    assert unknown == pytest.approx(0.25 + 0.1, abs=1e-6)


@pytest.mark.parametrize(
    ("seed", "other", "expected"),
    [
        (PostingMeta(city="Berlin"), PostingMeta(city="berlin"), 0.2),
        (PostingMeta(city="Berlin"), PostingMeta(city="Munich"), 0.0),
        (PostingMeta(city="Berlin", remote=True), PostingMeta(city="Munich", remote=True), 0.2),
        (PostingMeta(remote=True), PostingMeta(remote=True), 0.2),
        (PostingMeta(city="Berlin", remote=True), PostingMeta(city="Munich"), 0.1),
        (PostingMeta(city="Berlin"), PostingMeta(city="Munich", remote=True), 0.1),
        (PostingMeta(city="Berlin"), PostingMeta(city=None), 0.1),
        (PostingMeta(city=None), PostingMeta(city="Berlin"), 0.1),
        (PostingMeta(city=None), PostingMeta(city=None), 0.1),
    ],
)
def test_the_location_part_rewards_the_same_city_or_both_remote(
    seed: PostingMeta, other: PostingMeta, expected: float
) -> None:
    assert context_of(seed, other) == pytest.approx(0.25 + expected, abs=1e-6)


def test_a_full_context_match_scores_one_and_never_more() -> None:
    meta = PostingMeta(category="Engineering", city="Berlin", experience_level="senior")
    assert context_of(meta, meta) == pytest.approx(1.0, abs=1e-6)
    assert context_of(meta, meta) <= 1.0


def test_context_scores_are_computed_against_every_row_at_once() -> None:
    index = VectorIndex(dims=2)
    seed = PostingMeta(category="Data", city="Paris", experience_level="mid")
    index.upsert("a", unit(1, 0), seed)
    index.upsert(
        "b", unit(0, 1), PostingMeta(category="Sales", city="Rome", experience_level="lead")
    )
    assert index.context_scores(seed).tolist() == pytest.approx([1.0, 0.1], abs=1e-6)


def test_the_score_is_the_weighted_sum_of_semantic_and_context() -> None:
    index = VectorIndex(dims=2)
    index.upsert("a", with_cosine(0.6), PostingMeta(category="Data"))
    config = ScoringConfig(weight_semantic=0.7, weight_context=0.3)
    score, semantic, context = index.score_all(unit(1, 0), PostingMeta(category="Data"), config)
    assert semantic[0] == pytest.approx(0.6, abs=1e-6)
    assert context[0] == pytest.approx(0.25 + 0.3 + 0.1, abs=1e-6)
    assert score[0] == pytest.approx(0.7 * 0.6 + 0.3 * 0.65, abs=1e-6)


# --- top-N ---------------------------------------------------------------------------------


def _semantic_index(cosines: dict[str, float], **metas: PostingMeta) -> VectorIndex:
    index = VectorIndex(dims=2)
    for posting_id, cos in cosines.items():
        index.upsert(posting_id, with_cosine(cos), metas.get(posting_id, PostingMeta()))
    return index


SEMANTIC_ONLY = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=10, min_score=0.3)


def test_top_n_returns_the_best_matches_first() -> None:
    index = _semantic_index({"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.8})
    matches = index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW, limit=3)
    assert [m.posting_id for m in matches] == ["b", "d", "c"]
    assert [m.score for m in matches] == pytest.approx([0.9, 0.8, 0.7], abs=1e-6)
    assert all(m.semantic == pytest.approx(m.score, abs=1e-6) for m in matches)


def test_top_n_breaks_ties_by_insertion_order() -> None:
    index = _semantic_index({"z": 0.8, "a": 0.8, "m": 0.8})
    matches = index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW)
    assert [m.posting_id for m in matches] == ["z", "a", "m"]


def test_top_n_drops_matches_below_the_minimum_score() -> None:
    index = _semantic_index({"a": 0.29, "b": 0.31, "c": -0.9})
    matches = index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW)
    assert [m.posting_id for m in matches] == ["b"]


def test_top_n_leaves_out_excluded_unlisted_and_expired_postings() -> None:
    index = _semantic_index(
        {"self": 1.0, "closed": 0.95, "expired": 0.9, "later": 0.85, "ok": 0.8},
        closed=PostingMeta(listed=False),
        expired=PostingMeta(expires_at=NOW - timedelta(seconds=1)),
        later=PostingMeta(expires_at=NOW + timedelta(days=1)),
    )
    matches = index.top_n(
        unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW, exclude=["self", "not-in-index"]
    )
    assert [m.posting_id for m in matches] == ["later", "ok"]


def test_a_posting_expiring_exactly_now_is_no_longer_a_candidate() -> None:
    index = _semantic_index({"a": 0.9}, a=PostingMeta(expires_at=NOW))
    assert index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW) == []


def test_top_n_defaults_to_the_configured_list_size() -> None:
    index = _semantic_index({f"p{i}": 0.5 + i / 100 for i in range(20)})
    config = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=4, min_score=0.0)
    matches = index.top_n(unit(1, 0), PostingMeta(), config, NOW)
    assert [m.posting_id for m in matches] == ["p19", "p18", "p17", "p16"]


def test_an_empty_index_has_no_matches() -> None:
    assert VectorIndex(dims=2).top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW) == []


def test_updating_meta_takes_a_posting_out_of_and_back_into_results() -> None:
    index = _semantic_index({"a": 0.9, "b": 0.8})
    index.set_meta("a", PostingMeta(listed=False))
    assert [m.posting_id for m in index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW)] == [
        "b"
    ]
    index.set_meta("a", PostingMeta())
    index.set_meta("unknown", PostingMeta())  # ignored
    assert [m.posting_id for m in index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW)] == [
        "a",
        "b",
    ]


def test_upserting_an_existing_posting_replaces_its_vector_in_place() -> None:
    index = _semantic_index({"a": 0.9, "b": 0.8})
    index.upsert("a", with_cosine(0.1), PostingMeta())
    assert len(index) == 2
    assert index.vector("a") == pytest.approx(with_cosine(0.1))
    matches = index.top_n(unit(1, 0), PostingMeta(), SEMANTIC_ONLY, NOW)
    assert [m.posting_id for m in matches] == ["b"]


def test_a_vector_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        VectorIndex(dims=3).upsert("a", unit(1, 0), PostingMeta())


def test_the_index_grows_beyond_its_initial_capacity_without_losing_rows() -> None:
    index = VectorIndex(dims=3, capacity=2)
    rng = np.random.default_rng(0)
    vectors = {f"p{i}": unit(*rng.normal(size=3)) for i in range(7)}
    for i, (posting_id, vector) in enumerate(vectors.items()):
        meta = PostingMeta(city="Berlin" if i % 2 else "Paris", listed=i != 3)
        index.upsert(posting_id, vector, meta)
    assert len(index) == 7
    assert index.matrix.shape == (7, 3)
    for i, (posting_id, vector) in enumerate(vectors.items()):
        assert index.vector(posting_id) == pytest.approx(vector)
        assert index.meta(posting_id).listed == (i != 3)
    config = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=10, min_score=-1.0)
    matches = index.top_n(vectors["p5"], PostingMeta(), config, NOW, exclude=["p5"])
    assert {m.posting_id for m in matches} == {"p0", "p1", "p2", "p4", "p6"}
    assert matches[0].score == max(m.score for m in matches)
    context = index.context_scores(PostingMeta(city="Berlin"))
    assert context.tolist() == pytest.approx([0.25 + (0.2 if i % 2 else 0.0) for i in range(7)])


def test_reserving_room_changes_no_row_and_no_answer() -> None:
    def board(reserve: int) -> VectorIndex:
        index = VectorIndex(dims=2, capacity=2)
        index.upsert("a", unit(1, 0), PostingMeta(city="Berlin", listed=True))
        index.set_list_state("a", 10, 0.999)
        index.reserve(reserve)
        index.upsert("b", unit(1, 0.1), PostingMeta(listed=True))
        return index

    reserved, grown = board(1_000), board(0)
    assert reserved.vector("a") == pytest.approx(unit(1, 0))
    assert [reserved.list_count(p) for p in "ab"] == [grown.list_count(p) for p in "ab"] == [10, 0]
    berlin = PostingMeta(city="Berlin")
    assert reserved.context_scores(berlin).tolist() == grown.context_scores(berlin).tolist()
    config = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=10, min_score=0.3)
    # "b" has no list yet, so "a" enters it; "a"'s list is full above b's score.
    assert reserved.lists_it_enters("a", config, NOW) == grown.lists_it_enters("a", config, NOW)
    assert [owner for owner, _ in reserved.lists_it_enters("a", config, NOW)] == ["b"]
    assert reserved.lists_it_enters("b", config, NOW) == []


# --- reverse insertion ---------------------------------------------------------------------


def test_a_posting_enters_lists_that_are_not_full_or_whose_floor_it_beats() -> None:
    config = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=3, min_score=0.3)
    index = VectorIndex(dims=2)
    index.upsert("new", unit(1, 0), PostingMeta())
    index.upsert("not-full", with_cosine(0.5), PostingMeta())
    index.upsert("beaten", with_cosine(0.8), PostingMeta())
    index.upsert("too-good", with_cosine(0.8), PostingMeta())
    index.upsert("unrelated", with_cosine(0.2), PostingMeta())
    index.upsert("closed", with_cosine(0.9), PostingMeta(listed=False))
    index.set_list_state("not-full", 2, None)
    index.set_list_state("beaten", 3, 0.7)
    index.set_list_state("too-good", 3, 0.85)
    index.set_list_state("unrelated", 0, None)
    enters = dict(index.lists_it_enters("new", config, NOW))
    assert set(enters) == {"not-full", "beaten"}
    assert enters["beaten"].posting_id == "new"
    assert enters["beaten"].score == pytest.approx(0.8, abs=1e-6)
    assert enters["not-full"].score == pytest.approx(0.5, abs=1e-6)


def test_a_posting_never_enters_its_own_list() -> None:
    index = _semantic_index({"a": 1.0, "b": 0.9})
    assert [owner for owner, _ in index.lists_it_enters("a", SEMANTIC_ONLY, NOW)] == ["b"]


def test_a_floor_equal_to_the_score_does_not_let_a_posting_in() -> None:
    config = ScoringConfig(weight_semantic=1.0, weight_context=0.0, top_n=1, min_score=0.0)
    index = VectorIndex(dims=2)
    index.upsert("new", unit(1, 0), PostingMeta())
    index.upsert("owner", with_cosine(0.5), PostingMeta())
    index.set_list_state("owner", 1, float(np.float32(index.matrix[1] @ index.matrix[0])))
    assert index.lists_it_enters("new", config, NOW) == []


def test_lists_never_mix_listing_types() -> None:
    index = VectorIndex(2)
    index.upsert("job", unit(1, 0), PostingMeta())
    index.upsert("other-job", with_cosine(0.8), PostingMeta())
    index.upsert("bakery", with_cosine(0.99), PostingMeta(listing_type="business"))
    config = ScoringConfig(min_score=0.0)

    assert [
        m.posting_id for m in index.top_n(unit(1, 0), PostingMeta(), config, NOW, exclude=["job"])
    ] == ["other-job"]
    business = PostingMeta(listing_type="business")
    assert [m.posting_id for m in index.top_n(unit(1, 0), business, config, NOW)] == ["bakery"]
    assert [owner for owner, _ in index.lists_it_enters("job", config, NOW)] == ["other-job"]


def test_a_query_for_a_city_no_posting_has_matches_none_and_leaves_the_codes_alone() -> None:
    index = VectorIndex(2)
    index.upsert("berlin", unit(1, 0), PostingMeta(city="Berlin", company="Acme"))
    index.upsert("remote", with_cosine(0.5), PostingMeta(remote=True, company="Other"))
    codes_before = len(index.facts._strings._codes)

    nowhere = index.context_scores(PostingMeta(city="Atlantis", category="Unheard of"))

    assert len(index.facts._strings._codes) == codes_before
    assert list(index.filtered(city="Atlantis")) == [False, False]
    assert list(index.filtered(city="berlin ")) == [True, False]
    assert list(index.filtered(remote_only=True)) == [False, True]
    assert list(index.filtered(exclude_company="ACME")) == [False, True]
    assert nowhere[0] == pytest.approx(0.25)  # unknown level only: different cities, no category


def test_the_context_table_gives_bit_for_bit_the_sum_of_the_parts_for_every_kind_of_query() -> None:
    rng = np.random.default_rng(3)
    categories, cities, regions = [None, "a", "b"], [None, "x", "y"], [None, "r1", "r2"]
    levels = [None, *EXPERIENCE_LEVELS]
    index = VectorIndex(4, capacity=600)
    for i in range(600):
        meta = PostingMeta(
            category=categories[rng.integers(3)],
            city=cities[rng.integers(3)],
            region=regions[rng.integers(3)],
            remote=bool(rng.integers(2)),
            experience_level=levels[rng.integers(len(levels))],
        )
        index.upsert(f"p{i}", np.ones(4, dtype=np.float32) / 2, meta)
    odd = ContextBonus(0.1, 0.05, 0.01, 0.2, 0.4, same_city=0.3, near=0.2, same_region=0.25)
    rows = rng.integers(0, 600, 40)
    for bonus, category, city, region, remote, level in product(
        (JOB_BONUS, odd), [*categories, "new"], [*cities, "new"], regions, (False, True), levels
    ):
        query = PostingMeta(
            category=category, city=city, region=region, remote=remote, experience_level=level
        )
        parts = index.context_parts(query, bonus)
        summed = np.minimum(
            parts["experience_level"] + parts["category"] + parts["location"], np.float32(1.0)
        )
        assert index.context_scores(query, bonus).tobytes() == summed.tobytes()
        assert index.context_scores(query, bonus, rows).tobytes() == summed[rows].tobytes()


# --- scoring only the rows that can reach the minimum ---------------------------------------


def _clustered_board(rng: np.random.Generator, rows: int) -> VectorIndex:
    """Unit vectors around a few centres (so most pairs score low and a few high), with varied
    metadata, some unlisted rows and lists at every stage of filling."""
    centres = rng.standard_normal((6, 16)).astype(np.float32)
    index = VectorIndex(16, capacity=rows)
    for i in range(rows):
        vector = centres[i % 6] + 0.9 * rng.standard_normal(16).astype(np.float32)
        meta = PostingMeta(
            category=f"c{rng.integers(3)}",
            city=[None, "x", "y"][rng.integers(3)],
            remote=bool(rng.integers(2)),
            experience_level=[None, *EXPERIENCE_LEVELS][rng.integers(len(EXPERIENCE_LEVELS) + 1)],
            listed=bool(rng.random() > 0.1),
        )
        index.upsert(f"p{i}", (vector / np.linalg.norm(vector)).astype(np.float32), meta)
        count = int(rng.integers(0, 4))
        index.set_list_state(f"p{i}", count, float(rng.uniform(0.3, 0.9)) if count else None)
    return index


def _every_row_top_n(
    index: VectorIndex, posting_id: str, config: ScoringConfig, *, itself: bool = False
) -> list[str]:
    """The top-N scored over every row; the query's own row excluded unless `itself`."""
    score, semantic, context = index.score_all(
        index.vector(posting_id), index.meta(posting_id), config
    )
    exclude = [] if itself else [posting_id]
    allowed = index.allowed(score, index.meta(posting_id), config, NOW, exclude)
    return [m.posting_id for m in index.best(score, semantic, context, allowed, config.top_n)]


def _every_row_entries(index: VectorIndex, posting_id: str, config: ScoringConfig) -> list[str]:
    scores = index.score_all(index.vector(posting_id), index.meta(posting_id), config)
    return [owner for owner, _ in index.entries(posting_id, scores, config, NOW)]


@pytest.mark.parametrize("min_score", [-1.0, 0.3, 0.6])
def test_lists_scored_over_reachable_rows_are_those_scored_over_every_row(
    min_score: float,
) -> None:
    rng = np.random.default_rng(11)
    index = _clustered_board(rng, 600)
    config = ScoringConfig(top_n=3, min_score=min_score)
    pruned = 0
    for i in range(0, 600, 7):
        posting_id = f"p{i}"
        vector, meta = index.vector(posting_id), index.meta(posting_id)
        rows = index.score_reachable(vector, meta, config)[1]
        pruned += rows is not None
        top = index.top_n(vector, meta, config, NOW, exclude=[posting_id])
        assert [m.posting_id for m in top] == _every_row_top_n(index, posting_id, config)
        entered = [owner for owner, _ in index.lists_it_enters(posting_id, config, NOW)]
        assert entered == _every_row_entries(index, posting_id, config)
    # No minimum leaves every row reachable (all are scored); a real one leaves out some.
    assert (pruned > 0) == (min_score > 0)


def test_a_row_is_unreachable_only_when_even_the_largest_bonus_cannot_lift_it() -> None:
    config = ScoringConfig(weight_semantic=0.9, weight_context=0.1, min_score=0.5)
    index = VectorIndex(dims=2)
    index.upsert("query", unit(1, 0), PostingMeta(category="Data", city="Oslo"))
    # 0.9 * 0.45 + 0.1 * (level unknown 0.25 + category 0.3 + city 0.2) = 0.48: out of reach.
    # 0.9 * 0.48 + 0.1 * 0.75 = 0.507: reachable, and in the list with the full bonus.
    index.upsert("far", with_cosine(0.45), PostingMeta(category="Data", city="Oslo"))
    index.upsert("near", with_cosine(0.48), PostingMeta(category="Data", city="Oslo"))
    for i in range(10):  # unrelated rows, so the reachable ones are a small share
        index.upsert(f"other{i}", with_cosine(-0.5), PostingMeta())
    query = index.meta("query")
    rows = index.score_reachable(index.vector("query"), query, config)[1]
    assert rows is not None
    assert [index.ids[r] for r in rows] == ["query", "near"]
    top = index.top_n(index.vector("query"), query, config, NOW, exclude=["query"])
    assert [(m.posting_id, round(m.score, 3)) for m in top] == [("near", 0.507)]


def test_a_prepared_batch_answers_as_a_scan_does_until_a_row_changes() -> None:
    index = _clustered_board(np.random.default_rng(5), 600)
    config = ScoringConfig(top_n=3, min_score=0.3)
    batch = [f"p{i}" for i in range(580, 600)]
    index.prepare(batch)
    for posting_id in batch:  # as the worker asks: every own list first, then the entries
        top = index.top_n(index.vector(posting_id), index.meta(posting_id), config, NOW)
        assert [m.posting_id for m in top] == _every_row_top_n(
            index, posting_id, config, itself=True
        )
    entered = [owner for owner, _ in index.lists_it_enters(batch[0], config, NOW)]
    assert entered == _every_row_entries(index, batch[0], config)

    # A row leaves the board: the prepared scores are stale, and the answer follows.
    gone = entered[0]
    index.set_meta(gone, PostingMeta(listed=False))
    after = [owner for owner, _ in index.lists_it_enters(batch[0], config, NOW)]
    assert gone not in after and after == _every_row_entries(index, batch[0], config)


def test_a_large_board_ranks_and_enters_as_scoring_every_row_does() -> None:
    """Past 8,192 rows the bar a row must reach comes from chunk maxima, not a partition."""
    rng = np.random.default_rng(23)
    index = _clustered_board(rng, 12_000)
    for i in range(0, 12_000, 3):  # full lists, as on a settled board
        index.set_list_state(f"p{i}", 10, float(rng.uniform(0.5, 0.95)))
    config = ScoringConfig(top_n=10, min_score=0.3)
    for i in range(0, 12_000, 997):
        posting_id = f"p{i}"
        vector, meta = index.vector(posting_id), index.meta(posting_id)
        top = index.top_n(vector, meta, config, NOW, exclude=[posting_id])
        assert len(top) == 10
        assert [m.posting_id for m in top] == _every_row_top_n(index, posting_id, config)
        entered = [owner for owner, _ in index.lists_it_enters(posting_id, config, NOW)]
        assert entered == _every_row_entries(index, posting_id, config)


@pytest.mark.parametrize("n", [5, 300, 8_191, 8_192, 50_000])
@pytest.mark.parametrize("k", [1, 10, 200])
def test_the_kth_largest_bound_is_reached_by_k_values_and_never_above_the_kth(
    n: int, k: int
) -> None:
    rng = np.random.default_rng(n + k)
    values = rng.standard_normal(n).astype(np.float32)
    values[rng.random(n) < 0.3] = -np.inf  # rows no list may hold
    values[: min(n, 40)] = 2.5  # ties at the top
    bound = kth_largest_bound(values, k)
    if n <= k:
        assert bound == -np.inf
        return
    exact = float(np.sort(values)[::-1][k - 1])
    assert bound <= exact
    assert np.count_nonzero(values >= bound) >= k
    if n < 8_192:
        assert bound == exact  # small arrays are partitioned exactly
    else:
        assert (values >= bound).sum() < k + n // 100  # close below the k-th


def test_entry_bars_follow_every_list_state_change() -> None:
    rng = np.random.default_rng(4)
    facts = RowFacts(500)
    facts.entry_bars(10, 0.3, 500)  # built once, then kept in step
    for _ in range(2_000):
        count = int(rng.integers(0, 13))
        floor = float(rng.uniform(0.0, 0.9)) if count >= 10 or rng.random() < 0.2 else None
        facts.set_list_state(int(rng.integers(0, 500)), count, floor)
    fresh = RowFacts(500)
    fresh.list_count[:], fresh.list_floor[:] = facts.list_count, facts.list_floor
    assert facts.entry_bars(10, 0.3, 500).tobytes() == fresh.entry_bars(10, 0.3, 500).tobytes()
    full = facts.list_count >= 10
    expected = np.where(full, np.maximum(facts.list_floor, np.float32(0.3)), np.float32(0.3))
    assert facts.entry_bars(10, 0.3, 500).tolist() == expected.tolist()
    # Another list size or minimum is rebuilt from the list states, not taken from the cache.
    assert (
        facts.entry_bars(12, 0.5, 500).tolist()
        == np.where(
            facts.list_count >= 12, np.maximum(facts.list_floor, np.float32(0.5)), np.float32(0.5)
        ).tolist()
    )
