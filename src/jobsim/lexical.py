"""The lexical view: hashed character n-grams of a short text (a posting's title).

Word-bounded character n-grams (3-5) catch inflections, compounds and spelling variants that a
sentence model trained on English misses ("magazynier" ~ "magazyniera"), in any script: words
are split on Unicode word characters, so Cyrillic, Greek, Arabic or CJK titles work the same.
The n-grams are hashed (CRC32, stable across processes and versions) into a fixed number of
dimensions, so the vector needs no vocabulary or corpus statistics and never goes stale.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter

import numpy as np
import numpy.typing as npt

NGRAM_MIN = 3
NGRAM_MAX = 5
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def char_ngrams(text: str, n_min: int = NGRAM_MIN, n_max: int = NGRAM_MAX) -> Counter[str]:
    """Counts of the character n-grams of each word, padded with a space on both sides."""
    grams: Counter[str] = Counter()
    for word in _WORD.findall(normalise(text)):
        padded = f" {word} "
        for n in range(n_min, n_max + 1):
            if len(padded) < n:
                break
            grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def lexical_vector(text: str, dims: int) -> npt.NDArray[np.float32]:
    """Unit vector of hashed n-gram counts; all zeros when the text has no word characters."""
    vector = np.zeros(dims, dtype=np.float32)
    for gram, count in char_ngrams(text).items():
        vector[zlib.crc32(gram.encode("utf-8")) % dims] += count
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector /= norm
    return vector
