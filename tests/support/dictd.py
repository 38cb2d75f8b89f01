"""Dictionaries in the dictd format (as FreeDict ships them), written by tests."""

from __future__ import annotations

import gzip
from pathlib import Path

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(value: int) -> str:
    digits = ""
    while True:
        digits = B64[value % 64] + digits
        value //= 64
        if value == 0:
            return digits


def write_dictd(directory: Path, name: str, entries: dict[str, str], compress: bool = True) -> Path:
    """`name`.index plus `name`.dict.dz (gzip, which dictzip extends) or a plain `name`.dict."""
    data = b""
    index_lines = ["00databaseinfo\tA\tB"]
    for headword, entry in entries.items():
        encoded = entry.encode("utf-8")
        index_lines.append(f"{headword}\t{b64(len(data))}\t{b64(len(encoded))}")
        data += encoded
    index = directory / f"{name}.index"
    index.write_text("\n".join(index_lines) + "\n", encoding="utf-8")
    if compress:
        (directory / f"{name}.dict.dz").write_bytes(gzip.compress(data))
    else:
        (directory / f"{name}.dict").write_bytes(data)
    return index
