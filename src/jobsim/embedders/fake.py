"""The `fake:<dims>` embedder, a test double shipped with jobsim.

FakeEmbedder is a deterministic stand-in for a real model, for fast tests and demos without
a model: a text's vector is the normalised sum of hashed word (and word-bigram) features, so
texts that share words are close and unrelated texts are nearly orthogonal. It is not a
semantic model and must never be used to judge quality.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors

_WORD = re.compile(r"\w+", re.UNICODE)
_SLOTS_KEPT = 200_000


class FakeEmbedder(Embedder):
    def __init__(self, dims: int = 64, name: str = "fake:hash") -> None:
        self.name = name
        self.dims = dims
        self.max_batch = 256
        self.max_input_chars = 4000
        self.calls: list[int] = []
        self._slots: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        self.calls.append(len(texts))
        rows = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            rows[row] = self._vector(text)
        return validate_vectors(rows, len(texts), self.dims)

    def _vector(self, text: str) -> np.ndarray:
        words = [w.lower() for w in _WORD.findall(text)]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        slots = np.array([self._slot(feature) for feature in features], dtype=np.int64)
        # A feature's slot is its index times two, plus one for a negative sign.
        signed = np.bincount(slots, minlength=2 * self.dims).reshape(self.dims, 2)
        vector = (signed[:, 0] - signed[:, 1]).astype(np.float32)
        if not vector.any():
            vector[0] = 1.0
        return vector

    def _slot(self, feature: str) -> int:
        """The feature's dimension and sign, from its hash; remembered, since words recur."""
        slot = self._slots.get(feature)
        if slot is None:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dims
            slot = 2 * index + (0 if digest[4] & 1 else 1)
            if len(self._slots) >= _SLOTS_KEPT:
                self._slots.clear()
            self._slots[feature] = slot
        return slot
