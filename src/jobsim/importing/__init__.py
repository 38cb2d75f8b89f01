"""Parse posting files for `jobsim import`: JSON, JSON Lines, CSV and MongoDB `mongoexport` output.

Parsing only: every record comes out under the canonical field names (see `normalize_record`) and
the posting model validates it afterwards. A bad record becomes an `ImportRecord` with an error
that names its line and what is wrong, and reading goes on; a file that cannot be read at all
raises `ValidationFailed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobsim import queue
from jobsim.importing.fields import normalize_record
from jobsim.importing.formats import detect_format, read_records
from jobsim.importing.records import ImportRecord
from jobsim.postings.store import BulkReport, ListingStore

__all__ = ["ImportRecord", "detect_format", "import_file", "normalize_record", "read_records"]


def import_file(
    store: ListingStore[Any], path: Path, fmt: str | None = None, *, as_read: bool = False
) -> BulkReport:
    """Read a file and upsert its listings; imports queue behind live writes (backfill).

    Records are normalised to the job posting fields, unless `as_read`: then the store's own
    schema reads them as they are (a listing type with other fields, e.g. businesses)."""
    records = (
        (r.source, r.raw, r.error if r.raw is None else None)
        if as_read
        else (r.source, r.data, r.error)
        for r in read_records(path, fmt)
    )
    return store.bulk_upsert(records, priority=queue.PRIORITY_BACKFILL)
