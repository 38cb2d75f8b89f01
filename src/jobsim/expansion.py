"""Neighbour expansion: a new vector leans towards the stored vectors nearest to it.

Before a posting's vector is stored, it becomes its own vector plus the vectors of its
`neighbours` nearest stored postings of its listing type, each weighted by its cosine to the
fifth power (a weak neighbour adds next to nothing), normalised again:

    stored = normalise(v + sum_j max(cos(v, s_j), 0)^5 * s_j)   over the nearest s_j

Two postings of one occupation written in different words share neighbours, so their stored
vectors move towards each other, while a near-duplicate's own words still dominate. The score of
two postings is still one dot product of stored vectors (symmetric), so lists, the index and
the oracle are unchanged. It is fixed when a posting is embedded, from the vectors stored then
(themselves expanded): a new posting never changes another's vector, so lists do not churn; the
first postings of an empty board are stored as they are. A free-text query is expanded the same
way, so it is compared like a posting. Measured in docs/quality.md ("Neighbour expansion").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jobsim.similarity import FloatArray, VectorIndex, scan_many

WEIGHT_POWER = 5


def expand(
    index: VectorIndex,
    vectors: FloatArray,
    listing_types: Sequence[str],
    neighbours: int,
    *,
    exclude: Sequence[str | None] = (),
) -> FloatArray:
    """`vectors` (one row each, of `listing_types`) expanded with their `neighbours` nearest
    rows of `index` of the same type; `exclude[i]` names a posting row i may not lean on (its
    own older vector). Unchanged when `neighbours` is 0 or the index holds none of the type."""
    if neighbours <= 0 or index.size == 0 or len(vectors) == 0:
        return vectors
    scores = scan_many(index.matrix, vectors.astype(np.float32, copy=False))
    expanded = np.array(vectors, dtype=np.float32, copy=True)
    other_types = {kind: ~index.of_type(kind) for kind in set(listing_types)}
    for row, listing_type in enumerate(listing_types):
        candidates = scores[row]  # this row's own copy: picked and excluded rows are set to -inf
        if other_types[listing_type].any():
            candidates[other_types[listing_type]] = -np.inf
        own = exclude[row] if row < len(exclude) else None
        if own is not None and own in index:
            candidates[index.positions[own]] = -np.inf
        nearest, weights = _nearest(candidates, neighbours)
        if not nearest:
            continue
        lean = np.asarray(weights, dtype=np.float32) @ index.matrix[nearest].astype(np.float32)
        total = expanded[row] + lean
        expanded[row] = total / np.linalg.norm(total)
    return expanded


def _nearest(candidates: FloatArray, count: int) -> tuple[list[int], list[float]]:
    """The positions of the (at most) `count` best candidates with a positive score, best
    first, and their weights; takes them out of `candidates`. A few passes of argmax: for the
    handful of neighbours wanted, much faster than partitioning 100,000 scores."""
    positions: list[int] = []
    weights: list[float] = []
    for _ in range(min(count, len(candidates))):
        best = int(np.argmax(candidates))
        score = float(candidates[best])
        if not score > 0:  # the rest weigh nothing (and -inf is no candidate)
            break
        positions.append(best)
        weights.append(score**WEIGHT_POWER)
        candidates[best] = -np.inf
    return positions, weights
