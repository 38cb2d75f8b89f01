"""Changing the embedding model without downtime.

The operator's story (docs/operations.md, "Changing the model"):

1. **Prepare.** With the new settings, `jobsim model prepare` embeds every active listing for
   the new vector model in the background and stores the vectors only: the lists of the serving
   model keep serving, untouched, and its workers keep them fresh.
2. **Watch.** `jobsim status` and `GET /api/admin/embeddings` show every model's coverage.
3. **Switch.** `jobsim model switch [--min-coverage 0.99]` rebuilds every list from the new
   vectors and replaces them in one transaction (under the similarity lock), which also records
   the new model as the serving one; listings it has no vector for yet are queued for the
   workers. From then on a worker of another model stops instead of writing lists from vectors
   that no longer serve (`ServingModel`); restart the API and workers with the new settings.
4. **Prune.** `jobsim model prune` deletes the vectors of every other model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jobsim import queue, runtime_settings
from jobsim.errors import ValidationFailed
from jobsim.listing_types import scoring_config
from jobsim.lists import SimilarityEngine
from jobsim.postings.embedded import current_vector, embedded_counts
from jobsim.postings.listed import active_clause
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting
from jobsim.vectorizer import PostingVectorizer

log = logging.getLogger(__name__)
SERVING_MODEL = runtime_settings.SERVING_MODEL


def serving_model(session: Session) -> str | None:
    """The vector model whose lists are served, once a switch has named one."""
    return runtime_settings.read(session, SERVING_MODEL)


@dataclass(frozen=True)
class Coverage:
    model: str
    active: int
    embedded: int

    @property
    def ratio(self) -> float:
        return self.embedded / self.active if self.active else 1.0


@dataclass(frozen=True)
class SwitchReport:
    model: str
    previous: str | None
    lists: int
    queued: int


class ServingModel:
    """Tells a worker, at most every `interval` seconds, whether its model still serves."""

    def __init__(self, db: Database, model: str, interval: float = 5.0) -> None:
        self.db = db
        self.model = model
        self.interval = interval
        self._next_check = 0.0
        self._serving: str | None = None

    def other(self) -> str | None:
        """The serving model when it is not this worker's, else None."""
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + self.interval
            with self.db.read() as session:
                self._serving = serving_model(session)
        return self._serving if self._serving not in (None, self.model) else None


class ModelSwitch:
    """Prepare, switch to and prune for the vector model of `vectorizer` (the new settings)."""

    def __init__(self, settings: Settings, db: Database, vectorizer: PostingVectorizer) -> None:
        self.settings = settings
        self.db = db
        self.vectorizer = vectorizer
        self.model = vectorizer.name
        self.engine = SimilarityEngine(
            db,
            self.model,
            lambda: vectorizer.dims,
            scoring_config(settings),
            serves=False,
            expansion=vectorizer.recipe.expansion,
        )

    def coverage(self) -> Coverage:
        with self.db.read() as session:
            active, embedded = embedded_counts(session, self.model)
        return Coverage(self.model, active, embedded)

    def prepare(
        self, *, batch_size: int = 32, progress: Callable[[Coverage], None] | None = None
    ) -> int:
        """Embed every active listing that has no current vector for the new model; store the
        vectors only. Returns how many were embedded."""
        done = 0
        self.vectorizer.prime_from(self.db)
        while batch := self._missing(batch_size):
            inputs = [self.vectorizer.inputs(p) for p in batch]
            vectors = self.vectorizer.vectors(inputs)
            with self.db.write() as session:
                tx = self.engine.begin(session)
                ids = [p.id for p in batch]
                current = {
                    p.id: p for p in session.scalars(select(Posting).where(Posting.id.in_(ids)))
                }
                for posting_id, text, vector in zip(ids, inputs, vectors, strict=True):
                    # Stored only if the text it was made from is still the posting's.
                    posting = current.get(posting_id)
                    if posting is not None and posting.content_hash == text.content_hash:
                        self.engine.vector_prepared(tx, posting, vector, text.content_hash)
                        done += 1
            self.engine.finish(tx)
            if progress is not None:
                progress(self.coverage())
        return done

    def _missing(self, limit: int) -> list[Posting]:
        with self.db.read() as session:
            rows = session.scalars(
                select(Posting)
                .outerjoin(Embedding, current_vector(self.model))
                .where(active_clause(), Embedding.posting_id.is_(None))
                .order_by(Posting.id)
                .limit(limit)
            ).all()
            session.expunge_all()
        return list(rows)

    def switch(self, *, min_coverage: float = 1.0) -> SwitchReport:
        """Replace every list with the new model's, in one transaction, and make it serve."""
        with self.db.write() as session:
            active, embedded = embedded_counts(session, self.model)
            covered = embedded / active if active else 1.0
            if covered < min_coverage:
                raise ValidationFailed(
                    f"{self.model} covers {covered:.1%} of active listings, below "
                    f"{min_coverage:.1%}: run `jobsim model prepare` first"
                )
            previous = serving_model(session)
            tx = self.engine.begin(session)
            lists = self.engine.rebuild_all(tx)
            missing = session.scalars(
                select(Posting.id)
                .outerjoin(Embedding, current_vector(self.model))
                .where(active_clause(), Embedding.posting_id.is_(None))
            ).all()
            queue.enqueue_many(
                session,
                queue.EMBED,
                missing,
                priority=queue.PRIORITY_NEW,
                max_attempts=self.settings.max_attempts,
            )
            runtime_settings.write(session, SERVING_MODEL, self.model)
        self.engine.finish(tx)
        log.warning(
            "lists switched to a new model",
            extra={"model": self.model, "previous": previous, "lists": lists},
        )
        return SwitchReport(self.model, previous, lists, len(missing))

    def prune(self) -> int:
        """Delete the vectors of every model but the serving one (refused before a switch)."""
        with self.db.write() as session:
            serving = serving_model(session)
            if serving != self.model:
                raise ValidationFailed(
                    f"{self.model} is not the serving model ({serving or 'none recorded'}): "
                    "switch to it before pruning the others"
                )
            result = session.execute(delete(Embedding).where(Embedding.model != self.model))
            return int(getattr(result, "rowcount", 0) or 0)
