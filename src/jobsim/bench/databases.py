"""Fresh, migrated databases for one benchmark step: a SQLite file in the run's folder, or a
schema of its own on the PostgreSQL server given with --database (dropped at the end, so the
benchmark never touches the tables already there)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jobsim.bench.run import BenchRun
from jobsim.storage import migrate
from jobsim.storage.engine import Database


def sqlite_url(run: BenchRun, name: str) -> str:
    path = run.folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def schema_url(server_url: str, schema: str) -> str:
    """The server's URL with every connection's search path set to `schema`."""
    url = make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_database(run: BenchRun, name: str, server_url: str | None = None) -> Iterator[str]:
    """The URL of an empty database at the schema's head: SQLite when `server_url` is None."""
    if server_url is None:
        url = sqlite_url(run, name)
        _migrate(url)
        yield url
        return
    schema = f"jobsim_bench_{name}"
    _reset_schema(server_url, schema, create=True)
    url = schema_url(server_url, schema)
    try:
        _migrate(url)
        yield url
    finally:
        _reset_schema(server_url, schema, create=False)


def _migrate(url: str) -> None:
    db = Database(url)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()


def _reset_schema(server_url: str, schema: str, *, create: bool) -> None:
    engine = create_engine(schema_url(server_url, "public"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if create:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
