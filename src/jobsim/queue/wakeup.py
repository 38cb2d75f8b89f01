"""Waking an idle worker when tasks are queued, instead of at its next poll.

PostgreSQL: whatever queues tasks notifies a channel inside its transaction (delivered when it
commits, dropped when it rolls back), and an idle worker listens on that channel. SQLite has no
notifications between processes: an idle worker reads the file's `data_version`, which moves
whenever another connection commits, every SQLITE_CHECK_SECONDS, and looks for work when it
moved. Either way the poll interval (Settings.poll_seconds) stays the longest an idle worker
waits: for a retry whose backoff ends, a lease that expires, or a signal the connection lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from jobsim.errors import sanitize
from jobsim.storage.dialect import is_postgresql
from jobsim.storage.engine import Database

log = logging.getLogger("jobsim.worker")

CHANNEL = "jobsim_tasks"
SQLITE_CHECK_SECONDS = 0.05
# A listener wakes at least this often to see whether its worker is stopping.
LISTEN_SLICE_SECONDS = 0.25


def notify_queued(session: Session) -> None:
    """Tell idle workers that tasks were queued in this transaction (PostgreSQL; SQLite's
    workers see the commit itself). Notifications of one transaction are delivered once."""
    if is_postgresql(session):
        session.execute(text(f"NOTIFY {CHANNEL}"))


class WorkSignal:
    """One worker's wait between empty claims: returns as soon as work may have been queued."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Any = None  # the driver's connection, outside the engine's pool
        self._version: int | None = None  # SQLite's data_version when last looked at

    def start(self) -> None:
        """Watch from now on, before the worker's first claim: work queued between an empty
        claim and the first wait still ends that wait. A failure here is retried by the wait."""
        try:
            self._connect()
        except Exception as error:
            log.warning(
                "work signal not ready; the first wait connects again",
                extra={"error": sanitize(str(error))},
            )
            self.close()

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Return when work may have been queued, when `stop` is set, or after `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            connection = self._connect()
            if self.db.is_sqlite:
                self._wait_for_commit(connection, deadline, stop)
            else:
                self._wait_for_notify(connection, deadline, stop)
        except Exception as error:
            # The signal's connection failed (a restart, a killed session): wait out the
            # interval as a plain poll, and connect again at the next wait.
            log.warning("work signal lost; this wait polls", extra={"error": sanitize(str(error))})
            self.close()
            stop.wait(max(deadline - time.monotonic(), 0.0))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                connection.close()

    def _connect(self) -> Any:
        """A connection of the signal's own, detached from the pool so it never takes a
        pooled connection for good; PostgreSQL's listens from the start, so a notification
        sent while the worker was busy is waiting for it."""
        if self._connection is None:
            pooled = self.db.engine.raw_connection()
            pooled.detach()
            connection: Any = pooled.dbapi_connection
            if self.db.is_sqlite:
                self._version = _data_version(connection)
            else:
                connection.rollback()  # out of the pool's ping, if any, before autocommit
                connection.autocommit = True
                connection.execute(f"LISTEN {CHANNEL}")
            self._connection = connection
        return self._connection

    def _wait_for_commit(self, connection: Any, deadline: float, stop: threading.Event) -> None:
        """Until another connection commits: the version is compared with the one last seen,
        so a commit made while the worker was claiming counts too."""
        while True:
            version = _data_version(connection)
            if version != self._version:
                self._version = version
                return
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(left, SQLITE_CHECK_SECONDS)):
                return

    def _wait_for_notify(self, connection: Any, deadline: float, stop: threading.Event) -> None:
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # Each generator is run to its end (list): a suspended one holds the connection.
            slice_seconds = min(left, LISTEN_SLICE_SECONDS)
            if list(connection.notifies(timeout=slice_seconds, stop_after=1)):
                # One claim answers them all: the others already delivered are dropped.
                list(connection.notifies(timeout=0.001))
                return


def _data_version(connection: Any) -> int:
    cursor = connection.execute("PRAGMA data_version")
    try:
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()
