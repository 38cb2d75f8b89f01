"""A deterministic clock for code that takes injectable `clock` and `sleep` callables."""

from __future__ import annotations

import threading


class FakeClock:
    """A clock that only moves when someone sleeps (or the test advances it); records sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
