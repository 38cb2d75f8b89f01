"""One read statement on the event loop, for the API's hottest read on PostgreSQL.

A cached similar list is one indexed SELECT. Through the synchronous engine it cost a thread
hop per request (the event loop must not wait on the network), and the hop cost more CPU than
the read (docs/performance.md, "Serving"). Here psycopg's own asyncio driver runs it on the
loop, on connections the loop keeps (closed at shutdown).

The statement is compiled once for the PostgreSQL dialect (jobsim.storage.compiled_reads), so
a row reads exactly as the engine would give it (UTC datetimes whatever the server's time
zone). SQLite needs no connection of the loop's own: its reads are a local file, read on the
loop directly (compiled_reads.inline_rows).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect

from jobsim.storage.compiled_reads import CompiledRead, CompiledReads
from jobsim.storage.engine import POOL_SIZE, Database

log = logging.getLogger("jobsim.storage")


class ReadUnavailable(Exception):
    """The read could not run here (the server unreachable, a connection broken twice): the
    caller answers through the synchronous engine instead, which reports it the usual way."""


class AsyncReads:
    """Runs read-only SELECTs for a PostgreSQL `Database` on the running event loop.

    Connections are kept like the engine's pool keeps them: up to `keep` idle ones are reused,
    and a request that finds none idle opens one of its own rather than wait, so a server that
    is down fails the read at once (connection refused), not after a wait for a free one."""

    def __init__(self, db: Database, *, keep: int = POOL_SIZE) -> None:
        if db.is_sqlite:
            raise ValueError("AsyncReads is for PostgreSQL; SQLite reads run inline")
        self.dialect: Dialect = db.engine.dialect
        # The engine's own connection arguments (host, user, options such as search_path).
        _, connect = self.dialect.create_connect_args(db.engine.url)
        self._connect: dict[str, Any] = {**connect, "autocommit": True}
        self._keep = keep
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._compiled = CompiledReads(self.dialect)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def rows(self, statement: Select[Any], params: dict[str, Any]) -> list[Any]:
        """The statement's rows (attribute access by column key), one statement in its own
        snapshot. When a kept connection turns out broken (the server restarted), every kept
        one is dropped and the read tried once more on a new one; ReadUnavailable when that
        fails too, or when no connection can be opened."""
        compiled = self._compiled.get(statement)
        values = compiled.parameters(params)
        reused = bool(self._idle)
        try:
            return await self._run(compiled, values)
        except psycopg.OperationalError as error:
            if not reused:
                raise ReadUnavailable(str(error)) from error
            log.info("a kept read connection was broken; opening new ones")
            await self.close()
        except psycopg.Error as error:  # e.g. a schema this code does not know
            raise ReadUnavailable(str(error)) from error
        try:
            return await self._run(compiled, values)
        except psycopg.Error as error:
            raise ReadUnavailable(str(error)) from error

    async def _run(self, compiled: CompiledRead, values: dict[str, Any] | list[Any]) -> list[Any]:
        connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = await psycopg.AsyncConnection.connect(**self._connect)
        try:
            cursor = await connection.execute(compiled.sql, values)
            rows = compiled.rows(lambda: cursor.description or (), await cursor.fetchall())
        except BaseException:
            await connection.close()
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await connection.close()
        return rows
