"""Cached similar lists kept fresh: a posting's own top-N, its insertion into other postings'
lists where it now ranks, and the refill of lists a posting left.

The list policy (what changes when a posting is embedded, gets a new vector, or changes its
listing or context) is the three methods under "list policy"; the worker only says which
happened.

All of it runs inside one write transaction that first takes the similarity lock
(Database.lock_similarity) and brings this process's VectorIndex up to date, so concurrent
workers never compute lists from a stale view of each other's vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jobsim import runtime_settings
from jobsim.clock import Clock, system_clock
from jobsim.errors import ModelRetired
from jobsim.postings.listed import is_active, is_listed
from jobsim.similarity import FloatArray, Match, PostingMeta, ScoringConfig, VectorIndex
from jobsim.storage.engine import Database
from jobsim.storage.models import Counter, Embedding, Posting, SimilarEntry

SYNC_COUNTER = "sync_seq"
META_SYNC_OVERLAP = timedelta(minutes=5)
_CHUNK = 500


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
    """The sync sequence of the last committed vector or list write (see ListTransaction)."""
    return int(session.scalar(select(Counter.value).where(Counter.name == SYNC_COUNTER)) or 0)


def stored_vectors(
    session: Session, model: str, after_seq: int | None = None
) -> Iterator[tuple[str, bytes, Posting]]:
    """(posting id, vector bytes, posting) of every vector of `model`, or of those written
    after `after_seq`: how an in-memory index loads and catches up."""
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


def vector_to_bytes(vector: FloatArray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(raw: bytes, dims: int) -> FloatArray:
    vector: FloatArray = np.frombuffer(raw, dtype="<f4", count=dims).astype(np.float32)
    return vector


@dataclass
class ListTransaction:
    session: Session
    now: datetime
    seq: int | None = None
    touched_lists: set[str] = field(default_factory=set)


class SimilarityEngine:
    """One per process: the VectorIndex of `model` plus the list maintenance around it."""

    def __init__(
        self,
        db: Database,
        model: str,
        dims: int | Callable[[], int],
        config: ScoringConfig,
        *,
        clock: Clock = system_clock,
        serves: bool = True,
    ) -> None:
        self.db = db
        self.clock = clock
        self.model = model
        # A serving engine refuses to write once a model switch made another model serve; the
        # engine of a model being prepared (jobsim.model_switch) writes before it serves.
        self.serves = serves
        # A callable is asked once, on first use: an HTTP embedder may only learn its dims
        # from the provider, after the worker's start-up check.
        self._dims = dims
        self.config = config
        self.index = VectorIndex(0)  # replaced by the first load
        self._loaded = False
        self._last_seq = 0
        self._last_meta_sync: datetime | None = None

    @property
    def dims(self) -> int:
        if callable(self._dims):
            self._dims = self._dims()
        return self._dims

    # --- keeping the index in sync ---------------------------------------------------------

    def begin(self, session: Session) -> ListTransaction:
        """Lock list writers and catch up with every committed change; call first in a write."""
        self.db.lock_similarity(session)
        if self.serves:
            serving = runtime_settings.read(session, runtime_settings.SERVING_MODEL)
            if serving not in (None, self.model):
                raise ModelRetired(f"lists are served from {serving} now, not {self.model}")
        now = self.clock()
        if self._loaded:
            self._sync(session, now)
        else:
            self._full_load(session, now)
        return ListTransaction(session, now)

    def invalidate(self) -> None:
        """Forget the in-memory state (after a rolled-back transaction touched it)."""
        self.index = VectorIndex(self.dims)
        self._loaded = False

    def _full_load(self, session: Session, now: datetime) -> None:
        self.index = VectorIndex(self.dims)
        for posting_id, raw, posting in stored_vectors(session, self.model):
            self.index.upsert(posting_id, vector_from_bytes(raw, self.dims), meta_of(posting))
            self.index.set_list_state(posting_id, posting.similar_count, posting.similar_floor)
        session.expunge_all()
        self._last_seq = current_seq(session)
        self._last_meta_sync = now
        self._loaded = True

    def _sync(self, session: Session, now: datetime) -> None:
        current = current_seq(session)
        if current > self._last_seq:
            for posting_id, raw, posting in stored_vectors(session, self.model, self._last_seq):
                self.index.upsert(posting_id, vector_from_bytes(raw, self.dims), meta_of(posting))
            lists = session.execute(
                select(Posting.id, Posting.similar_count, Posting.similar_floor).where(
                    Posting.list_seq > self._last_seq
                )
            )
            for posting_id, count, floor in lists:
                self.index.set_list_state(posting_id, count, floor)
        since = (self._last_meta_sync or now) - META_SYNC_OVERLAP
        for posting in session.scalars(select(Posting).where(Posting.updated_at >= since)):
            self.index.set_meta(posting.id, meta_of(posting))
        self._last_seq = current
        self._last_meta_sync = now

    def _seq(self, tx: ListTransaction) -> int:
        """This transaction's sync sequence number, taken once (under the similarity lock)."""
        if tx.seq is None:
            session = tx.session
            counter = session.get(Counter, SYNC_COUNTER)
            if counter is None:
                counter = Counter(name=SYNC_COUNTER, value=0)
                session.add(counter)
            counter.value += 1
            session.flush()
            tx.seq = counter.value
        return tx.seq

    def finish(self, tx: ListTransaction) -> None:
        """Call after the transaction committed: this process has seen its own writes."""
        if tx.seq is not None:
            self._last_seq = max(self._last_seq, tx.seq)

    # --- list policy -----------------------------------------------------------------------

    def vector_stored(
        self, tx: ListTransaction, posting: Posting, vector: FloatArray, content_hash: str
    ) -> None:
        """Store a posting's vector; when it replaced an older one, the posting's scores in the
        lists holding it moved, so those lists are recomputed."""
        if self._store_vector(tx, posting, vector, content_hash):
            self._refill_lists_holding(tx, posting.id)

    def vector_prepared(
        self, tx: ListTransaction, posting: Posting, vector: FloatArray, content_hash: str
    ) -> None:
        """Store a vector of a model being prepared (jobsim.model_switch): no list changes."""
        self._store_vector(tx, posting, vector, content_hash)

    def rebuild_all(self, tx: ListTransaction) -> int:
        """Recompute every list from this engine's vectors in the caller's transaction (a model
        switch); lists of postings it has no vector for are emptied. Returns the lists written."""
        tx.session.execute(delete(SimilarEntry))
        tx.session.execute(
            update(Posting)
            .values(similar_count=0, similar_floor=None, similar_computed_at=None)
            .execution_options(synchronize_session=False)
        )
        listed = [pid for pid in self.index.ids if self.index.meta(pid).listed_at(tx.now)]
        for start in range(0, len(listed), _CHUNK):
            part = listed[start : start + _CHUNK]
            lists = {
                pid: self.index.top_n(
                    self.index.vector(pid), self.index.meta(pid), self.config, tx.now, exclude=[pid]
                )
                for pid in part
            }
            self._write_lists(tx, lists)
        return len(listed)

    def posting_embedded(self, tx: ListTransaction, posting_id: str) -> None:
        """Its vector is current: write its own list and enter the lists it now ranks in."""
        self._refresh_list(tx, posting_id)
        self._insert_into_others(tx, posting_id)

    def posting_changed(self, tx: ListTransaction, posting: Posting) -> None:
        """Its listing or context changed (closed, deleted, expired, reopened, moved): refill
        the lists holding it, drop a deleted posting's own list, and re-rank a listed one."""
        self.index.set_meta(posting.id, meta_of(posting))
        self._refill_lists_holding(tx, posting.id)
        if posting.is_deleted:
            self._write_lists(tx, {posting.id: []})
        if is_listed(posting, tx.now) and posting.id in self.index:
            self.posting_embedded(tx, posting.id)

    # --- writes ----------------------------------------------------------------------------

    def _store_vector(
        self, tx: ListTransaction, posting: Posting, vector: FloatArray, content_hash: str
    ) -> bool:
        """Store a posting's vector; returns True when it replaced an older vector."""
        replaced = posting.id in self.index
        values = {
            "posting_id": posting.id,
            "model": self.model,
            "dims": self.dims,
            "content_hash": content_hash,
            "vector": vector_to_bytes(vector),
            "seq": self._seq(tx),
            "created_at": tx.now,
        }
        dialect = tx.session.get_bind().dialect.name
        insert = (
            postgresql.insert(Embedding) if dialect == "postgresql" else sqlite.insert(Embedding)
        )
        statement = insert.values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[Embedding.posting_id, Embedding.model],
            set_={
                k: statement.excluded[k]
                for k in ("dims", "content_hash", "vector", "seq", "created_at")
            },
        )
        tx.session.execute(statement)
        self.index.upsert(posting.id, vector, meta_of(posting))
        return replaced

    def _refresh_list(self, tx: ListTransaction, posting_id: str) -> list[Match]:
        """Recompute and store one posting's own top-N list."""
        if posting_id not in self.index:
            return []
        matches = self.index.top_n(
            self.index.vector(posting_id),
            self.index.meta(posting_id),
            self.config,
            tx.now,
            exclude=[posting_id],
        )
        self._write_lists(tx, {posting_id: matches})
        return matches

    def _insert_into_others(self, tx: ListTransaction, posting_id: str) -> int:
        """Put a posting into every other list where it now ranks; returns how many lists."""
        if not self.index.meta(posting_id).listed_at(tx.now):
            return 0
        owners = self.index.lists_it_enters(posting_id, self.config, tx.now)
        if not owners:
            return 0
        current = self._load_lists(tx.session, [owner for owner, _ in owners])
        updated: dict[str, list[Match]] = {}
        for owner, match in owners:
            entries = [m for m in current.get(owner, []) if m.posting_id != posting_id]
            entries.append(match)
            entries.sort(key=lambda m: (-m.score, m.posting_id))
            updated[owner] = entries[: self.config.top_n]
        self._write_lists(tx, updated)
        return len(updated)

    def _refill_lists_holding(self, tx: ListTransaction, posting_id: str) -> int:
        """Recompute every list that holds `posting_id` (it left, or its vector changed)."""
        owners = list(
            tx.session.scalars(
                select(SimilarEntry.posting_id).where(SimilarEntry.similar_id == posting_id)
            )
        )
        for owner in owners:
            if owner in self.index:
                self._refresh_list(tx, owner)
            else:
                tx.session.execute(
                    delete(SimilarEntry).where(
                        SimilarEntry.posting_id == owner, SimilarEntry.similar_id == posting_id
                    )
                )
        return len(owners)

    def _load_lists(self, session: Session, owners: Sequence[str]) -> dict[str, list[Match]]:
        lists: dict[str, list[Match]] = {}
        for start in range(0, len(owners), _CHUNK):
            rows = session.scalars(
                select(SimilarEntry).where(
                    SimilarEntry.posting_id.in_(owners[start : start + _CHUNK])
                )
            )
            for row in rows:
                lists.setdefault(row.posting_id, []).append(
                    Match(row.similar_id, row.score, row.semantic, row.context)
                )
        return lists

    def _write_lists(self, tx: ListTransaction, lists: dict[str, list[Match]]) -> None:
        session = tx.session
        seq = self._seq(tx)
        owners = list(lists)
        for start in range(0, len(owners), _CHUNK):
            session.execute(
                delete(SimilarEntry).where(
                    SimilarEntry.posting_id.in_(owners[start : start + _CHUNK])
                )
            )
        rows = [
            {
                "posting_id": owner,
                "similar_id": m.posting_id,
                "score": m.score,
                "semantic": m.semantic,
                "context": m.context,
                "computed_at": tx.now,
            }
            for owner, matches in lists.items()
            for m in matches
        ]
        if rows:
            session.execute(insert(SimilarEntry), rows)
        for owner, matches in lists.items():
            count, floor = _list_state(matches, self.config.top_n)
            session.execute(
                update(Posting)
                .where(Posting.id == owner)
                .values(
                    similar_count=count,
                    similar_floor=floor,
                    list_seq=seq,
                    similar_computed_at=tx.now,
                )
                .execution_options(synchronize_session=False)
            )
            self.index.set_list_state(owner, count, floor)
            tx.touched_lists.add(owner)


def _list_state(matches: Iterable[Match], top_n: int) -> tuple[int, float | None]:
    scores = [m.score for m in matches]
    return len(scores), (min(scores) if len(scores) >= top_n else None)
