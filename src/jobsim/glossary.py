"""Word-by-word English glosses of non-English texts, from installed bilingual dictionaries.

The offline default model reads English. A Polish title such as "Kasjer" means nothing to it
until it reads "cashier", and then it sits next to "Sprzedawca" ("shop assistant"). So before
the embedder reads a posting's title or recipe text, each word of three letters or more is
replaced by the first translation a dictionary gives for it, or for its lemma (simplemma), and
kept as it is when the dictionary does not know it. Measured on real Polish ads in
docs/quality.md.

Dictionaries are FreeDict files in the dictd format (`freedict-pol-eng.index` and `.dict.dz`,
Debian's `dict-freedict-*-eng` packages); scripts/bootstrap.sh installs them where it can. Which
dictionaries are present is part of the vector model name (see `Glossary.fingerprint`), so
workers with different dictionaries never mix their vectors.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from jobsim.errors import ConfigurationError

# FreeDict names dictionaries by ISO 639-3; language detection gives ISO 639-1.
# fmt: off
ISO_639_1 = {
    "afr": "af", "ara": "ar", "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el",
    "epo": "eo", "fin": "fi", "fra": "fr", "gle": "ga", "hrv": "hr", "hun": "hu", "isl": "is",
    "ita": "it", "jpn": "ja", "kur": "ku", "lat": "la", "lit": "lt", "nld": "nl", "nor": "no",
    "pol": "pl", "por": "pt", "rus": "ru", "slk": "sk", "slv": "sl", "spa": "es", "srp": "sr",
    "swe": "sv", "swh": "sw", "tur": "tr", "ukr": "uk",
}
# fmt: on
_INDEX_NAME = re.compile(r"^freedict-([a-z]{3})-eng\.index$")
_WORD = re.compile(r"\w+")
_MARKUP = re.compile(r"<[^>]*>|\[[^\]]*\]|\{[^}]*\}")
_SENSE_NUMBER = re.compile(r"^\s*\d+\.\s*")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MIN_WORD_LENGTH = 3
# Part of the fingerprint: a change to how texts are glossed must name a new vector model.
GLOSS_RULES = "v2: full and title views; words of 3+ letters; first translation; lemma fallback"


def _decode_offset(text: str) -> int:
    value = 0
    for char in text:
        value = value * 64 + _B64.index(char)
    return value


def first_translation(entry: str) -> str | None:
    """The first English translation in one dictd entry (header line, then senses)."""
    lines = entry.split("\n")[1:]
    for line in lines[:1] + [line for line in lines[1:] if _SENSE_NUMBER.match(line)]:
        text = _MARKUP.sub("", _SENSE_NUMBER.sub("", line))
        text = re.sub(r"\s+\d+\.\s*$", "", text).strip()
        if not text or text[0] in "(…":
            continue
        candidate = re.split(r"[,;]", text)[0].strip()
        if candidate:
            return candidate
    return None


class DictdDictionary:
    """One X→English dictionary in the dictd format, read lazily entry by entry."""

    def __init__(self, index_path: Path) -> None:
        data_path = index_path.with_suffix(".dict.dz")
        if not data_path.exists():
            data_path = index_path.with_suffix(".dict")
        if not data_path.exists():
            raise ConfigurationError(f"dictionary {index_path.name} has no .dict or .dict.dz file")
        self.index_path = index_path
        self.data_path = data_path
        self._offsets: dict[str, tuple[int, int]] | None = None
        self._data = b""
        self._lock = threading.Lock()

    def _load(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            if self._offsets is None:
                offsets: dict[str, tuple[int, int]] = {}
                with self.index_path.open(encoding="utf-8", errors="replace") as index:
                    for line in index:
                        parts = line.rstrip("\n").split("\t")
                        if len(parts) < 3 or parts[0].startswith("00database"):
                            continue
                        key = parts[0].lower()
                        if key not in offsets:
                            offsets[key] = (_decode_offset(parts[1]), _decode_offset(parts[2]))
                raw = self.data_path.read_bytes()
                self._data = gzip.decompress(raw) if self.data_path.suffix == ".dz" else raw
                self._offsets = offsets
            return self._offsets

    def translate(self, word: str) -> str | None:
        position = self._load().get(word.lower())
        if position is None:
            return None
        start, length = position
        return first_translation(self._data[start : start + length].decode("utf-8", "replace"))


@dataclass
class Glossary:
    """The installed X→English dictionaries, by ISO 639-1 language code."""

    dictionaries: dict[str, DictdDictionary] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted(self.dictionaries)

    @cached_property
    def fingerprint(self) -> str:
        """Short id of exactly these dictionaries (their languages and index contents)."""
        digest = hashlib.sha256(GLOSS_RULES.encode())
        for language in self.languages:
            digest.update(language.encode())
            digest.update(self.dictionaries[language].index_path.read_bytes())
        return digest.hexdigest()[:8]

    def gloss(self, text: str, language: str) -> str:
        """The text with every known word of `language` replaced by its English translation."""
        dictionary = self.dictionaries.get(language)
        if dictionary is None:
            return text
        return _WORD.sub(lambda match: _gloss_word(dictionary, language, match.group(0)), text)


# A board's vocabulary is small and repeats; each word is looked up once per dictionary.
@lru_cache(maxsize=200_000)
def _gloss_word(dictionary: DictdDictionary, language: str, word: str) -> str:
    if len(word) < MIN_WORD_LENGTH or word.isdigit():
        return word
    translation = dictionary.translate(word)
    if translation is None:
        lemma = _lemma(word.lower(), language)
        translation = dictionary.translate(lemma) if lemma != word.lower() else None
    return translation or word


@lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    import simplemma

    try:
        return str(simplemma.lemmatize(word, lang=language))
    except ValueError:  # simplemma has no data for this language
        return word


@lru_cache(maxsize=8)
def find_glossary(directory: str) -> Glossary:
    """Every `freedict-XXX-eng` dictionary in `directory` ('' or a missing folder: none)."""
    if not directory or not Path(directory).is_dir():
        return Glossary()
    dictionaries: dict[str, DictdDictionary] = {}
    for path in sorted(Path(directory).iterdir()):
        match = _INDEX_NAME.match(path.name)
        if match and match.group(1) in ISO_639_1:
            dictionaries[ISO_639_1[match.group(1)]] = DictdDictionary(path)
    return Glossary(dictionaries)
