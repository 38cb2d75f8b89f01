"""One record of an import file, and how a parsed JSON value becomes one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobsim.importing.fields import normalize_record


@dataclass(frozen=True)
class ImportRecord:
    """One record of an import file: its data normalised to the job posting fields, or why it
    could not be read; `raw` keeps the record as read, for listing types with other fields."""

    source: str
    data: dict[str, object] | None
    error: str | None
    raw: dict[str, object] | None = None


def to_record(source: str, where: str, raw: object) -> ImportRecord:
    """Normalise one parsed value into a record, or an error record that says what is wrong."""
    if not isinstance(raw, Mapping):
        kind = json_kind(raw)
        return ImportRecord(source, None, f"{where}: expected a JSON object, got {kind}")
    as_read = {str(key): value for key, value in raw.items()}
    try:
        return ImportRecord(source, normalize_record(raw), None, as_read)
    except (ValueError, TypeError, RecursionError) as exc:
        return ImportRecord(source, None, f"{where}: {exc}", as_read)


def json_kind(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
    }
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "null")
