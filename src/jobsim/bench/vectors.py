"""Synthetic vectors shaped like real ones, for sizes no model embeds in a benchmark's time.

Real embeddings of a few hundred generated postings are the anchors; each synthetic vector is
a point on the segment between two anchors plus small noise, normalised. On uniform random
vectors every neighbour is a near-tie and an approximate index finds almost none of them;
real postings lie near a low-dimensional surface of related occupations, which this keeps.
"""

from __future__ import annotations

import numpy as np

from jobsim.similarity import FloatArray

NOISE = 0.15  # norm of the noise added to a unit anchor mix
CHUNK = 50_000
SAMPLE = 1_000  # rows list_floors compares each row with


def anchors_for(dims: int, count: int, rng: np.random.Generator) -> FloatArray:
    """Stand-in anchors when no real embeddings are at hand: 40 topics, `count` unit vectors
    spread around them (as related occupations cluster)."""
    topics = rng.standard_normal((40, dims)).astype(np.float32)
    picks = topics[rng.integers(0, 40, count)]
    vectors = picks + 0.7 * rng.standard_normal((count, dims)).astype(np.float32)
    return _unit(vectors)


def fit_width(anchors: FloatArray, dims: int, rng: np.random.Generator) -> FloatArray:
    """Anchors of another width: cut, or padded with a fixed random projection of themselves.
    A cut can be all zeros (a posting whose description is all boilerplate gives its full
    view, the first dimensions, no weight); such anchors are left out, as they have no
    direction."""
    if anchors.shape[1] >= dims:
        cut = anchors[:, :dims]
        return _unit(cut[np.linalg.norm(cut, axis=1) > 1e-6].copy())
    projection = rng.standard_normal((anchors.shape[1], dims - anchors.shape[1]))
    extra = (anchors @ projection.astype(np.float32)) / np.sqrt(anchors.shape[1])
    return _unit(np.hstack([anchors, extra]).astype(np.float32))


def synthetic(anchors: FloatArray, rows: int, rng: np.random.Generator) -> FloatArray:
    """`rows` unit vectors on segments between random pairs of anchors, plus noise."""
    out = np.empty((rows, anchors.shape[1]), dtype=np.float32)
    for start in range(0, rows, CHUNK):
        count = min(CHUNK, rows - start)
        first = anchors[rng.integers(0, len(anchors), count)]
        second = anchors[rng.integers(0, len(anchors), count)]
        mix = rng.random((count, 1), dtype=np.float32) * 0.5
        noise = rng.standard_normal(first.shape, dtype=np.float32)
        noise *= NOISE / np.sqrt(anchors.shape[1])
        out[start : start + count] = _unit((1 - mix) * first + mix * second + noise)
    return out


def _unit(vectors: FloatArray) -> FloatArray:
    unit: FloatArray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit.astype(np.float32, copy=False)


def list_floors(vectors: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Each row's list floor, estimated without scoring every pair: the best semantic match in
    a sample of SAMPLE rows ranks about n / SAMPLE-th among all n, a little below a true
    top-10's floor (so no fewer lists take a new posting than on a real board)."""
    sample = vectors[rng.integers(0, len(vectors), min(SAMPLE, len(vectors)))]
    best = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 20_000):
        scores = vectors[start : start + 20_000] @ sample.T
        scores[scores > 0.9999] = -1.0  # a row's own vector in the sample
        best[start : start + 20_000] = scores.max(axis=1)
    floors: FloatArray = (0.9 * best + 0.1 * 0.5).astype(np.float32)
    return floors
