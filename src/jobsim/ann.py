"""The approximate index (Settings.index_search = "hnsw"), for boards too large for an exact
scan per query: an HNSW graph (usearch, float16) finds a posting's neighbourhood in well
under a millisecond, and the VectorIndex rescores that neighbourhood exactly, with the
context bonus and every filter, so only the candidates are approximate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
from usearch.index import Index

from jobsim.row_facts import PostingMeta
from jobsim.similarity import (
    FloatArray,
    IndexStorage,
    Match,
    ScoringConfig,
    VectorIndex,
)

Quantization = Literal["f32", "f16", "i8"]
IntArray = npt.NDArray[np.intp]

# A list of n is rescored from the n * CANDIDATES_PER_ENTRY nearest rows: the context bonus
# can lift a row the graph ranks below the n-th into the list.
CANDIDATES_PER_ENTRY = 10
# The lists a new posting enters are those of the rows it is among the nearest of; on clustered
# vectors those rows were all among its 30 * top_n nearest (10 * top_n found 88% of them).
ENTER_CANDIDATES_PER_ENTRY = 30
# Rescoring gathers rows one by one: past this share of the board, one scan is cheaper.
MOST_ROWS_RESCORED = 0.25


class ApproximateIndex:
    """An HNSW graph over unit vectors; each vector's key is its VectorIndex row."""

    def __init__(
        self,
        dims: int,
        *,
        quantization: Quantization = "f16",
        # 16 links a node gave recall@10 0.975-0.983 at 1,000,000 rows whatever the search
        # expansion (the misses were rows the graph did not reach); 32 gave 0.992 for the same
        # build and search time and 20% more graph memory (docs/performance.md, figure 7).
        connectivity: int = 32,
        expansion_add: int = 128,
        # 96 gave recall@10 0.96-0.98 at 1,000,000 rows, 192 and more 0.987 (docs/performance.md)
        expansion_search: int = 256,
    ) -> None:
        # int8 keeps only the angle well: stored unit vectors are rescaled, so cosine it is.
        metric = "cos" if quantization == "i8" else "ip"
        self._index = Index(
            ndim=dims,
            metric=metric,
            dtype=quantization,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )

    def __len__(self) -> int:
        return len(self._index)

    def add(self, vectors: FloatArray, rows: IntArray | None = None, threads: int = 0) -> None:
        """Add vectors under their rows (by default the next rows after the last added); a
        row already in the graph is replaced."""
        if rows is None:
            rows = np.arange(len(self._index), len(self._index) + len(vectors), dtype=np.intp)
        keys = rows.astype(np.uint64)
        present = keys[np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)]
        if len(present):
            self._index.remove(present)
        self._index.add(keys, vectors, threads=threads)

    def search(self, vector: FloatArray, count: int) -> tuple[IntArray, FloatArray]:
        """The rows of the `count` best matches, best first, and their scores."""
        matches = self._index.search(vector, count)
        rows: IntArray = np.asarray(matches.keys, dtype=np.intp)
        scores: FloatArray = (1.0 - np.asarray(matches.distances, dtype=np.float32)).astype(
            np.float32
        )
        return rows, scores


class HnswVectorIndex(VectorIndex):
    """A VectorIndex whose lists are found through an HNSW neighbourhood and scored exactly.

    top_n and lists_it_enters rescore only candidates, and fall back to the exact scan where
    the candidates cannot settle the answer; the API's filtered searches (score_reachable)
    still scan every row, and prepare, a batch's scan, has nothing to do."""

    def __init__(
        self, dims: int, capacity: int = 1024, *, storage: IndexStorage = "float32"
    ) -> None:
        super().__init__(dims, capacity, storage=storage)
        self.graph = ApproximateIndex(dims)
        # Rows written since the graph last caught up: a full load adds them in one threaded
        # batch, not one by one.
        self._pending: set[int] = set()

    def upsert(self, posting_id: str, vector: FloatArray, meta: PostingMeta) -> None:
        super().upsert(posting_id, vector, meta)
        self._pending.add(self.positions[posting_id])

    def prepare(self, posting_ids: Iterable[str]) -> None:
        """Nothing to prepare: the lists are scored from candidates, not full scans."""

    def neighbours(self, vector: FloatArray, count: int) -> IntArray | None:
        """The graph's `count` nearest rows, or None where the board is that small (a scan
        costs no more)."""
        if self.size <= count:
            return None
        self.sync_graph()
        rows = self.graph.search(vector, count)[0]
        return rows if len(rows) else None

    def sync_graph(self) -> None:
        """Add the rows written since the last search to the graph."""
        if self._pending:
            rows = np.fromiter(sorted(self._pending), dtype=np.intp, count=len(self._pending))
            self.graph.add(self._matrix[rows].astype(np.float32), rows)
            self._pending.clear()

    def top_n(
        self,
        vector: FloatArray,
        meta: PostingMeta,
        config: ScoringConfig,
        now: datetime,
        *,
        exclude: Iterable[str] = (),
        limit: int | None = None,
    ) -> list[Match]:
        limit = limit or config.top_n
        rows = self.neighbours(vector, limit * CANDIDATES_PER_ENTRY)
        if rows is not None:
            score, semantic, context = self.score_rows(vector, meta, config, rows)
            allowed = self.allowed(score, meta, config, now, exclude, rows)
            # Rows outside the neighbourhood score at most the weakest candidate's semantic
            # score plus the largest bonus: below the minimum, the candidates hold them all.
            beyond = config.weight_semantic * semantic.min() + config.weight_context
            if allowed.sum() >= limit or beyond < config.min_score:
                return self.best(score, semantic, context, allowed, limit, rows)
        return super().top_n(vector, meta, config, now, exclude=exclude, limit=limit)

    def lists_it_enters(
        self, posting_id: str, config: ScoringConfig, now: datetime
    ) -> list[tuple[str, Match]]:
        """As VectorIndex.lists_it_enters, over the lists of the posting's neighbourhood and
        every list not yet full. Scores are symmetric, so a full list outside the
        neighbourhood is one whose floor the posting rarely beats: it is not among the
        posting's top_n * ENTER_CANDIDATES_PER_ENTRY nearest."""
        vector, meta = self.vector(posting_id), self.meta(posting_id)
        nearest = self.neighbours(vector, config.top_n * ENTER_CANDIDATES_PER_ENTRY)
        if nearest is None:
            return super().lists_it_enters(posting_id, config, now)
        rows = np.union1d(nearest, self._open_lists(meta, config, now))
        if len(rows) > self.size * MOST_ROWS_RESCORED:
            return super().lists_it_enters(posting_id, config, now)
        scores = self.score_rows(vector, meta, config, rows)
        return self.entries(posting_id, scores, config, now, rows)

    def _open_lists(self, meta: PostingMeta, config: ScoringConfig, now: datetime) -> IntArray:
        """Listed rows of `meta`'s type whose list is not full."""
        open_lists = self.facts.list_count[: self.size] < config.top_n
        return np.flatnonzero(open_lists & self.listable(now, meta.listing_type))


def vector_index(dims: int, config: ScoringConfig) -> VectorIndex:
    """The worker's index as the settings in `config` describe it."""
    if config.index_search == "hnsw":
        return HnswVectorIndex(dims, storage=config.index_storage)
    return VectorIndex(dims, storage=config.index_storage)
