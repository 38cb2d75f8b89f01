"""One record of an import file, and how a parsed JSON value becomes one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobsim.importing.fields import normalize_record


@dataclass(frozen=True)
class ImportRecord:
    """One record of an import file: its normalised data, or why it could not be read."""

    source: str
    data: dict[str, object] | None
    error: str | None


def to_record(source: str, where: str, raw: object) -> ImportRecord:
    """Normalise one parsed value into a record, or an error record that says what is wrong."""
    if not isinstance(raw, Mapping):
        kind = json_kind(raw)
        return ImportRecord(source, None, f"{where}: expected a JSON object, got {kind}")
    try:
        return ImportRecord(source, normalize_record(raw), None)
    except (ValueError, TypeError, RecursionError) as exc:
        return ImportRecord(source, None, f"{where}: {exc}")


def json_kind(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
    }
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "null")
