"""Text cleaning shared by the embedding recipe: markup, emoji and control characters out."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_SCRIPT_STYLE = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>")
_TAG = re.compile(r"<[^>]{0,2000}>")
_BLOCK_TAG = re.compile(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|li)\b[^>]*>")
_MARKDOWN = re.compile(r"(\*\*|__|`{1,3}|^#{1,6}\s+|^\s*[-*+]\s+)", re.MULTILINE)
_SPACE_CHARS = "\t\u00a0\u2000-\u200b\u202f\u205f\u3000"
# Every run of spacing becomes one space; a lone space is left alone (it already is one), which
# spares a replacement per word.
_SPACES = re.compile(f"[{_SPACE_CHARS}][ {_SPACE_CHARS}]*| [ {_SPACE_CHARS}]+")
_NEWLINES = re.compile(r"\n{3,}")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, symbols & pictographs ext.
    "\U00002600-\U000027bf"  # misc symbols, dingbats
    "\U0001f1e6-\U0001f1ff"  # regional indicators (flags)
    "\ufe0e\ufe0f\u200d"  # variation selectors, zero-width joiner
    "\U000e0020-\U000e007f"  # tag characters
    "]+"
)
_FIRST_EMOJI_CHAR = "\u200d"  # the smallest character _EMOJI matches (the zero-width joiner)
_LINE_MARKERS = frozenset("#-*+")


# The worker cleans a batch's texts twice (its plan, then the content-hash fence in the write);
# a batch's worth of texts is kept so the second time costs a lookup.
@lru_cache(maxsize=512)
def clean_text(value: str) -> str:
    """Plain text fit for an embedding model: no HTML/markdown, emoji or control characters."""
    # Line breaks first: a lone CR is a control character and would otherwise glue lines.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _SCRIPT_STYLE.sub(" ", value)
    value = _BLOCK_TAG.sub("\n", value)
    value = _TAG.sub(" ", value)
    value = html.unescape(value)
    if _may_hold_markdown(value):
        value = _MARKDOWN.sub("", value)
    characters = set(value)  # a long text holds few distinct characters: both tests read them
    if characters and max(characters) >= _FIRST_EMOJI_CHAR:
        value = _EMOJI.sub(" ", value)
    value = _drop_control_characters(value, characters)
    value = unicodedata.normalize("NFC", value)
    lines = [line.strip() for line in _SPACES.sub(" ", value).split("\n")]
    text = "\n".join(lines)
    return (_NEWLINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()


def _may_hold_markdown(value: str) -> bool:
    """False where _MARKDOWN cannot match: no inline marker, and no line whose first
    non-space character is a heading or list marker. The regex tries its alternatives at every
    character, which costs more than all the other cleaning together on a long description."""
    if "**" in value or "__" in value or "`" in value:
        return True
    return any(line.lstrip()[:1] in _LINE_MARKERS for line in value.split("\n"))


def _drop_control_characters(value: str, characters: set[str]) -> str:
    """Control, format and surrogate characters out (tab and newline stay); `characters` holds
    every character of `value` (it may hold more). Each distinct character is classified
    once: the text's character set is small, the text is not."""
    dropped = {
        ord(ch): None
        for ch in characters
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs")
    }
    return value.translate(dropped) if dropped else value


def truncate(value: str, max_chars: int) -> str:
    """Cut to at most max_chars, at a word boundary when one is near."""
    if len(value) <= max_chars:
        return value
    cut = value[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars * 0.8 else cut
