"""RetryPolicy: a pure decision of what to do with a task whose attempt failed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from jobsim.errors import PermanentError, RateLimited

Action = Literal["retry", "fail", "delay"]


@dataclass(frozen=True)
class RetryDecision:
    """`retry`: run again after `delay_seconds`, the attempt counted. `delay`: run again after
    `delay_seconds` without counting the attempt (rate limits). `fail`: dead-letter now."""

    action: Action
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 5

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        exponent = max(attempt - 1, 0)
        ceiling = min(self.cap_seconds, self.base_seconds * (2.0 ** min(exponent, 60)))
        return (rng or random).uniform(0.0, ceiling)

    def decide(
        self, error: BaseException, attempts: int, rng: random.Random | None = None
    ) -> RetryDecision:
        """`attempts` counts the attempt that just failed (1 for the first run)."""
        if isinstance(error, RateLimited):
            wait = error.retry_after if error.retry_after is not None else self.backoff(1, rng)
            return RetryDecision("delay", min(max(wait, 0.0), self.cap_seconds))
        if isinstance(error, PermanentError):
            return RetryDecision("fail")
        if attempts >= self.max_attempts:
            return RetryDecision("fail")
        return RetryDecision("retry", self.backoff(attempts, rng))
