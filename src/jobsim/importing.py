"""Parse posting files for `jobsim import`: JSON, JSON Lines, CSV and MongoDB `mongoexport` output.

Parsing only: every record comes out under the canonical field names (see `normalize_record`) and
the posting model validates it afterwards. A bad record becomes an `ImportRecord` with an error
that names its line and what is wrong, and reading goes on; a file that cannot be read at all
raises `ValidationFailed`.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TextIO

from jobsim.errors import ValidationFailed
from jobsim.jobs import is_remote_place

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

Format = Literal["json", "jsonl", "csv"]

_SAMPLE_BYTES: Final = 64 * 1024
_FORMAT_NAMES: Final[dict[str, Format]] = dict(
    json="json", jsonl="jsonl", ndjson="jsonl", csv="csv", tsv="csv"
)
_WRAPPER_KEYS: Final = ("jobs", "postings", "items", "data")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class ImportRecord:
    """One record of an import file: its normalised data, or why it could not be read."""

    source: str
    data: dict[str, object] | None
    error: str | None


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
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
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


def _not_text(path: Path, encoding: str, exc: UnicodeDecodeError) -> str:
    name = "UTF-16" if encoding == "utf-16" else "UTF-8"
    return (
        f"{path.name} is not valid {name} text (bad byte at offset {exc.start}); save it as UTF-8"
    )


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_not_text(path, encoding, exc)) from exc
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}") from exc


def _open_text(path: Path, encoding: str, newline: str | None = None) -> TextIO:
    try:
        return path.open("r", encoding=encoding, newline=newline)
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}") from exc


def _record(source: str, where: str, raw: object) -> ImportRecord:
    """Normalise one parsed value into a record, or an error record that says what is wrong."""
    if not isinstance(raw, Mapping):
        kind = _json_kind(raw)
        return ImportRecord(source, None, f"{where}: expected a JSON object, got {kind}")
    try:
        return ImportRecord(source, normalize_record(raw), None)
    except (ValueError, TypeError, RecursionError) as exc:
        return ImportRecord(source, None, f"{where}: {exc}")


def _json_kind(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
    }
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "null")


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
            message = _not_text(path, encoding, exc)
            raise ValidationFailed(f"{message} (after line {number})") from exc
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
    return _record(source, f"line {number}", raw)


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
        kind = _json_kind(document)
        raise ValidationFailed(f"{path.name}: expected a JSON array of postings, got {kind}")
    return iter([_record(f"{path.name}:1", "line 1", document)])


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
        yield _record(f"{name}:{line}", f"line {line}", raw)
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
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
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
        yield _record(f"{name}:{line} (item {item})", where, raw)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)


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
            message = _not_text(path, encoding, exc)
            raise ValidationFailed(f"{message} (after line {start - 1})") from exc
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
    return _record(source, f"line {line}", raw)


# --------------------------------------------------------------------------- normalisation

# Canonical name -> its accepted spellings, compared lower-cased without `_`, `-`, `.` or spaces
# (so `experienceLevel`, `experience_level`, `Experience Level` and `location.city` all match).
_SPELLINGS: Final[dict[str, str]] = {
    "id": "id jobid",
    "title": "title jobtitle",
    "description": "description jobdescription",
    "company": "company companyname employer",
    "category": "category",
    "tags": "tags skills",
    "requirements": "requirements",
    "location": "location",
    "city": "city locationcity",
    "region": "region locationregion",
    "remote": "remote isremote locationremote",
    "hybrid": "hybrid ishybrid locationhybrid",
    "experience_level": "experiencelevel level seniority",
    "salary": "salary",
    "salary_min": "salarymin minsalary",
    "salary_max": "salarymax maxsalary",
    "salary_currency": "salarycurrency currency",
    "status": "status",
    "expires_at": "expiresat expires expirydate expirationdate",
    "language": "language lang",
    "is_deleted": "isdeleted deleted",
}
_ALIASES: Final = {
    alias: name for name, spellings in _SPELLINGS.items() for alias in spellings.split()
}
_LOCATION_PARTS: Final = ("city", "region", "remote", "hybrid")
_SALARY_PARTS: Final = {"min": "salary_min", "max": "salary_max", "currency": "salary_currency"}
_SEPARATORS: Final = re.compile(r"[\s_.\-]")
_TRUE: Final = frozenset({"true", "yes", "y", "1", "t", "on"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f", "off"})
_OBJECT_ID: Final = re.compile(r'ObjectId\(\s*["\']?([0-9a-fA-F]{24})["\']?\s*\)')


def normalize_record(raw: Mapping[str, object]) -> dict[str, object]:
    """Map any accepted input shape (camelCase, snake_case, flat CSV, Extended JSON) to the
    canonical posting fields; unknown keys are dropped and absent fields stay absent."""
    found = _collect(raw)
    out: dict[str, object] = {}
    for name, convert in _CONVERTERS.items():
        if name in found:
            out[name] = convert(found[name])
    location = _location(found)
    if location is not None:
        out["location"] = location
    salary = _salary(found)
    if salary is not None:
        out["salary"] = salary
    return {name: out[name] for name in _ORDER if name in out}


def _squash(key: object) -> str:
    return _SEPARATORS.sub("", str(key)).lower()


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _collect(raw: Mapping[str, object]) -> dict[str, object]:
    """First present value for each canonical name, with Extended JSON unwrapped."""
    found: dict[str, object] = {}
    for key, value in raw.items():
        name = _ALIASES.get(_squash(key))
        if name is None or name in found:
            continue
        unwrapped = _unwrap(value)
        if _present(unwrapped):
            found[name] = unwrapped
    return found


# Extended JSON ----------------------------------------------------------------------------------


def _unwrap(value: object) -> object:
    """Replace Extended JSON wrappers ($oid, $date, $numberInt, ...) by plain values, anywhere."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            convert = _WRAPPERS.get(key) if isinstance(key, str) else None
            converted = None if convert is None else convert(inner)
            if converted is not None:
                return converted
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def _from_oid(inner: object) -> object:
    return inner if isinstance(inner, str) else None


def _from_date(inner: object) -> object:
    inner = _unwrap(inner)
    if isinstance(inner, str):
        return _parse_datetime(inner) or inner
    if isinstance(inner, int | float) and not isinstance(inner, bool):
        try:
            return _EPOCH + timedelta(milliseconds=inner)
        except (OverflowError, ValueError):
            return None
    return None


def _from_int(inner: object) -> object:
    try:
        return int(inner) if isinstance(inner, str | int) else None
    except ValueError:
        return None


def _from_double(inner: object) -> object:
    try:
        return float(inner) if isinstance(inner, str | int | float) else None
    except ValueError:
        return None


def _from_decimal(inner: object) -> object:
    whole = isinstance(inner, str) and re.fullmatch(r"\s*-?\d+\s*", inner) is not None
    return _from_int(inner) if whole else _from_double(inner)


_WRAPPERS: Final[dict[str, Callable[[object], object]]] = {
    "$oid": _from_oid,
    "$date": _from_date,
    "$numberInt": _from_int,
    "$numberLong": _from_int,
    "$numberDouble": _from_double,
    "$numberDecimal": _from_decimal,
}


# Simple fields ----------------------------------------------------------------------------------


def _text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _lower_text(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _id(value: object) -> object:
    if isinstance(value, str):
        match = _OBJECT_ID.fullmatch(value.strip())
        return match.group(1) if match else value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _company(value: object) -> object:
    if isinstance(value, dict) and _present(value.get("name")):
        return _text(value["name"])
    return _text(value)


def _bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    return value


def _datetime(value: object) -> object:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse_datetime(value) or value.strip()
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_datetime(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


def _tags(value: object) -> object:
    return _string_list(value, allow_commas=True)


def _requirements(value: object) -> object:
    return _string_list(value, allow_commas=False)


def _string_list(value: object, *, allow_commas: bool) -> object:
    """A list stays a list (strings trimmed, empty ones dropped); a string is split."""
    if isinstance(value, str):
        value = _json_list(value) or _split(value, allow_commas=allow_commas)
    if not isinstance(value, list):
        return value
    items = [item.strip() if isinstance(item, str) else item for item in value]
    return [item for item in items if _present(item)]


def _json_embedded(text: str, opener: str) -> object | None:
    """A JSON array or object written inside a text cell, unwrapped; None when it is not one."""
    if not text.lstrip().startswith(opener):
        return None
    try:
        return _unwrap(json.loads(text))
    except ValueError:
        return None


def _json_list(text: str) -> list[object] | None:
    value = _json_embedded(text, "[")
    return value if isinstance(value, list) else None


def _split(text: str, *, allow_commas: bool) -> list[object]:
    separators = ("|", ";", "\n", ",") if allow_commas else ("|", ";", "\n")
    separator = next((s for s in separators if s in text), None)
    return list(text.split(separator) if separator else [text])


_CONVERTERS: Final[dict[str, Callable[[object], object]]] = {
    "id": _id,
    "title": _text,
    "description": _text,
    "company": _company,
    "category": _text,
    "tags": _tags,
    "requirements": _requirements,
    "experience_level": _lower_text,
    "status": _lower_text,
    "expires_at": _datetime,
    "language": _lower_text,
    "is_deleted": _bool,
}
_NESTED: Final = {*_LOCATION_PARTS, *_SALARY_PARTS.values()}
_ORDER: Final = tuple(name for name in _SPELLINGS if name not in _NESTED)


# Location ---------------------------------------------------------------------------------------


def _location(found: Mapping[str, object]) -> object | None:
    """The `location` value (object, JSON string or "City, Region") merged with flat columns."""
    base = found.get("location")
    parts = _location_parts(base) if base is not None else {}
    if parts is None:
        return base  # not a shape we understand: let the validator say so
    for name in _LOCATION_PARTS:
        if name in found:
            parts[name] = found[name]
    cleaned = {
        name: _location_value(name, parts[name]) for name in _LOCATION_PARTS if name in parts
    }
    return {name: value for name, value in cleaned.items() if _present(value)} or None


def _location_parts(value: object) -> dict[str, object] | None:
    if isinstance(value, str):
        value = _json_object(value) or _location_from_text(value)
    if not isinstance(value, dict):
        return None
    parts: dict[str, object] = {}
    for key, item in value.items():
        name = _ALIASES.get(_squash(key))
        if name in _LOCATION_PARTS and name not in parts and _present(item):
            parts[name] = item
    return parts


def _location_from_text(text: str) -> dict[str, object]:
    if is_remote_place(text):
        return {"remote": True}
    city, _, region = text.partition(",")
    return {"city": city.strip(), "region": region.strip()}


def _location_value(name: str, value: object) -> object:
    return _bool(value) if name in ("remote", "hybrid") else _text(value)


def _json_object(text: str) -> dict[str, object] | None:
    value = _json_embedded(text, "{")
    return value if isinstance(value, dict) else None


# Salary -----------------------------------------------------------------------------------------

_NUMBER: Final = r"\d[\d.,']*"
_CURRENCY: Final = r"[A-Za-z]{3}|zł|€|\$|£"
_SALARY_TEXT: Final = re.compile(
    rf"(?P<c1>{_CURRENCY})? ?(?P<min>{_NUMBER}) ?(?P<c2>{_CURRENCY})?"
    rf"(?: ?(?:-|–|—|to) ?(?P<c3>{_CURRENCY})? ?(?P<max>{_NUMBER}) ?(?P<c4>{_CURRENCY})?)?",
    re.IGNORECASE,
)
_SYMBOLS: Final[dict[str, str]] = {"€": "EUR", "$": "USD", "£": "GBP", "ZŁ": "PLN"}
_THOUSANDS_SPACE: Final = re.compile(r"\d{1,3}(?:[ ']\d{3})+(?:[.,]\d+)?")
_THOUSANDS_COMMA: Final = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_THOUSANDS_DOT: Final = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_DECIMAL_COMMA: Final = re.compile(r"\d+,\d{1,2}")


def _salary(found: Mapping[str, object]) -> object | None:
    """The `salary` value (object, number, "min-max CUR") merged with flat salary_* columns."""
    base = found.get("salary")
    parts = _salary_parts(base) if base is not None else {}
    if parts is None and not isinstance(base, str):
        return base  # not a shape we understand: let the validator say so
    parts = parts or {}  # text that is not clear is dropped
    for part, name in _SALARY_PARTS.items():
        if name in found:
            parts[part] = found[name]
    cleaned = {part: _salary_value(part, parts[part]) for part in _SALARY_PARTS if part in parts}
    return {part: value for part, value in cleaned.items() if _present(value)} or None


def _salary_parts(value: object) -> dict[str, object] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return {"min": value, "max": value}
    if isinstance(value, str):
        value = _json_object(value) or _salary_from_text(value)
    if not isinstance(value, dict):
        return None
    parts: dict[str, object] = {}
    for key, item in value.items():
        part = _squash(key).removeprefix("salary")
        if part in _SALARY_PARTS and part not in parts and _present(item):
            parts[part] = item
    return parts


def _salary_from_text(text: str) -> dict[str, object] | None:
    """Parse "5000", "4000-6000 EUR", "€4,000 to €6,000"; None when it is not clear."""
    compact = " ".join(text.split())  # one space between words, none around
    compact = re.sub(r"(?<=\d) (?=\d{3}\b)", "", compact)  # "10 000" -> "10000"
    match = _SALARY_TEXT.fullmatch(compact) if len(compact) <= 80 else None
    if match is None:
        return None
    low = _parse_number(match["min"])
    high = _parse_number(match["max"]) if match["max"] else low
    codes = {_currency(c) for c in match.group("c1", "c2", "c3", "c4") if c}
    if low is None or high is None or len(codes) > 1:
        return None
    parts: dict[str, object] = {"min": low, "max": high}
    if codes:
        parts["currency"] = codes.pop()
    return parts


def _currency(text: str) -> str:
    code = text.strip().upper()
    return _SYMBOLS.get(code, code)


def _salary_value(part: str, value: object) -> object:
    if part == "currency":
        return _currency(value) if isinstance(value, str) else value
    if isinstance(value, str):
        number = _parse_number(value)
        return value.strip() if number is None else number
    return value


def _parse_number(text: str) -> int | float | None:
    """A number written by a person: "5000", "5 000", "5'000", "5,000", "5.000,50", "12,5"."""
    compact = " ".join(text.split())
    if _THOUSANDS_SPACE.fullmatch(compact):
        compact = re.sub(r"[ ']", "", compact)
    if _THOUSANDS_COMMA.fullmatch(compact):
        compact = compact.replace(",", "")
    elif _THOUSANDS_DOT.fullmatch(compact):
        compact = compact.replace(".", "").replace(",", ".")
    elif _DECIMAL_COMMA.fullmatch(compact):
        compact = compact.replace(",", ".")
    try:
        return int(compact)
    except ValueError:
        pass
    try:
        number = float(compact)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
