"""A read-only SELECT compiled once for a dialect and run on a driver connection directly.

The serving path's hottest read (a cached similar list) is one indexed SELECT; run through
SQLAlchemy's engine, the engine's own work per execution (the compiled cache, the execution
context, the transaction, the rows) cost more than the read itself. Compiled here once, the
statement's SQL goes to the driver as it is, its parameters and columns through their types'
processors, so a row reads exactly as the engine would give it (UTC datetimes on both
databases). `AsyncReads` runs it on psycopg's asyncio driver (PostgreSQL), `inline_rows` on
SQLite's own connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


class CompiledRead:
    """One statement's SQL for a dialect, and how its parameters go in and its rows come out."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.statement = statement  # held, so its id is not reused while this is cached
        self.dialect = dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.defaults: dict[str, Any] = {}  # values written into the statement (a model name)
        self.bind: dict[str, Callable[[Any], Any]] = {}
        for parameter, name in compiled.bind_names.items():
            if not parameter.required:
                self.defaults[name] = parameter.effective_value
            process = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.bind[name] = process
        # The parameters' names in order where the driver takes them by position (SQLite's ?).
        self.positions = tuple(compiled.positiontup or ()) if dialect.positional else None
        self._columns = list(statement.selected_columns)
        self._row_type: Any = NamedTuple(  # type: ignore[misc]
            "Row", [(column.key or f"column_{i}", Any) for i, column in enumerate(self._columns)]
        )
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, params: dict[str, Any]) -> dict[str, Any] | list[Any]:
        """`params` with the statement's own values, each through its type's processor, in
        the form the driver takes."""
        values = dict(self.defaults)
        values.update(params)
        for name, process in self.bind.items():
            values[name] = process(values[name])
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]

    def rows(
        self, description: Callable[[], Sequence[Any]], raw_rows: Sequence[tuple[Any, ...]]
    ) -> list[Any]:
        """The driver's rows as the engine gives them (attribute access by column key). Each
        column's processor depends on the type the driver reports (`description()`, the
        cursor's: read once, psycopg builds it anew at each access), so they are chosen at the
        first result, as the engine chooses them."""
        if self._processors is None:
            every = [
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, item[1])
                for column, item in zip(self._columns, description(), strict=True)
            ]
            # Only the few columns that have one are touched (datetimes, booleans).
            self._processors = [(i, p) for i, p in enumerate(every) if p is not None]
        make = self._row_type._make
        if not self._processors:
            return [make(raw) for raw in raw_rows]
        rows = []
        for raw in raw_rows:
            values = list(raw)
            for i, process in self._processors:
                values[i] = process(values[i])
            rows.append(make(values))
        return rows


class CompiledReads:
    """Statements compiled for one dialect, each once (keyed by the statement object)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, CompiledRead] = {}

    def get(self, statement: Select[Any]) -> CompiledRead:
        found = self._compiled.get(id(statement))
        if found is None or found.statement is not statement:
            found = self._compiled[id(statement)] = CompiledRead(statement, self.dialect)
        return found


def inline_rows(engine: Engine, read: CompiledRead, params: dict[str, Any]) -> Sequence[Any]:
    """The rows of a compiled read, run on a pooled driver connection of `engine` in the
    calling thread (SQLite: a local file, its connections in autocommit mode, so the SELECT is
    its own snapshot and takes no lock). A driver error is raised as SQLAlchemy's (an
    OperationalError for a locked or missing database), as the engine would raise it."""
    values = read.parameters(params)
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(read.sql, values)
            return read.rows(lambda: cursor.description, cursor.fetchall())
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            read.sql, values, error, engine.dialect.loaded_dbapi.Error
        ) from error
    finally:
        connection.close()
