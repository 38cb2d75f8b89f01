"""RetryPolicy: a pure function from (error, attempts) to retry / delay / fail."""

from __future__ import annotations

import random

import pytest

from jobsim.errors import PermanentError, RateLimited, TransientError
from jobsim.retry import RetryDecision, RetryPolicy


def test_backoff_draws_full_jitter_between_zero_and_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_seconds=2.0, cap_seconds=1000.0)
    rng = random.Random(1234)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (6, 64.0)]:
        draws = [policy.backoff(attempt, rng) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(draws) < ceiling * 0.1
        assert max(draws) > ceiling * 0.9


def test_backoff_is_reproducible_with_a_seeded_random() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=100.0)
    first = [policy.backoff(a, random.Random(7)) for a in range(1, 8)]
    second = [policy.backoff(a, random.Random(7)) for a in range(1, 8)]
    assert first == second
    expected = random.Random(7).uniform(0.0, 8.0)
    assert policy.backoff(4, random.Random(7)) == expected


def test_backoff_never_exceeds_the_cap_even_after_many_attempts() -> None:
    policy = RetryPolicy(base_seconds=2.0, cap_seconds=30.0)
    rng = random.Random(99)
    draws = [policy.backoff(attempt, rng) for attempt in range(1, 500)]
    assert max(draws) <= 30.0
    assert max(draws) > 25.0  # the cap is the ceiling that is actually reached


def test_backoff_of_attempt_zero_uses_the_base_ceiling() -> None:
    policy = RetryPolicy(base_seconds=3.0, cap_seconds=100.0)
    rng = random.Random(5)
    assert all(0.0 <= policy.backoff(0, rng) <= 3.0 for _ in range(100))


def test_a_transient_error_is_retried_with_a_jittered_delay() -> None:
    policy = RetryPolicy(base_seconds=2.0, cap_seconds=600.0, max_attempts=5)
    decision = policy.decide(TransientError("timeout"), attempts=3, rng=random.Random(42))
    assert decision.action == "retry"
    assert decision.delay_seconds == random.Random(42).uniform(0.0, 8.0)


def test_an_unexpected_exception_is_treated_as_transient() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.decide(OSError("reset"), attempts=1, rng=random.Random(1)).action == "retry"


def test_a_permanent_error_fails_at_once() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.decide(PermanentError("bad key"), attempts=1) == RetryDecision("fail")


@pytest.mark.parametrize("attempts", [5, 6, 50])
def test_a_transient_error_on_the_last_attempt_fails(attempts: int) -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.decide(TransientError("timeout"), attempts=attempts) == RetryDecision("fail")


def test_the_attempt_before_the_last_is_still_retried() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.decide(TransientError("timeout"), attempts=4).action == "retry"


def test_rate_limited_with_retry_after_delays_exactly_that_long() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.decide(RateLimited("slow down", retry_after=30.0), attempts=1) == RetryDecision(
        "delay", 30.0
    )


def test_rate_limited_is_delayed_even_after_the_attempts_are_used_up() -> None:
    # A delay does not count the attempt, so running out of attempts must not fail it.
    policy = RetryPolicy(max_attempts=5)
    decision = policy.decide(RateLimited("slow down", retry_after=7.5), attempts=5)
    assert decision == RetryDecision("delay", 7.5)


def test_rate_limited_retry_after_is_capped() -> None:
    policy = RetryPolicy(cap_seconds=60.0)
    decision = policy.decide(RateLimited("slow down", retry_after=3600.0), attempts=1)
    assert decision == RetryDecision("delay", 60.0)


def test_rate_limited_with_a_negative_retry_after_does_not_wait() -> None:
    policy = RetryPolicy()
    assert policy.decide(RateLimited("slow down", retry_after=-5), attempts=1).delay_seconds == 0.0


def test_rate_limited_without_retry_after_delays_by_the_first_backoff() -> None:
    policy = RetryPolicy(base_seconds=4.0, cap_seconds=600.0)
    decision = policy.decide(RateLimited("slow down"), attempts=3, rng=random.Random(3))
    assert decision.action == "delay"
    assert decision.delay_seconds == random.Random(3).uniform(0.0, 4.0)
