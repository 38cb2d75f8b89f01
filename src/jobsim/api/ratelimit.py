"""Events per client per minute, kept in this process: free-text match requests (so one client
cannot monopolise the model that embeds them) and failed admin logins. Behind a reverse proxy,
run uvicorn with --forwarded-allow-ips so the client is the caller and not the proxy."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from fastapi import Request

WINDOW_SECONDS = 60.0
_PRUNE_EVERY = 1000  # requests between sweeps of clients that went quiet


class RequestRate:
    """At most `limit` requests per client over the last `window` seconds."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._requests: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._since_prune = 0

    def take(self, client: str) -> int | None:
        """Count a request; None when it may go ahead, else the seconds to wait (it is then
        not counted)."""
        with self._lock:
            wait = self._wait(client, time.monotonic())
            if wait is None:
                self._requests[client].append(time.monotonic())
            return wait

    def retry_after(self, client: str) -> int | None:
        """The seconds this client must wait, or None, without counting anything."""
        with self._lock:
            return self._wait(client, time.monotonic())

    def record(self, client: str) -> None:
        """Count one event (e.g. a failed login) without asking whether it was allowed."""
        with self._lock:
            self._wait(client, time.monotonic())
            self._requests[client].append(time.monotonic())

    def _wait(self, client: str, now: float) -> int | None:
        self._prune(now)
        recent = self._requests.setdefault(client, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            return max(math.ceil(recent[0] + self.window - now), 1)
        return None

    def _prune(self, now: float) -> None:
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        quiet = [
            c for c, times in self._requests.items() if not times or times[-1] <= now - self.window
        ]
        for client in quiet:
            del self._requests[client]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
