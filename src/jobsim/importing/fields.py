"""Map a parsed record to the canonical posting fields: names, ids, dates, lists, location, salary.

Input comes in many shapes (camelCase, snake_case, flat CSV columns, MongoDB Extended JSON); the
posting model validates the result afterwards, so most values in a shape not understood here are
passed on for the validator to reject.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Final

from jobsim.postings.places import is_remote_place

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

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


def _canonical_name(key: object) -> str | None:
    return _ALIASES.get(_squash(key))


def _collect(raw: Mapping[str, object]) -> dict[str, object]:
    """First present value for each canonical name, with Extended JSON unwrapped."""
    found: dict[str, object] = {}
    for key, value in raw.items():
        name = _canonical_name(key)
        if name is None or name in found:
            continue
        unwrapped = _unwrap(value)
        if _present(unwrapped):
            found[name] = unwrapped
    return found


def _first_present_parts(
    value: Mapping[object, object],
    part_of: Callable[[object], str | None],
    known: Collection[str],
) -> dict[str, object]:
    """The first present value of each known part of an object (`part_of` names a key's part)."""
    parts: dict[str, object] = {}
    for key, item in value.items():
        part = part_of(key)
        if part is not None and part in known and part not in parts and _present(item):
            parts[part] = item
    return parts


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
    return _first_present_parts(value, _canonical_name, _LOCATION_PARTS)


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
    return _first_present_parts(value, _salary_part, _SALARY_PARTS)


def _salary_part(key: object) -> str:
    return _squash(key).removeprefix("salary")


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
