"""Where the current time comes from.

Code that reads the time takes a `Clock` (defaulting to `system_clock`) so a test can move time
forward with a `ManualClock` instead of sleeping until a lease expires or a retry is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from jobsim.storage.types import utcnow

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time as a timezone-aware UTC datetime."""

system_clock: Clock = utcnow


class ManualClock:
    """A test double: a clock that stands still until the test moves it.

    It starts at the real current time (or `start`), so rows it stamps sort sensibly against
    rows stamped by the system clock.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = system_clock() if start is None else _as_utc(start)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move time forward by `seconds`; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock only advances; use set() to go back")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (an aware datetime), forwards or backwards."""
        self._now = _as_utc(when)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return value.astimezone(UTC)
