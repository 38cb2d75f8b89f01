"""Cached similar lists kept fresh: a posting's own top-N, its insertion into other postings'
lists where it now ranks, and the refill of lists a posting left.

The list policy (what changes when a posting is embedded, gets a new vector, or changes its
listing or context) is the three methods under "list policy"; the worker only says which
happened.

All of it runs inside one write transaction that first takes the similarity lock
(Database.lock_similarity) and brings this process's copy of the vectors up to date
(jobsim.index_copy), so concurrent workers never compute lists from a stale view of each
other's vectors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from jobsim import runtime_settings
from jobsim.ann import vector_index
from jobsim.clock import Clock, system_clock
from jobsim.errors import ModelRetired
from jobsim.expansion import expand
from jobsim.index_copy import SYNC_COUNTER, IndexCopy, vector_to_bytes
from jobsim.postings.listed import is_listed
from jobsim.similarity import FloatArray, Match, ScoringConfig, VectorIndex
from jobsim.storage import list_rows
from jobsim.storage.dialect import in_lists, upsert_insert
from jobsim.storage.engine import Database
from jobsim.storage.models import Counter, Embedding, ListState, Posting, SimilarEntry

# Lists recomputed between two flushes of a full recompute: the staged work stays small.
_RECOMPUTE_FLUSH = 500
# Lists a process keeps in memory between its write transactions, as the database holds them:
# a list a new posting enters is then merged without reading it back (about 1.5 KB a list).
LIST_CACHE_LIMIT = 25_000


@dataclass
class ListTransaction:
    session: Session
    now: datetime
    seq: int | None = None
    touched_lists: set[str] = field(default_factory=set)
    # Lists changed in memory and not yet written: a batch rewrites each list once, however
    # many of its postings enter it (see SimilarityEngine._flush).
    staged: dict[str, list[Match]] = field(default_factory=dict)
    # Lists as the database holds them now, where this transaction read or wrote them: a
    # staged list that differs from its stored one in a few entries is written as the change.
    stored: dict[str, list[Match]] = field(default_factory=dict)


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
        expansion: int = 0,
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
        self.expansion = expansion  # neighbours a new vector leans on (jobsim.expansion)
        self.copy = IndexCopy(model, 0, VectorIndex(0))  # replaced by the first load
        # Lists as committed by this process and not changed since by another (see finish);
        # dropping one is always safe, so anything that may have changed a list drops it.
        self._lists: dict[str, list[Match]] = {}

    @property
    def dims(self) -> int:
        if callable(self._dims):
            self._dims = self._dims()
        return self._dims

    @property
    def index(self) -> VectorIndex:
        return self.copy.index

    # --- keeping the index in sync ---------------------------------------------------------

    def begin(self, session: Session) -> ListTransaction:
        """Lock list writers and catch up with every committed change; call first in a write."""
        self.db.lock_similarity(session)
        if self.serves:
            serving = runtime_settings.read(session, runtime_settings.SERVING_MODEL)
            if serving not in (None, self.model):
                raise ModelRetired(f"lists are served from {serving} now, not {self.model}")
        now = self.clock()
        if self.copy.loaded:
            self._sync(session, now)
        else:
            self._full_load(session, now)
        return ListTransaction(session, now)

    def invalidate(self) -> None:
        """Forget the in-memory state (after a rolled-back transaction touched it)."""
        self.copy = IndexCopy(self.model, self.dims, vector_index(self.dims, self.config))
        self._lists.clear()

    def _full_load(self, session: Session, now: datetime) -> None:
        self.invalidate()
        self.copy.catch_up(session, now)
        for posting_id, count, floor in session.execute(_STATES):
            self.index.set_list_state(posting_id, count, floor)

    def _sync(self, session: Session, now: datetime) -> None:
        seen = self.copy.last_seq
        self._read_list_states(session, self.copy.catch_up(session, now))
        if self.copy.last_seq > seen:
            for posting_id, count, floor in session.execute(_STATES.where(ListState.seq > seen)):
                self.index.set_list_state(posting_id, count, floor)
                self._lists.pop(posting_id, None)  # another process wrote it
        self.copy.sync_meta(session, now)

    def _index_vectors(
        self, session: Session, vectors: Sequence[tuple[Posting, FloatArray]]
    ) -> None:
        """Put the batch's own vectors in the index."""
        new_rows = [posting.id for posting, _ in vectors if posting.id not in self.index]
        for posting, vector in vectors:
            self.copy.upsert(posting, vector)
        self._read_list_states(session, new_rows)

    def _read_list_states(self, session: Session, new_rows: Sequence[str]) -> None:
        """The list states of rows new to the index: a list can be older than its posting's
        vector of this model (another model's engine wrote it), so a new row's list is not
        taken to be empty."""
        for part in in_lists(new_rows):
            for posting_id, count, floor in session.execute(
                _STATES.where(ListState.posting_id.in_(part))
            ):
                self.index.set_list_state(posting_id, count, floor)

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
        """Call after the transaction committed: this process has seen its own writes, and
        keeps the lists it read or wrote (the most recent LIST_CACHE_LIMIT of them)."""
        if tx.seq is not None:
            self.copy.last_seq = max(self.copy.last_seq, tx.seq)
        if tx.staged:  # never flushed, so never committed: what the database holds is unknown
            for owner in tx.staged:
                self._lists.pop(owner, None)
            return
        for owner, matches in tx.stored.items():
            self._lists.pop(owner, None)  # re-inserted last: the cache drops the oldest first
            self._lists[owner] = matches
        excess = len(self._lists) - LIST_CACHE_LIMIT
        for owner in list(itertools.islice(self._lists, max(excess, 0))):
            del self._lists[owner]

    # --- list policy -----------------------------------------------------------------------

    def vectors_stored(
        self, tx: ListTransaction, stored: Sequence[tuple[Posting, FloatArray, str]]
    ) -> None:
        """Store postings' vectors (posting, vector, content hash); where one replaced an older
        vector, that posting's scores in the lists holding it moved, so those lists are
        recomputed."""
        replaced = [posting.id for posting, _, _ in stored if posting.id in self.index]
        self._store_vectors(tx, stored)
        for posting_id in replaced:
            self._refill_lists_holding(tx, posting_id)

    def vector_prepared(
        self, tx: ListTransaction, posting: Posting, vector: FloatArray, content_hash: str
    ) -> None:
        """Store a vector of a model being prepared (jobsim.model_switch): no list changes."""
        self._store_vectors(tx, [(posting, vector, content_hash)])

    def rebuild_all(self, tx: ListTransaction) -> int:
        """Recompute every list from this engine's vectors in the caller's transaction (a model
        switch); lists of postings it has no vector for are emptied. Returns the lists written."""
        tx.session.execute(delete(SimilarEntry))
        tx.stored.clear()
        self._lists.clear()
        tx.session.execute(
            update(ListState)
            # The new sequence makes every other process drop every list it keeps.
            .values(count=0, floor=None, seq=self._seq(tx), computed_at=None)
            .execution_options(synchronize_session=False)
        )
        listed = [pid for pid in self.index.ids if self.index.meta(pid).listed_at(tx.now)]
        for start in range(0, len(listed), _RECOMPUTE_FLUSH):
            part = listed[start : start + _RECOMPUTE_FLUSH]
            for pid in part:
                self._refresh_list(tx, pid)
            self._flush(tx)
        return len(listed)

    def postings_embedded(self, tx: ListTransaction, posting_ids: Iterable[str]) -> None:
        """Their vectors are current: each posting's own list is written, then each enters the
        lists it now ranks in; the lists it enters are read in one go and every changed list
        is stored once, at the end.

        Which lists a posting enters is decided before the batch's other postings entered
        theirs: those only raise a list's floor, so the set found is a superset, and the merge
        keeps the top N of each list as entering them one by one would."""
        ids = list(posting_ids)
        for posting_id in ids:
            self._refresh_list(tx, posting_id)
        entering = [(posting_id, self._lists_entered(tx, posting_id)) for posting_id in ids]
        self._load_lists(tx, [owner for _, owners in entering for owner, _ in owners])
        for posting_id, owners in entering:
            self._insert_into(tx, posting_id, owners)
        self._flush(tx)

    def posting_changed(self, tx: ListTransaction, posting: Posting) -> None:
        """Its listing or context changed (closed, deleted, expired, reopened, moved): refill
        the lists holding it, drop a deleted posting's own list, and re-rank a listed one."""
        self.copy.set_meta(posting)
        self._refill_lists_holding(tx, posting.id)
        if posting.is_deleted:
            self._stage(tx, {posting.id: []})
        if is_listed(posting, tx.now) and posting.id in self.index:
            self.postings_embedded(tx, [posting.id])
        self._flush(tx)

    # --- writes ----------------------------------------------------------------------------

    def _store_vectors(
        self, tx: ListTransaction, stored: Sequence[tuple[Posting, FloatArray, str]]
    ) -> None:
        """Store the vectors, each expanded with its nearest stored neighbours first."""
        if stored:
            leaned = expand(
                self.index,
                np.vstack([vector for _, vector, _ in stored]),
                [posting.listing_type for posting, _, _ in stored],
                self.expansion,
                exclude=[posting.id for posting, _, _ in stored],
            )
            stored = [(p, leaned[i], h) for i, (p, _, h) in enumerate(stored)]
        rows = [
            {
                "posting_id": posting.id,
                "model": self.model,
                "dims": self.dims,
                "content_hash": content_hash,
                "vector": vector_to_bytes(vector),
                "seq": self._seq(tx),
                "created_at": tx.now,
            }
            for posting, vector, content_hash in stored
        ]
        if rows:
            insert = upsert_insert(tx.session, _EMBEDDINGS)
            statement = insert.on_conflict_do_update(
                index_elements=[_EMBEDDINGS.c.posting_id, _EMBEDDINGS.c.model],
                set_={
                    k: insert.excluded[k]
                    for k in ("dims", "content_hash", "vector", "seq", "created_at")
                },
            )
            # One statement compiled once and run for every row (executemany).
            tx.session.connection().execute(statement, rows)
        self._index_vectors(tx.session, [(posting, vector) for posting, vector, _ in stored])

    def _refresh_list(self, tx: ListTransaction, posting_id: str) -> None:
        """Recompute one posting's own top-N list (staged)."""
        if posting_id not in self.index:
            return
        if not self._known(tx, posting_id) and self.index.list_count(posting_id) == 0:
            # The index, in step with the database under the lock, says the list is empty (a
            # new posting's): its entries are written as additions, with no delete.
            tx.stored[posting_id] = []
        matches = self.index.top_n(
            self.index.vector(posting_id),
            self.index.meta(posting_id),
            self.config,
            tx.now,
            exclude=[posting_id],
        )
        self._stage(tx, {posting_id: matches})

    def _lists_entered(self, tx: ListTransaction, posting_id: str) -> list[tuple[str, Match]]:
        """The other lists a listed posting now ranks in, with its entry in each."""
        if not self.index.meta(posting_id).listed_at(tx.now):
            return []
        return self.index.lists_it_enters(posting_id, self.config, tx.now)

    def _insert_into(
        self, tx: ListTransaction, posting_id: str, owners: Sequence[tuple[str, Match]]
    ) -> None:
        """Put a posting's entries into the lists of `owners` (loaded by the caller)."""
        updated: dict[str, list[Match]] = {}
        for owner, match in owners:
            current = tx.staged[owner] if owner in tx.staged else tx.stored[owner]
            entries = [m for m in current if m.posting_id != posting_id]
            entries.append(match)
            entries.sort(key=lambda m: (-m.score, m.posting_id))
            updated[owner] = entries[: self.config.top_n]
        self._stage(tx, updated)

    def _refill_lists_holding(self, tx: ListTransaction, posting_id: str) -> int:
        """Recompute every list that holds `posting_id` (it left, or its vector changed)."""
        self._flush(tx)  # the stored lists are the ones to search
        owners = list(
            tx.session.scalars(
                select(SimilarEntry.posting_id).where(SimilarEntry.similar_id == posting_id)
            )
        )
        unindexed = []  # lists of postings without a vector of this model: only the entry goes
        for owner in owners:
            if owner in self.index:
                self._refresh_list(tx, owner)
            else:
                tx.stored.pop(owner, None)
                self._lists.pop(owner, None)
                unindexed.append((owner, posting_id))
        list_rows.delete_entries(tx.session, unindexed)
        self._flush(tx)
        return len(owners)

    def _load_lists(self, tx: ListTransaction, owners: Iterable[str]) -> None:
        """Put into `tx.stored` the lists of `owners` this transaction has neither staged nor
        read: from the process's cache, the rest read in a few statements."""
        wanted = [owner for owner in dict.fromkeys(owners) if not self._known(tx, owner)]
        for part in in_lists(wanted):
            lists: dict[str, list[Match]] = {owner: [] for owner in part}
            rows = tx.session.execute(
                select(
                    _SIMILAR.c.posting_id,
                    _SIMILAR.c.similar_id,
                    _SIMILAR.c.score,
                    _SIMILAR.c.semantic,
                    _SIMILAR.c.context,
                ).where(_SIMILAR.c.posting_id.in_(part))
            ).all()  # in one fetch: iterating the result fetched row by row
            for owner, similar_id, score, semantic, context in rows:
                lists[owner].append(Match(similar_id, score, semantic, context))
            tx.stored.update(lists)

    def _known(self, tx: ListTransaction, owner: str) -> bool:
        """Whether this transaction knows `owner`'s list (staged, or as stored), taking it from
        the process's cache into `tx.stored` when the cache holds it."""
        if owner in tx.staged or owner in tx.stored:
            return True
        cached = self._lists.get(owner)
        if cached is not None:
            tx.stored[owner] = cached
        return cached is not None

    def _stage(self, tx: ListTransaction, lists: dict[str, list[Match]]) -> None:
        """Take these lists as current: in the index's list state now, in the database at the
        next _flush."""
        for owner, matches in lists.items():
            tx.staged[owner] = matches
            count, floor = _list_state(matches, self.config.top_n)
            self.index.set_list_state(owner, count, floor)
            tx.touched_lists.add(owner)

    def _flush(self, tx: ListTransaction) -> None:
        """Write every staged list in a few set-based statements: a list whose stored entries
        are known loses and gains only the entries that changed, any other is replaced."""
        if not tx.staged:
            return
        session = tx.session
        replaced = [owner for owner in tx.staged if owner not in tx.stored]
        list_rows.delete_lists(session, replaced)
        gone, added = _changes(tx.staged, tx.stored)
        list_rows.delete_entries(session, gone)
        rows = [_entry_row(owner, match) for owner in replaced for match in tx.staged[owner]]
        rows += [_entry_row(owner, match) for owner, match in added]
        list_rows.insert_entries(session, rows, tx.now)
        states = [
            list_rows.StateRow(owner, *_list_state(matches, self.config.top_n))
            for owner, matches in tx.staged.items()
        ]
        list_rows.set_list_states(session, states, self._seq(tx), tx.now)
        tx.stored.update(tx.staged)
        tx.staged.clear()


def _changes(
    staged: dict[str, list[Match]], stored: dict[str, list[Match]]
) -> tuple[list[tuple[str, str]], list[tuple[str, Match]]]:
    """The entries to delete and to insert to turn the stored lists into the staged ones."""
    gone: list[tuple[str, str]] = []
    added: list[tuple[str, Match]] = []
    for owner, matches in staged.items():
        if owner not in stored:
            continue
        before = {m.posting_id: m for m in stored[owner]}
        after = {m.posting_id: m for m in matches}
        gone += [(owner, sid) for sid, m in before.items() if not _same(after.get(sid), m)]
        added += [(owner, m) for sid, m in after.items() if not _same(before.get(sid), m)]
    return gone, added


def _same(a: Match | None, b: Match) -> bool:
    """Equal entries; most are the very object the stored list held (a merge keeps them)."""
    return a is b or a == b


def _entry_row(owner: str, match: Match) -> list_rows.EntryRow:
    return list_rows.EntryRow(owner, match.posting_id, match.score, match.semantic, match.context)


_SIMILAR = cast(Table, SimilarEntry.__table__)
_STATES = select(ListState.posting_id, ListState.count, ListState.floor)
_EMBEDDINGS = cast(Table, Embedding.__table__)


def _list_state(matches: Iterable[Match], top_n: int) -> tuple[int, float | None]:
    scores = [m.score for m in matches]
    return len(scores), (min(scores) if len(scores) >= top_n else None)
