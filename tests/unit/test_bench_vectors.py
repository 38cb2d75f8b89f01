"""Synthetic benchmark vectors: every row a unit vector, whatever the anchors."""

from __future__ import annotations

import numpy as np

from jobsim.bench.vectors import fit_width, synthetic


def test_anchors_whose_cut_is_all_zeros_are_left_out() -> None:
    rng = np.random.default_rng(3)
    anchors = rng.standard_normal((6, 20)).astype(np.float32)
    anchors[2, :8] = 0.0  # a posting whose full view had no weight (all boilerplate)
    cut = fit_width(anchors, 8, rng)
    assert len(cut) == 5
    vectors = synthetic(cut, 5_000, rng)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
