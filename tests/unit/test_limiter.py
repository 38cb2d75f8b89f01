from __future__ import annotations

import threading

import pytest

from jobsim.embedders.limiter import RateLimiter, estimate_tokens
from jobsim.errors import RateLimited
from tests.support.fake_clock import FakeClock


def limiter(clock: FakeClock, rpm: int = 0, tpm: int = 0, max_wait: float = 60.0) -> RateLimiter:
    return RateLimiter(rpm, tpm, max_wait=max_wait, clock=clock, sleep=clock.sleep)


def test_an_unlimited_limiter_never_sleeps() -> None:
    clock = FakeClock()
    unlimited = limiter(clock)
    for _ in range(1000):
        unlimited.acquire(10_000)
    assert clock.sleeps == []


def test_requests_per_minute_allows_n_requests_then_waits_for_the_oldest_to_leave() -> None:
    clock = FakeClock()
    rpm = limiter(clock, rpm=3)
    for _ in range(3):
        rpm.acquire()
        clock.advance(10)
    assert clock.sleeps == []
    rpm.acquire()
    assert clock.sleeps == [pytest.approx(30.0)]  # first request was at t=0, now is t=30


def test_requests_spread_over_more_than_a_minute_do_not_wait() -> None:
    clock = FakeClock()
    rpm = limiter(clock, rpm=2)
    for _ in range(10):
        rpm.acquire()
        clock.advance(30)
    assert clock.sleeps == []


def test_tokens_per_minute_waits_until_enough_tokens_have_left_the_window() -> None:
    clock = FakeClock()
    tpm = limiter(clock, tpm=1000)
    tpm.acquire(400)
    clock.advance(5)
    tpm.acquire(400)
    clock.advance(5)
    tpm.acquire(400)  # 1200 > 1000: the first 400 must leave, at t=60
    assert clock.sleeps == [pytest.approx(50.0)]


def test_a_request_bigger_than_the_whole_token_budget_goes_through_alone() -> None:
    clock = FakeClock()
    tpm = limiter(clock, tpm=100)
    tpm.acquire(5000)
    assert clock.sleeps == []
    tpm.acquire(1)
    assert clock.sleeps == [pytest.approx(60.0)]


def test_both_budgets_apply_and_the_longer_wait_wins() -> None:
    clock = FakeClock()
    both = limiter(clock, rpm=10, tpm=100)
    both.acquire(90)
    clock.advance(20)
    both.acquire(5)
    clock.advance(20)
    both.acquire(50)  # rpm is fine, tpm needs the 90 to go: wait until t=60
    assert clock.sleeps == [pytest.approx(20.0)]


def test_pause_for_makes_the_next_acquire_wait_until_the_pause_ends() -> None:
    clock = FakeClock()
    paused = limiter(clock)
    paused.pause_for(7)
    assert paused.pause_remaining() == pytest.approx(7.0)
    paused.acquire()
    assert clock.sleeps == [pytest.approx(7.0)]
    paused.acquire()
    assert clock.sleeps == [pytest.approx(7.0)]


def test_the_longest_pause_wins() -> None:
    clock = FakeClock()
    paused = limiter(clock)
    paused.pause_for(20)
    paused.pause_for(5)
    assert paused.pause_remaining() == pytest.approx(20.0)


def test_a_pause_longer_than_max_wait_raises_rate_limited_with_the_remaining_time() -> None:
    clock = FakeClock()
    paused = limiter(clock, max_wait=30)
    paused.pause_for(120)
    clock.advance(20)
    with pytest.raises(RateLimited) as caught:
        paused.acquire()
    assert caught.value.retry_after == pytest.approx(100.0)
    assert clock.sleeps == []


def test_concurrent_acquires_all_complete_and_respect_the_rate() -> None:
    clock = FakeClock()
    rpm = limiter(clock, rpm=5)
    start = clock()
    threads = [threading.Thread(target=rpm.acquire) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    # 20 requests at 5 per minute need at least three further windows after the first.
    assert clock() - start >= 180.0


def test_estimate_tokens_counts_about_four_characters_per_token() -> None:
    assert estimate_tokens(["a" * 400]) == 100
    assert estimate_tokens(["abc", "abcde", ""]) == 1 + 2 + 1


def test_negative_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1, 0)
