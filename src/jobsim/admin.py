"""What an operator does: queue the embeddings or lists of many postings at once, retry dead
letters, clear finished tasks, change the log level. The admin API and the CLI both call these;
each action writes one audit log line (who, what, how many)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, func, select

from jobsim import queue, runtime_settings
from jobsim.errors import NotFound
from jobsim.postings.embedded import current_vector
from jobsim.postings.listed import active_clause, listed_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe

audit = logging.getLogger("jobsim.audit")
CHUNK = 1000


class ActionResult(BaseModel):
    action: str
    count: int
    ids: list[int] | None = None
    unknown: list[str] | None = None


def who_from_token(token: str) -> str:
    """How the audit log names a token holder without revealing the token."""
    return "token:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


class AdminActions:
    def __init__(self, settings: Settings, db: Database, recipe: VectorRecipe) -> None:
        self.settings = settings
        self.db = db
        self.recipe = recipe

    # --- queueing many postings --------------------------------------------------------------

    def backfill(self, *, dry_run: bool = False, who: str = "cli") -> Iterator[int]:
        """Queue every active posting that is not embedded; yields running counts."""
        with self.db.read() as session:
            missing = list(session.scalars(self._not_embedded()))
        yield from self._queue_in_chunks(queue.EMBED, missing, dry_run=dry_run)
        if not dry_run:
            self._audit(who, "backfill", len(missing))

    def count_missing_embeddings(self) -> int:
        with self.db.read() as session:
            query = self._not_embedded().subquery()
            return int(session.scalar(select(func.count()).select_from(query)) or 0)

    def recompute(self, *, who: str) -> ActionResult:
        """Recompute the similar list of every listed posting."""
        with self.db.read() as session:
            ids = list(session.scalars(select(Posting.id).where(listed_clause(utcnow()))))
        for _ in self._queue_in_chunks(queue.SIMILAR, ids):
            pass
        return self._done(who, "recompute", len(ids))

    def reembed(self, *, who: str) -> ActionResult:
        """Embed every active posting again; the old vectors serve until each new one lands."""
        with self.db.read() as session:
            ids = list(session.scalars(select(Posting.id).where(active_clause())))
        for _ in self._queue_in_chunks(queue.REEMBED, ids):
            pass
        return self._done(who, "reembed", len(ids))

    def enqueue(self, posting_ids: Sequence[str], *, who: str) -> ActionResult:
        """Queue an embedding for each posting given (unknown or deleted ids are reported)."""
        wanted = list(dict.fromkeys(posting_ids))
        with self.db.write() as session:
            found = set(
                session.scalars(
                    select(Posting.id).where(Posting.id.in_(wanted), Posting.is_deleted.is_(False))
                )
            )
            known = [pid for pid in wanted if pid in found]
            queue.enqueue_many(
                session,
                queue.EMBED,
                known,
                priority=queue.PRIORITY_NEW,
                max_attempts=self.settings.max_attempts,
            )
        result = self._done(who, "enqueue", len(known))
        result.unknown = [pid for pid in wanted if pid not in found]
        return result

    def _queue_in_chunks(
        self, kind: str, ids: list[str], *, dry_run: bool = False
    ) -> Iterator[int]:
        done = 0
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            if not dry_run:
                with self.db.write() as session:
                    queue.enqueue_many(
                        session,
                        kind,
                        part,
                        priority=queue.PRIORITY_BACKFILL,
                        max_attempts=self.settings.max_attempts,
                    )
            done += len(part)
            yield done
        if not ids:
            yield 0

    def _not_embedded(self) -> Select[Any]:
        return (
            select(Posting.id)
            .outerjoin(Embedding, current_vector(self.recipe.model))
            .where(active_clause(), Embedding.posting_id.is_(None))
            .order_by(Posting.created_at)
        )

    # --- dead letters and finished tasks -------------------------------------------------------

    def retry(self, task_ids: Sequence[int] | None = None, *, who: str) -> ActionResult:
        """Send dead letters (all, or the ids given) back to the queue, each exactly once."""
        with self.db.write() as session:
            retried = queue.retry_failed(session, task_ids)
        result = self._done(who, "retry", len(retried))
        result.ids = retried
        return result

    def retry_one(self, task_id: int, *, who: str) -> ActionResult:
        with self.db.read() as session:
            if queue.get_task(session, task_id) is None:
                raise NotFound(f"task {task_id} not found")
        return self.retry([task_id], who=who)

    def clear(self, older_than_days: float, *, who: str) -> ActionResult:
        """Delete succeeded and failed tasks that finished more than N days ago."""
        with self.db.write() as session:
            deleted = queue.clear_finished(session, timedelta(days=older_than_days))
        return self._done(who, "clear", deleted)

    # --- log level -----------------------------------------------------------------------------

    def set_log_level(self, level: str, *, who: str) -> runtime_settings.LogLevelName:
        """Store the level for every process and apply it here at once."""
        level = runtime_settings.checked_level(level)
        with self.db.write() as session:
            runtime_settings.write(session, runtime_settings.LOG_LEVEL, level)
        runtime_settings.apply_log_level(level)
        self._audit(who, f"log-level {level}", 1)
        return level

    def log_level(self) -> runtime_settings.LogLevelName:
        with self.db.read() as session:
            stored = runtime_settings.read(session, runtime_settings.LOG_LEVEL)
        if stored is None:
            return runtime_settings.current_log_level()
        return runtime_settings.checked_level(stored)

    # --- audit ---------------------------------------------------------------------------------

    def _done(self, who: str, action: str, count: int) -> ActionResult:
        self._audit(who, action, count)
        return ActionResult(action=action, count=count)

    @staticmethod
    def _audit(who: str, action: str, count: int) -> None:
        audit.info("admin action", extra={"who": who, "action": action, "count": count})
