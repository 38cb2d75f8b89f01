"""Structured logging (JSON lines, or key=value text for people) with a trace id that follows a
posting from its HTTP request through its task to the worker. Every string is sanitized."""

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


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's message, trace id and extra fields, every string sanitized."""
    entry: dict[str, Any] = {"msg": sanitize(record.getMessage())}
    trace_id = getattr(record, "trace_id", None) or _trace_id.get()
    if trace_id:
        entry["trace_id"] = trace_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD and key != "trace_id":
            entry[key] = _clean(value)
    if record.exc_info:
        entry["error"] = sanitize(logging.Formatter().formatException(record.exc_info))
    return entry


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, trace_id and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            **_fields(record),
        }
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people: time, level, logger, message, then key=value pairs (trace id first)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        message = fields.pop("msg")
        error = fields.pop("error", None)
        pairs = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        line = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname:<7} "
        line += f"{record.name}: {message}" + (f"  {pairs}" if pairs else "")
        return line + (f"\n{error}" if error else "")


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if any(c.isspace() for c in text) or not text else text


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


def configure_logging(level: str = "INFO", *, fmt: str = "json", stream: Any = None) -> None:
    """Send jobsim's logs to stderr as JSON lines or text lines (idempotent)."""
    root = logging.getLogger("jobsim")
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_jobsim", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    handler._jobsim = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
