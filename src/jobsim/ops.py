"""Operations reporting and upkeep commands: embedding coverage (overall and by language), the
queue, the workers, and the backfill of postings without a current vector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jobsim import queue, worker_registry
from jobsim.postings.embedded import current_vector
from jobsim.postings.listed import active_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe


class Operations:
    def __init__(self, settings: Settings, db: Database, recipe: VectorRecipe) -> None:
        self.settings = settings
        self.db = db
        self.recipe = recipe

    # --- backfill --------------------------------------------------------------------------

    def backfill(self, *, dry_run: bool = False, chunk: int = 1000) -> Iterator[int]:
        """Queue every active posting that is not embedded; yields running counts."""
        with self.db.read() as session:
            missing = list(session.scalars(self._not_embedded()))
        done = 0
        for start in range(0, len(missing), chunk):
            part = missing[start : start + chunk]
            if not dry_run:
                with self.db.write() as session:
                    queue.enqueue_many(
                        session,
                        queue.EMBED,
                        part,
                        priority=queue.PRIORITY_BACKFILL,
                        max_attempts=self.settings.max_attempts,
                    )
            done += len(part)
            yield done
        if not missing:
            yield 0

    def count_missing_embeddings(self) -> int:
        with self.db.read() as session:
            query = self._not_embedded().subquery()
            return int(session.scalar(select(func.count()).select_from(query)) or 0)

    def _not_embedded(self) -> Select[Any]:
        return (
            select(Posting.id)
            .outerjoin(Embedding, current_vector(self.recipe.model))
            .where(active_clause(), Embedding.posting_id.is_(None))
            .order_by(Posting.created_at)
        )

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self.db.read() as session:
            postings = _postings_by_status(session)
            embedded = session.scalar(
                select(func.count())
                .select_from(Posting)
                .join(Embedding, current_vector(self.recipe.model))
                .where(active_clause())
            )
            with_lists = session.scalar(
                select(func.count()).where(
                    active_clause(), Posting.similar_computed_at.is_not(None)
                )
            )
            languages = self._languages(session)
            tasks = queue.counts(session)
            oldest = queue.oldest_queued_age_seconds(session)
            workers = _workers(session)
        active, current = postings["active"], int(embedded or 0)
        return {
            "embedder": self.recipe.embedder,
            "vector_model": self.recipe.model,
            "postings": postings,
            "embeddings": {
                "current": current,
                "missing": active - current,
                "coverage": _ratio(current, active),
            },
            "similar_lists": {"computed": int(with_lists or 0)},
            "languages": languages,
            "queue": {"tasks": tasks, "oldest_queued_age_seconds": oldest},
            "workers": workers,
        }

    def _languages(self, session: Session) -> list[dict[str, Any]]:
        rows = session.execute(
            select(Posting.language, func.count(), func.count(Embedding.posting_id))
            .outerjoin(Embedding, current_vector(self.recipe.model))
            .where(active_clause())
            .group_by(Posting.language)
            .order_by(func.count().desc())
        ).all()
        glossed = self.recipe.glossary.languages if self.recipe.views.semantic else []
        return [
            {
                "language": language,
                "active": int(active),
                "embedded": int(embedded),
                "coverage": _ratio(int(embedded), int(active)),
                "glossed": language in glossed,
            }
            for language, active, embedded in rows
        ]


def _postings_by_status(session: Session) -> dict[str, int]:
    by_status = dict.fromkeys(("active", "closed", "draft"), 0)
    rows = session.execute(
        select(Posting.status, func.count())
        .where(Posting.is_deleted.is_(False))
        .group_by(Posting.status)
    )
    for status, count in rows:
        by_status[status] = int(count)
    deleted = session.scalar(select(func.count()).where(Posting.is_deleted.is_(True)))
    return {**by_status, "deleted": int(deleted or 0)}


def _workers(session: Session) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "id": w.id,
            "state": w.state,
            "embedder": w.embedder,
            "heartbeat_age_seconds": round((now - w.heartbeat_at).total_seconds(), 1),
            "processed": w.processed,
            "failed": w.failed,
            "memory_mb": round(w.memory_mb),
        }
        for w in worker_registry.all_workers(session)
    ]


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0
