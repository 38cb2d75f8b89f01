"""Planner statistics kept up with a bulk load, on PostgreSQL.

PostgreSQL plans from statistics that autovacuum refreshes at most once a minute, and only once
a tenth of a table changed. While tables fill from empty (a board's first import, drained by
the workers) their statistics still describe them as tiny, and the planner picks plans that
read the whole table: a batch's lookup of 128 postings' vectors by id scanned every vector
(21 ms a batch at 20,000 vectors, growing with the table; 2.4–2.7 ms once analyzed). So a worker
analyzes the tables a load fills each time the vectors it holds have doubled since it last did
(from 1,000 on): a handful of times during a load, never in a steady state, where autovacuum
keeps up. SQLite needs none of this: without statistics it plans from the indexes.
"""

from __future__ import annotations

from sqlalchemy import text

from jobsim.storage.engine import Database

FILLED_TABLES = ("embeddings", "similar")
FIRST_ANALYZE_ROWS = 1_000


class GrowthAnalyzer:
    """ANALYZE `FILLED_TABLES` when the rows observed have doubled since the last time."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._analyzed_at: int | None = None  # the rows observed at the last ANALYZE

    def observe(self, rows: int) -> bool:
        """Take `rows` (the vectors a worker's index holds now) and analyze if they doubled;
        returns whether it did. The first observation is the baseline: what was there before
        this process started had time for autovacuum."""
        if self.db.is_sqlite:
            return False
        if self._analyzed_at is None:
            self._analyzed_at = rows
            return False
        if rows < max(FIRST_ANALYZE_ROWS, 2 * self._analyzed_at):
            return False
        tables = ", ".join(f'"{table}"' for table in FILLED_TABLES)
        with self.db.write() as session:
            session.execute(text(f"ANALYZE {tables}"))
        self._analyzed_at = rows
        return True
