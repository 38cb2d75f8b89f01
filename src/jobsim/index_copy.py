"""A process's copy of one model's stored vectors: a VectorIndex kept in step with the database.

Every vector and list write stamps the `sync_seq` counter (bumped under the similarity lock, see
jobsim.lists), so the rows with `seq` above the last value a copy saw are exactly the vectors it
has not read. Changes without a new vector (closed, deleted, moved) are found by posting version
among the postings updated since the last look, with an overlap for clocks that disagree.

The worker's SimilarityEngine (jobsim.lists) catches up under the lock before it writes; the API's
LiveIndex (jobsim.matching) catches up without it before it matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from jobsim.postings.listed import is_active
from jobsim.row_facts import PostingMeta
from jobsim.similarity import FloatArray, VectorIndex
from jobsim.storage.dialect import in_lists
from jobsim.storage.models import Counter, Embedding, Posting

SYNC_COUNTER = "sync_seq"
META_SYNC_OVERLAP = timedelta(minutes=5)


def meta_of(posting: Posting) -> PostingMeta:
    return PostingMeta(
        category=posting.category,
        city=posting.city,
        region=posting.region,
        remote=bool(posting.remote),
        experience_level=posting.experience_level,
        company=posting.company,
        listed=is_active(posting),
        expires_at=posting.expires_at,
        listing_type=posting.listing_type,
    )


def current_seq(session: Session) -> int:
    """The sync sequence of the last committed vector or list write."""
    return int(session.scalar(select(Counter.value).where(Counter.name == SYNC_COUNTER)) or 0)


def stored_vectors(
    session: Session, model: str, after_seq: int | None = None
) -> Iterator[tuple[str, bytes, Posting]]:
    """(posting id, vector bytes, posting) of every vector of `model`, or of those written
    after `after_seq`."""
    query = (
        select(Embedding.posting_id, Embedding.vector, Posting)
        .join(Posting, Posting.id == Embedding.posting_id)
        .where(Embedding.model == model)
        .execution_options(yield_per=2000)
    )
    if after_seq is not None:
        query = query.where(Embedding.seq > after_seq)
    for posting_id, raw, posting in session.execute(query):  # noqa: UP028 (rows to tuples)
        yield posting_id, raw, posting


def stored_count(session: Session, model: str) -> int:
    """How many vectors of `model` are stored."""
    query = select(func.count()).select_from(Embedding).where(Embedding.model == model)
    return int(session.scalar(query) or 0)


def changed_postings(
    session: Session, since: datetime, index: VectorIndex, versions: dict[str, int]
) -> Iterator[Posting]:
    """Postings of `index` changed without a new vector (closed, deleted, moved) among those
    updated since `since`: those whose version moved from the one `versions` says the index
    read. A row still at version 1 is as it was created, so as the index read it (an import's
    rows, all recent, are skipped in SQL instead of checked at every sync)."""
    recent = session.execute(  # a literal 1: the partial index ix_postings_edited matches it
        select(Posting.id, Posting.version).where(
            Posting.updated_at >= since, Posting.version > literal_column("1")
        )
    )
    changed = [
        posting_id
        for posting_id, version in recent
        if posting_id in index and versions.get(posting_id) != version
    ]
    for part in in_lists(changed):
        yield from session.scalars(select(Posting).where(Posting.id.in_(part)))


def vector_to_bytes(vector: FloatArray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(raw: bytes, dims: int) -> FloatArray:
    vector: FloatArray = np.frombuffer(raw, dtype="<f4", count=dims).astype(np.float32)
    return vector


class IndexCopy:
    """`model`'s stored vectors with their postings' metadata in `index`, as of `last_seq`."""

    def __init__(self, model: str, dims: int, index: VectorIndex) -> None:
        self.model = model
        self.dims = dims
        self.index = index
        self.loaded = False
        self.last_seq = 0
        self.last_meta_sync: datetime | None = None
        self._versions: dict[str, int] = {}  # the posting version each row's metadata is from

    def catch_up(self, session: Session, now: datetime) -> list[str]:
        """Read every vector written since the last catch-up (all of them the first time) and
        return the ids new to the index. The first catch-up also starts the metadata clock."""
        current = current_seq(session)  # read first: a vector committed later is read next time
        after = self.last_seq if self.loaded else None
        new: list[str] = []
        if after is None:
            self.index.reserve(len(self.index) + stored_count(session, self.model))
        if after is None or current > after:
            for posting_id, raw, posting in stored_vectors(session, self.model, after):
                if posting_id not in self.index:
                    new.append(posting_id)
                self.upsert(posting, vector_from_bytes(raw, self.dims))
            session.expunge_all()  # a catch-up can be a whole import: the rows are not kept
        if not self.loaded:
            self.last_meta_sync = now
            self.loaded = True
        self.last_seq = current
        return new

    def sync_meta(self, session: Session, now: datetime) -> None:
        """Take the metadata of the postings changed since the last look."""
        since = (self.last_meta_sync or now) - META_SYNC_OVERLAP
        for posting in changed_postings(session, since, self.index, self._versions):
            self.set_meta(posting)
        self.last_meta_sync = now

    def upsert(self, posting: Posting, vector: FloatArray) -> None:
        self.index.upsert(posting.id, vector, meta_of(posting))
        self._versions[posting.id] = posting.version

    def set_meta(self, posting: Posting) -> None:
        self.index.set_meta(posting.id, meta_of(posting))
        self._versions[posting.id] = posting.version
