"""An approximate nearest-neighbour index (HNSW, usearch) over unit vectors, for boards too
large for an exact scan per query: a posting's top-k in well under a millisecond, with
vectors stored quantized (int8 or float16), so it is also the compact representation.

Scores are inner products of the stored (quantized) vectors; the exact float32 matrix stays
the reference that the benchmark measures its recall against.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from usearch.index import Index

from jobsim.similarity import FloatArray

Quantization = Literal["f32", "f16", "i8"]
IntArray = npt.NDArray[np.int64]


class ApproximateIndex:
    """Rows are numbered as they are added (the VectorIndex's positions)."""

    def __init__(
        self,
        dims: int,
        *,
        quantization: Quantization = "f16",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 96,
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

    @property
    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)

    def add(self, vectors: FloatArray, threads: int = 0) -> None:
        start = len(self._index)
        keys = np.arange(start, start + len(vectors), dtype=np.uint64)
        self._index.add(keys, vectors, threads=threads)

    def search(self, vector: FloatArray, count: int) -> tuple[IntArray, FloatArray]:
        """The rows of the `count` best matches, best first, and their scores."""
        matches = self._index.search(vector, count)
        rows: IntArray = np.asarray(matches.keys, dtype=np.int64)
        scores: FloatArray = (1.0 - np.asarray(matches.distances, dtype=np.float32)).astype(
            np.float32
        )
        return rows, scores
