"""Engine and session factory: SQLite (WAL, busy timeout, BEGIN IMMEDIATE writes) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from jobsim.errors import ConfigurationError
from jobsim.storage.compiled_reads import CompiledReads, inline_rows

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CHECKPOINT_PAGES = 10_000
# Connections a process keeps open, and how many more it opens (and closes on return) while
# more are in use. Past POOL_SIZE concurrent requests, every request opened a connection of its
# own (a new server process on PostgreSQL): an API process serving 8 clients needs 8.
POOL_SIZE = 10
MAX_OVERFLOW = 10
SIMILARITY_LOCK_KEY = 7_318_201  # pg_advisory_xact_lock key serialising similar-list writes


def _normalise_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_CHECKPOINT_PAGES * 4096}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later writes can
        # fail with SQLITE_BUSY immediately instead of waiting on busy_timeout.
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str, *, pool_size: int = POOL_SIZE) -> Engine:
    """Create an engine for a SQLite file or a PostgreSQL server."""
    url = _normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database
        if not database or database == ":memory:":
            raise ConfigurationError("SQLite needs a file path, e.g. sqlite:///jobsim.db")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=MAX_OVERFLOW,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(
            url, pool_size=pool_size, max_overflow=MAX_OVERFLOW, pool_pre_ping=True
        )
    raise ConfigurationError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


class Database:
    """One engine plus session factories for writes (locking) and reads (non-locking)."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        self._write_sessions = sessionmaker(self.engine, expire_on_commit=False)
        read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._read_sessions = sessionmaker(read_engine, expire_on_commit=False)
        # PostgreSQL's read_rows: one statement is its own snapshot, run without BEGIN and
        # ROLLBACK, two round trips of the three a cached similar list took
        # (docs/performance.md). SQLite's runs on the driver (compiled_reads.inline_rows).
        self._statement_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._compiled_reads = CompiledReads(self.engine.dialect)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that will write; commits on success, rolls back on any error."""
        with self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only snapshot; never takes the SQLite write lock."""
        with self._read_sessions() as session, session.begin():
            yield session

    def read_rows(self, statement: Select[Any], params: dict[str, Any]) -> Sequence[Any]:
        """The rows of one read-only SELECT, its own snapshot: the hot read of the serving
        path. SQLite runs it compiled once on a driver connection (compiled_reads: half the
        engine's cost); PostgreSQL through the engine without BEGIN and ROLLBACK."""
        if self.is_sqlite:
            return inline_rows(self.engine, self._compiled_reads.get(statement), params)
        with self._statement_engine.connect() as connection:
            return connection.execute(statement, params).all()

    def lock_similarity(self, session: Session) -> None:
        """Serialise similar-list writers across processes for the rest of this transaction.

        SQLite's BEGIN IMMEDIATE already holds the single write lock; PostgreSQL takes an
        advisory transaction lock so list updates of concurrent workers never interleave.
        """
        if not self.is_sqlite:
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": SIMILARITY_LOCK_KEY}
            )

    def ping(self) -> None:
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def affected_rows(result: object) -> int:
    """Rows an UPDATE/DELETE touched (CursorResult.rowcount, typed loosely by SQLAlchemy)."""
    return int(getattr(result, "rowcount", 0) or 0)
