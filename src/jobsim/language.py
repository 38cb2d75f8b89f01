"""Language detection for postings (seed field `language`: e.g. en, sq, pl, mixed, unknown).

Uses py3langid (an offline, maintained fork of langid.py; 97 languages). A posting's title and
description are split into segments; each confident segment votes with its letter count. Two
languages that each hold a real share of the text make the posting `mixed`.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

UNKNOWN = "unknown"
MIXED = "mixed"
MIN_LETTERS = 12  # shorter segments are too ambiguous to vote
MIN_CONFIDENCE = 0.3
MIXED_SHARE = 0.25  # the runner-up language must hold this share of the voting letters
_SEGMENTS = re.compile(r"[\n\r.!?;:|•·]+|\s[-–—/]\s")
_NOT_LANGUAGE = {"zxx"}  # langid's "no linguistic content"
_ALIASES = {"arz": "ar", "nb": "no", "nn": "no"}


@lru_cache(maxsize=1)
def _identifier() -> Any:
    import py3langid.langid as langid

    return langid.LanguageIdentifier.from_modelpath(
        langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
    )


def warm_up() -> None:
    """Load the model now (about a second) instead of inside the first request."""
    _identifier()


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def classify(text: str) -> tuple[str, float]:
    """(ISO 639-1 code or 'unknown', probability) for one piece of text."""
    if _letters(text) < MIN_LETTERS:
        return UNKNOWN, 0.0
    code, probability = _identifier().classify(text)
    code = _ALIASES.get(str(code), str(code))
    if code in _NOT_LANGUAGE or probability < MIN_CONFIDENCE:
        return UNKNOWN, float(probability)
    return code, float(probability)


def detect_language(*texts: str | None) -> str:
    """The language of a posting's texts: a code, 'mixed', or 'unknown'."""
    votes: Counter[str] = Counter()
    for text in texts:
        if not text:
            continue
        for segment in _segments(text):
            code, _ = classify(segment)
            if code != UNKNOWN:
                votes[code] += _letters(segment)
    if not votes:
        whole = " ".join(t for t in texts if t)
        return classify(whole)[0]
    ranked = votes.most_common(2)
    total = sum(votes.values())
    if len(ranked) == 2 and ranked[1][1] / total >= MIXED_SHARE:
        return MIXED
    return ranked[0][0]


def _segments(text: str) -> list[str]:
    """Sentence-like pieces, merged until each is long enough to vote."""
    pieces = [p.strip() for p in _SEGMENTS.split(text) if p and p.strip()]
    merged: list[str] = []
    buffer = ""
    for piece in pieces:
        buffer = f"{buffer} {piece}".strip()
        if _letters(buffer) >= 40:
            merged.append(buffer)
            buffer = ""
    if buffer:
        if merged and _letters(buffer) < MIN_LETTERS * 2:
            merged[-1] = f"{merged[-1]} {buffer}"
        else:
            merged.append(buffer)
    return merged
