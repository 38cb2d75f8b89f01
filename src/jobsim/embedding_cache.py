"""The embeddings of recently seen texts, so the same text is embedded once.

Job boards repeat titles ("Kierowca kat. C+E", "Warehouse operative") across many postings, and
a board that re-posts an ad sends the same text again. A PostingVectorizer keeps the vectors of
the last `capacity` distinct texts it embedded (least recently used out first) and sends only the
others to its embedder. The key is the exact text the embedder would read, and a vectorizer has
one embedder, so a hit is the vector the embedder would return again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from jobsim.embedders.base import FloatMatrix

DEFAULT_CAPACITY = 4_096  # about 6 MB at 384 dimensions


class EmbeddingCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, FloatMatrix] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str], embed: Callable[[list[str]], FloatMatrix]) -> FloatMatrix:
        """The vectors of `texts`, in order: known ones from the cache, the distinct others
        from one call of `embed` (which must return one checked row per text, and its
        zero-row matrix for no texts: the cache does not ask the embedder its width, which an
        HTTP embedder learns only from a request)."""
        if not texts:
            return embed([])
        with self._lock:  # the API's threads share a free-text matcher's vectorizer
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
            unknown = list(dict.fromkeys(t for t in texts if t not in known))
            self.misses += len(unknown)
            self.hits += len(texts) - len(unknown)
        if unknown:
            known.update(zip(unknown, embed(unknown), strict=True))
            with self._lock:
                for text in unknown:
                    self._remember(text, known[text])
        result: FloatMatrix = np.vstack([known[text] for text in texts])
        return result

    def clear(self) -> None:
        """Forget every text (a benchmark's warm-up must not answer the texts it times)."""
        with self._lock:
            self._vectors.clear()
            self.hits = self.misses = 0

    def _remember(self, text: str, vector: FloatMatrix) -> None:
        if self.capacity <= 0:
            return
        stored = np.array(vector, dtype=np.float32)
        stored.setflags(write=False)
        self._vectors[text] = stored
        self._vectors.move_to_end(text)
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
