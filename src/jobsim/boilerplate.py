"""Boilerplate out of descriptions: text that many recent postings share word for word.

Job ads carry template text: an agency's introduction, a job site's form labels ("Zmianowość:",
"Data rozpoczęcia pracy:"), the same privacy clause. An embedding of such a description says
"an ad of agency X", not "a welder": its nearest neighbours are that agency's other ads. The
full view therefore weighs less the more of a description is boilerplate (`kept_share`,
jobsim.vectorizer.view_weights), where boilerplate is a run of words shared with many of the
recent postings, found without labels or a word list:

- a description is cut into overlapping shingles of `SHINGLE_WORDS` words (lower-cased, digits
  folded, so "2021" and "2022" match);
- `BoilerplateFilter` counts, in a hashed table, how many of the last `capacity` descriptions it
  saw hold each shingle;
- `distinctive(text)` drops every word covered by a shingle held by at least 1% of them (and
  at least 5), and keeps the rest in order. Template text is shared by hundreds of a board's
  postings; phrasing that postings of one occupation share ("set up and operate") by a few
  dozen at most, and it says what the job is, so it stays.

On the Polish ads about a fifth of a description is boilerplate, on the ESCO profiles about a
twentieth. The counts only matter when a posting is embedded: a new posting changes them by
one and never touches vectors already stored, so lists do not churn. Each worker keeps its own
filter, primed from the newest postings in the database before its first batch
(`PostingVectorizer.prime_from`) and fed by each batch before that batch is embedded.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

SHINGLE_WORDS = 4
DEFAULT_SHARE = 0.01
MIN_THRESHOLD = 5
DEFAULT_CAPACITY = 10_000
# Longer descriptions are read up to this many characters: enough for the part that is embedded.
MAX_CHARS = 4_000
_TABLE_BITS = 22  # 4M counters, 8 MB: collisions stay rare at 10,000 postings x ~200 shingles
_DIGITS = re.compile(r"\d+")
_POLYNOMIAL = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: an odd multiplier
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)

IntArray = npt.NDArray[np.int32]  # table buckets: 2^22 of them


def shingle_buckets(words: list[str]) -> IntArray:
    """The table bucket of each shingle of `words`, in order (one per starting word).

    Each word is hashed once (CRC-32 of its folded form) and a shingle's hash is a polynomial
    of its words' hashes, mixed so that every bit of the bucket depends on all four words:
    hashing each shingle's joined text cost four times the hashing and a string per shingle."""
    keys = _DIGITS.sub("0", " ".join(words).lower()).split()  # lower() adds no spaces
    count = len(keys) - SHINGLE_WORDS + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int32)
    hashes = np.fromiter(map(_word_hash, keys), dtype=np.uint64, count=len(keys))
    mixed = hashes[:count].copy()
    for offset in range(1, SHINGLE_WORDS):
        mixed *= _POLYNOMIAL
        mixed += hashes[offset : offset + count]
    # splitmix64's finaliser: the low bits taken below depend on every bit of the sum.
    mixed ^= mixed >> np.uint64(30)
    mixed *= _MIX_1
    mixed ^= mixed >> np.uint64(27)
    mixed *= _MIX_2
    mixed ^= mixed >> np.uint64(31)
    return (mixed & np.uint64((1 << _TABLE_BITS) - 1)).astype(np.int32)


@lru_cache(maxsize=1 << 16)
def _word_hash(key: str) -> int:
    """CRC-32 of a folded word; a board's descriptions draw on a small vocabulary, so most
    words are looked up rather than hashed."""
    return zlib.crc32(key.encode("utf-8"))


class _Seen(NamedTuple):
    """A description counted: its text's CRC-32, its shingle buckets in order and the distinct
    ones (what the counts hold)."""

    fingerprint: int
    buckets: IntArray
    distinct: IntArray


class BoilerplateFilter:
    """Counts of the shingles of the last `capacity` descriptions seen, and the filter they give."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        share: float = DEFAULT_SHARE,
        min_threshold: int = MIN_THRESHOLD,
    ) -> None:
        if capacity < 1 or not 0 <= share <= 1 or min_threshold < 2:
            raise ValueError("capacity must be >= 1, share in [0, 1] and min_threshold >= 2")
        self.capacity = capacity
        self.share = share
        self.min_threshold = min_threshold
        self._counts = np.zeros(1 << _TABLE_BITS, dtype=np.int32)
        self._seen: OrderedDict[str, _Seen] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def threshold(self) -> int:
        """How many of the descriptions seen must hold a shingle for it to be boilerplate."""
        return max(self.min_threshold, math.ceil(self.share * len(self._seen)))

    def observe(self, key: str, description: str) -> None:
        """Count one posting's description (again, if `key` was seen: its old text is dropped)."""
        self._observe(key, description[:MAX_CHARS].split())

    def observe_all(self, descriptions: Iterable[tuple[str, str]]) -> None:
        for key, description in descriptions:
            self.observe(key, description)

    def observe_and_share(self, descriptions: Sequence[tuple[str, str]]) -> list[float]:
        """Count these postings' descriptions, then give each one's `kept_share` under the new
        counts (a batch sees the text it shares with itself); each text is cut into shingles
        once, or not at all when this filter counted the same text before (priming)."""
        cut = [description[:MAX_CHARS].split() for _, description in descriptions]
        observed = zip(descriptions, cut, strict=True)
        buckets = [self._observe(key, words) for (key, _), words in observed]
        return [self._kept_share(w, b) for w, b in zip(cut, buckets, strict=True)]

    def _observe(self, key: str, words: list[str]) -> IntArray:
        """Count `words` as `key`'s description and give its shingle buckets in order. The same
        text seen again (a worker primed with the postings it then embeds) only becomes the
        newest: it is not cut again."""
        fingerprint = zlib.crc32(" ".join(words).encode("utf-8"))
        old = self._seen.pop(key, None)
        if old is not None and old.fingerprint == fingerprint:
            self._seen[key] = old
            return old.buckets
        if old is not None:
            self._counts[old.distinct] -= 1
        buckets = shingle_buckets(words)
        seen = _Seen(fingerprint, buckets, np.unique(buckets))
        self._counts[seen.distinct] += 1
        self._seen[key] = seen
        while len(self._seen) > self.capacity:
            _, oldest = self._seen.popitem(last=False)
            self._counts[oldest.distinct] -= 1
        return buckets

    def kept_share(self, description: str) -> float:
        """The share of `description`'s characters (spacing aside) that `distinctive` keeps:
        1 for a description of its own, near 0 for one that is all template."""
        words = description[:MAX_CHARS].split()
        return self._kept_share(words, shingle_buckets(words))

    def distinctive(self, description: str) -> str:
        """`description` without the words that shingles shared by `threshold` postings cover."""
        words = description[:MAX_CHARS].split()
        return self._distinctive(words, shingle_buckets(words))

    def _kept_share(self, words: list[str], buckets: IntArray) -> float:
        whole = len(" ".join(words))
        return len(self._distinctive(words, buckets)) / whole if whole else 1.0

    def _distinctive(self, words: list[str], buckets: IntArray) -> str:
        if not len(buckets) or not len(self._seen):
            return " ".join(words)
        shared = self._counts[buckets] >= self.threshold
        if not shared.any():
            return " ".join(words)
        covered = np.zeros(len(words), dtype=bool)
        for offset in range(SHINGLE_WORDS):
            covered[offset : offset + len(shared)] |= shared
        return " ".join(word for word, drop in zip(words, covered, strict=True) if not drop)
