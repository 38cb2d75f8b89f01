"""Settings an operator changes while jobsim runs (the log level, the serving model). The value
lives in the database, so every API and worker process picks it up; each checks at most once
per interval."""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal, get_args

from sqlalchemy.orm import Session

from jobsim.errors import ValidationFailed
from jobsim.storage.engine import Database
from jobsim.storage.models import RuntimeSetting
from jobsim.storage.types import utcnow

LOG_LEVEL = "log_level"
# The vector model whose lists are served, recorded by a model switch (jobsim.model_switch).
SERVING_MODEL = "serving_model"
LogLevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[LogLevelName, ...] = get_args(LogLevelName)


def read(session: Session, name: str) -> str | None:
    row = session.get(RuntimeSetting, name)
    return row.value if row is not None else None


def write(session: Session, name: str, value: str) -> None:
    session.merge(RuntimeSetting(name=name, value=value, updated_at=utcnow()))


def checked_level(level: str) -> LogLevelName:
    for known in LOG_LEVELS:
        if level.strip().upper() == known:
            return known
    raise ValidationFailed(f"log level must be one of {', '.join(LOG_LEVELS)}")


def apply_log_level(level: str) -> None:
    logging.getLogger("jobsim").setLevel(level)


def current_log_level() -> LogLevelName:
    return checked_level(logging.getLevelName(logging.getLogger("jobsim").getEffectiveLevel()))


class LogLevelFollower:
    """Applies the stored log level in this process, reading it at most every `interval` s."""

    def __init__(self, db: Database, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self._next_check = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        return time.monotonic() >= self._next_check

    def follow(self) -> None:
        with self._lock:
            if not self.due():
                return
            self._next_check = time.monotonic() + self.interval
        with self.db.read() as session:
            level = read(session, LOG_LEVEL)
        if level is not None and level != current_log_level():
            apply_log_level(level)
