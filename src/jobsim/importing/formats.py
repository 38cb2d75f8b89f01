"""Which format an import file is in, and walking it: JSON, JSON Lines, CSV, mongoexport output.

A record that cannot be parsed becomes an error record naming its line, and reading goes on; a
file that cannot be read at all raises `ValidationFailed`.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TextIO

from jobsim.errors import ValidationFailed
from jobsim.importing.records import ImportRecord, json_kind, to_record

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

Format = Literal["json", "jsonl", "csv"]

_SAMPLE_BYTES: Final = 64 * 1024
_FORMAT_NAMES: Final[dict[str, Format]] = dict(
    json="json", jsonl="jsonl", ndjson="jsonl", csv="csv", tsv="csv"
)
_WRAPPER_KEYS: Final = ("jobs", "postings", "items", "data")
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")


# --------------------------------------------------------------------------- format detection


def detect_format(path: Path, sample: str) -> Format:
    """Guess the format from the file extension, else from the first characters of the file."""
    text = sample.lstrip("\ufeff").lstrip()
    by_extension = _FORMAT_NAMES.get(path.suffix.lower().removeprefix("."))
    if by_extension == "json":
        # mongoexport writes JSON Lines by default, even into a file named *.json
        return "jsonl" if _looks_like_jsonl(text) else "json"
    if by_extension is not None:
        return by_extension
    if text.startswith("["):
        return "json"
    if _looks_like_jsonl(text):
        return "jsonl"
    return "json" if text.startswith("{") else "csv"


def _looks_like_jsonl(text: str) -> bool:
    """Two lines that each hold an object: `{...}` then a line that starts with `{`."""
    lines = [line.strip() for line in text.split("\n", 2)[:2]]
    if len(lines) < 2 or not all(line.startswith("{") for line in lines):
        return False
    return lines[0].endswith("}")


# --------------------------------------------------------------------------- reading files


def read_records(path: Path, fmt: str | None = None) -> Iterator[ImportRecord]:
    """Yield the records of `path` one by one (format from `fmt`, else detected)."""
    encoding, sample = _read_sample(path)
    chosen = _choose_format(path, sample, fmt)
    if chosen == "csv":
        return _read_csv(path, encoding, sample)
    if chosen == "jsonl":
        return _read_jsonl_file(path, encoding)
    return _read_json(path, _read_text(path, encoding))


def _choose_format(path: Path, sample: str, fmt: str | None) -> Format:
    if fmt is None:
        return detect_format(path, sample)
    chosen = _FORMAT_NAMES.get(fmt.strip().lower())
    if chosen is None:
        raise ValidationFailed(f"unknown import format {fmt!r}: use json, jsonl or csv")
    return chosen


def _read_sample(path: Path) -> tuple[str, str]:
    """Return (encoding, first characters); raise ValidationFailed if unreadable or empty."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
            at_end = handle.read(1) == b""
    except OSError as exc:
        raise _cannot_read(path, exc) from exc
    encoding = _encoding_of(head)
    try:
        sample = codecs.getincrementaldecoder(encoding)().decode(head, final=at_end)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_not_text(path, encoding, exc)) from exc
    if at_end and not sample.strip():
        raise ValidationFailed(f"{path.name} is empty: no records to import")
    return encoding, sample


def _encoding_of(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"


def _cannot_read(path: Path, exc: OSError) -> ValidationFailed:
    return ValidationFailed(f"cannot read {path}: {exc.strerror or exc}")


def _not_text(
    path: Path, encoding: str, exc: UnicodeDecodeError, after_line: int | None = None
) -> str:
    name = "UTF-16" if encoding == "utf-16" else "UTF-8"
    message = (
        f"{path.name} is not valid {name} text (bad byte at offset {exc.start}); save it as UTF-8"
    )
    return message if after_line is None else f"{message} (after line {after_line})"


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_not_text(path, encoding, exc)) from exc
    except OSError as exc:
        raise _cannot_read(path, exc) from exc


def _open_text(path: Path, encoding: str, newline: str | None = None) -> TextIO:
    try:
        return path.open("r", encoding=encoding, newline=newline)
    except OSError as exc:
        raise _cannot_read(path, exc) from exc


# --------------------------------------------------------------------------- JSON Lines


def _read_jsonl_file(path: Path, encoding: str) -> Iterator[ImportRecord]:
    with _open_text(path, encoding) as handle:
        yield from _jsonl_records(path, encoding, handle)


def _jsonl_records(path: Path, encoding: str, lines: Iterable[str]) -> Iterator[ImportRecord]:
    number = 0
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator, None)
        except UnicodeDecodeError as exc:
            raise ValidationFailed(_not_text(path, encoding, exc, after_line=number)) from exc
        if line is None:
            return
        number += 1
        if line.strip():
            yield _jsonl_record(path.name, number, line)


def _jsonl_record(name: str, number: int, line: str) -> ImportRecord:
    source = f"{name}:{number}"
    try:
        raw = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON: {exc.msg} (column {exc.colno})"
        return ImportRecord(source, None, f"line {number}: {problem}")
    return to_record(source, f"line {number}", raw)


# --------------------------------------------------------------------------- JSON documents


def _read_json(path: Path, text: str) -> Iterator[ImportRecord]:
    """Check the whole document first (so a broken file imports nothing), then walk it."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # documents one after another (mongoexport without an array)
            return _concatenated_records(path.name, text)
        problem = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise ValidationFailed(f"{path.name} is not valid JSON: {problem}") from exc
    start = _array_start(text, document)
    if start is not None:
        return _array_records(path.name, text, start)
    if not isinstance(document, dict):
        kind = json_kind(document)
        raise ValidationFailed(f"{path.name}: expected a JSON array of postings, got {kind}")
    return iter([to_record(f"{path.name}:1", "line 1", document)])


def _concatenated_records(name: str, text: str) -> Iterator[ImportRecord]:
    """Documents written one after another; after a broken one, resume at the next line
    that starts with `{`."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    line, counted = 1, 0
    while pos < len(text):
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            raw, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            yield ImportRecord(f"{name}:{line}", None, f"line {line}: {problem}")
            found = text.find("\n{", pos)
            pos = len(text) if found < 0 else found + 1
            continue
        yield to_record(f"{name}:{line}", f"line {line}", raw)
        pos = _skip_ws(text, pos)


def _array_start(text: str, document: object) -> int | None:
    """Offset of the array of postings: the document itself or a wrapper's `jobs` member."""
    if isinstance(document, list):
        return _skip_ws(text, 0)
    if not isinstance(document, dict):
        return None
    key = next((k for k in _WRAPPER_KEYS if isinstance(document.get(k), list)), None)
    return None if key is None else _member_offset(text, key)


def _skip_ws(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return pos if match is None else match.end()


def _past_comma(text: str, pos: int) -> int:
    """Skip whitespace after a value, and the comma and whitespace that may follow it."""
    pos = _skip_ws(text, pos)
    return _skip_ws(text, pos + 1) if text[pos] == "," else pos


def _member_offset(text: str, key: str) -> int | None:
    """Offset of the value of the top-level member `key` (the last one, as json.loads does)."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, _skip_ws(text, 0) + 1)
    found: int | None = None
    while pos < len(text) and text[pos] != "}":
        name, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past the colon
        if name == key:
            found = pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _past_comma(text, pos)
    return found


def _array_records(name: str, text: str, start: int) -> Iterator[ImportRecord]:
    """Walk the (already validated) array at `start`, item by item, counting lines as it goes."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, start + 1)
    line, counted = 1, 0
    item = 0
    while text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        item += 1
        raw, pos = decoder.raw_decode(text, pos)
        where = f"line {line} (item {item})"
        yield to_record(f"{name}:{line} (item {item})", where, raw)
        pos = _past_comma(text, pos)


# --------------------------------------------------------------------------- CSV


def _read_csv(path: Path, encoding: str, sample: str) -> Iterator[ImportRecord]:
    _raise_csv_field_limit()
    delimiter = _guess_delimiter(sample)
    with _open_text(path, encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = _csv_header(path, encoding, reader)
        yield from _csv_rows(path, encoding, reader, header)


def _raise_csv_field_limit() -> None:
    limit = min(sys.maxsize, 2**31 - 1)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _guess_delimiter(sample: str) -> str:
    header = sample.lstrip("\ufeff").split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_header(path: Path, encoding: str, reader: CsvReader) -> list[str]:
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_not_text(path, encoding, exc)) from exc
    except csv.Error as exc:
        raise ValidationFailed(f"{path.name}: unreadable CSV header: {exc}") from exc
    if header is None or not any(cell.strip() for cell in header):
        raise ValidationFailed(f"{path.name}: the first line must be a header naming the columns")
    return [cell.strip().lstrip("\ufeff") for cell in header]


def _csv_rows(
    path: Path, encoding: str, reader: CsvReader, header: list[str]
) -> Iterator[ImportRecord]:
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader, None)
        except UnicodeDecodeError as exc:
            raise ValidationFailed(_not_text(path, encoding, exc, after_line=start - 1)) from exc
        except csv.Error as exc:
            yield ImportRecord(f"{path.name}:{start}", None, f"line {start}: unreadable CSV: {exc}")
            if reader.line_num + 1 == start:
                return  # nothing was consumed: stop rather than loop
            start = reader.line_num + 1
            continue
        if row is None:
            return
        line, start = start, reader.line_num + 1
        if any(cell.strip() for cell in row):
            yield _csv_record(f"{path.name}:{line}", line, header, row)


def _csv_record(source: str, line: int, header: list[str], row: list[str]) -> ImportRecord:
    extra = [cell for cell in row[len(header) :] if cell.strip()]
    if extra:
        problem = (
            f"line {line}: the row has {len(row)} fields but the header has {len(header)} "
            "(a value with a comma or a quote that is not quoted?)"
        )
        return ImportRecord(source, None, problem)
    raw = {name: value for name, value in zip(header, row, strict=False) if name}
    return to_record(source, f"line {line}", raw)
