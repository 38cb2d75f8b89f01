"""Structured (JSON lines) logging with a trace id that follows a posting through the queue."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jobsim.errors import sanitize

_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def new_trace_id() -> str:
    return uuid.uuid4().hex[:16]


def current_trace_id() -> str | None:
    return _trace_id.get()


@contextmanager
def trace(trace_id: str | None) -> Iterator[str]:
    """Run a block with `trace_id` (or a fresh one) attached to every log line."""
    value = trace_id or new_trace_id()
    token = _trace_id.set(value)
    try:
        yield value
    finally:
        _trace_id.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": sanitize(record.getMessage()),
        }
        trace_id = getattr(record, "trace_id", None) or _trace_id.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "trace_id":
                entry[key] = sanitize(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = sanitize(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """Send jobsim's logs as JSON lines to stderr (idempotent)."""
    root = logging.getLogger("jobsim")
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_jobsim", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._jobsim = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
