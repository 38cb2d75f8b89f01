"""Proactive requests-per-minute / tokens-per-minute limiting, plus the pause after a 429.

One RateLimiter is shared by every call an HTTP embedder makes. `acquire` blocks until one more
request carrying `n_tokens` fits in the last minute's budget; `pause_for` (after the provider
answered 429 with Retry-After) makes every later `acquire` wait until the pause is over. A pause
longer than `max_wait` is not slept through: `acquire` raises RateLimited at once so the worker
hands the task back to the queue instead of holding it while blocked.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from jobsim.errors import RateLimited

WINDOW_SECONDS = 60.0
CHARS_PER_TOKEN = 4


def estimate_tokens(texts: Iterable[str]) -> int:
    """A provider-neutral token estimate: about four characters per token, at least one."""
    return sum(max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) for text in texts)


class RateLimiter:
    """Sliding-window limiter over the last `window` seconds; 0 means no limit for that budget."""

    def __init__(
        self,
        requests_per_minute: int = 0,
        tokens_per_minute: int = 0,
        *,
        max_wait: float = 60.0,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute < 0 or tokens_per_minute < 0:
            raise ValueError("rate limits must be >= 0 (0 = unlimited)")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_wait = max_wait
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._events: deque[tuple[float, int]] = deque()  # (time, tokens), oldest first
        self._tokens_in_window = 0
        self._paused_until = 0.0

    def acquire(self, n_tokens: int = 0) -> None:
        """Block until one request of `n_tokens` is allowed, then record it."""
        # A single request bigger than the whole budget would never fit; let it through alone.
        tokens = min(max(n_tokens, 0), self.tokens_per_minute or n_tokens)
        while True:
            with self._lock:
                wait = self._reserve_or_wait(tokens)
            if wait <= 0:
                return
            self._sleep(wait)

    def pause_for(self, seconds: float) -> None:
        """Make every further acquire wait until `seconds` from now (longest pause wins)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    def pause_remaining(self) -> float:
        """Seconds left of the current pause, 0 when not paused."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def _reserve_or_wait(self, tokens: int) -> float:
        """Record the request and return 0, or return how long to wait before trying again."""
        now = self._clock()
        pause = self._paused_until - now
        if pause > 0:
            if pause > self.max_wait:
                raise RateLimited(f"provider rate limit: paused for {pause:.1f}s", pause)
            return pause
        self._forget_before(now - self._window)
        wait = self._wait_for_room(now, tokens)
        if wait <= 0:
            self._events.append((now, tokens))
            self._tokens_in_window += tokens
        return wait

    def _forget_before(self, cutoff: float) -> None:
        while self._events and self._events[0][0] <= cutoff:
            _, tokens = self._events.popleft()
            self._tokens_in_window -= tokens

    def _wait_for_room(self, now: float, tokens: int) -> float:
        """0 when the request fits now, else the time until enough old events leave the window."""
        excess_requests = (
            len(self._events) + 1 - self.requests_per_minute if self.requests_per_minute else 0
        )
        excess_tokens = (
            self._tokens_in_window + tokens - self.tokens_per_minute
            if self.tokens_per_minute
            else 0
        )
        if excess_requests <= 0 and excess_tokens <= 0:
            return 0.0
        freed_tokens = 0
        for freed_requests, (stamp, event_tokens) in enumerate(self._events, start=1):
            freed_tokens += event_tokens
            if freed_requests >= excess_requests and freed_tokens >= excess_tokens:
                return stamp + self._window - now
        return self._window  # unreachable given the clamp in acquire; wait a full window
